/* memory on the mutex + condvar pool: N tasks that block on a gate are
   submitted, so all are live and unfinished at once (the workers hold one
   each, the rest are queued); max RSS before and after, then the gate opens.
   The handle array is the caller's and is touched before the first reading. */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
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
    mcpool *p = mcpool_create(0);
    mcpool_task **h = (mcpool_task **)malloc(n * sizeof *h);
    uint64_t t0, t1;
    long before, after;
    int ok;
    if (!p || !h) return 2;
    memset(h, 0, n * sizeof *h);
    before = wl_max_rss_kb();
    t0 = now_ns();
    for (i = 0; i < n; i++) h[i] = mcpool_submit(p, gated_task, NULL);
    t1 = now_ns();
    after = wl_max_rss_kb();
    wl_gate_open(&gate);
    for (i = 0; i < n; i++) {
        mcpool_wait(p, h[i]);
        mcpool_release(h[i]);
    }
    ok = wl_memory_finish(IMPL_NAME, mcpool_threads(p), wl_seconds(t0, t1), n, before, after, wl_load(&ran));
    mcpool_destroy(p);
    free(h);
    return wl_exit_code(ok);
}
