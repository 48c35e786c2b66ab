/* empty, serial: N calls of an empty function (not inlined), in a loop. */
#include "../../common/workload.h"

#ifndef IMPL_NAME
#define IMPL_NAME "serial"
#endif

static uint64_t ran;

__attribute__((noinline)) static void empty_task(void *arg)
{
    (void)arg;
    wl_count(&ran, 1);
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_empty_n(&a), i;
    void (*volatile fn)(void *) = empty_task;
    uint64_t t0 = now_ns(), t1;
    int ok;
    for (i = 0; i < n; i++) fn(NULL);
    t1 = now_ns();
    ok = wl_empty_finish(EMPTY_BENCH, IMPL_NAME, 1, wl_seconds(t0, t1), n, wl_load(&ran), n);
    return wl_exit_code(ok);
}
