/* empty on the mutex + condvar pool: one outside thread submits N empty
   tasks keeping every handle, then waits for all. */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
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
    mcpool *p = mcpool_create(0);
    mcpool_task **h = (mcpool_task **)malloc(n * sizeof *h);
    uint64_t t0, t1;
    int ok;
    if (!p || !h) return 2;
    t0 = now_ns();
    for (i = 0; i < n; i++) h[i] = mcpool_submit(p, empty_task, NULL);
    for (i = 0; i < n; i++) mcpool_wait(p, h[i]);
    t1 = now_ns();
    for (i = 0; i < n; i++) mcpool_release(h[i]);
    ok = wl_empty_finish(EMPTY_BENCH, IMPL_NAME, mcpool_threads(p), wl_seconds(t0, t1), n, wl_load(&ran), n);
    mcpool_destroy(p);
    free(h);
    return wl_exit_code(ok);
}
