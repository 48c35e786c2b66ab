/* memory on C-Thread-Pool: N jobs that block on a gate are added, so all are
   live and unfinished at once (the workers hold one each, the rest are
   queued); max RSS before and after, then the gate opens and thpool_wait. */
#include "../../common/workload.h"
#include <thpool.h>

#ifndef IMPL_NAME
#define IMPL_NAME "cthreadpool"
#endif

static int gate;
static uint64_t ran;

static void gated_task(void *arg)
{
    (void)arg;
    wl_gate_wait(&gate);
    wl_count(&ran, 1);
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_memory_n(&a), i;
    int threads = wl_cpu_count(), ok;
    threadpool p = thpool_init(threads);
    uint64_t t0, t1;
    long before, after;
    if (!p) return 2;
    before = wl_max_rss_kb();
    t0 = now_ns();
    for (i = 0; i < n; i++) thpool_add_work(p, gated_task, NULL);
    t1 = now_ns();
    after = wl_max_rss_kb();
    wl_gate_open(&gate);
    thpool_wait(p);
    ok = wl_memory_finish(IMPL_NAME, threads, wl_seconds(t0, t1), n, before, after, wl_load(&ran));
    thpool_destroy(p);
    return wl_exit_code(ok);
}
