/* empty on C-Thread-Pool: one outside thread adds N empty jobs, then
   thpool_wait waits until the queue is empty and every worker idle. */
#include "../../common/workload.h"
#include <thpool.h>

#ifndef IMPL_NAME
#define IMPL_NAME "cthreadpool"
#endif

static uint64_t ran;

static void empty_task(void *arg)
{
    (void)arg;
    wl_count(&ran, 1);
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_empty_n(&a), i;
    int threads = wl_cpu_count(), ok;
    threadpool p = thpool_init(threads);
    uint64_t t0, t1;
    if (!p) return 2;
    t0 = now_ns();
    for (i = 0; i < n; i++) thpool_add_work(p, empty_task, NULL);
    thpool_wait(p);
    t1 = now_ns();
    ok = wl_empty_finish(EMPTY_BENCH, IMPL_NAME, threads, wl_seconds(t0, t1), n, wl_load(&ran), n);
    thpool_destroy(p);
    return wl_exit_code(ok);
}
