// burst on oneTBB: 8 medium tasks released at once, then a sustained window
// of random mixed bursts, each a task_group waited before the next.
#include "../../common/workload.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

static wl_wave_rec burst[BURST_TASKS];

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int threads = tbb::this_task_arena::max_concurrency();
    wl_recs win = { NULL, 0, 0 };
    uint64_t t0 = now_ns();
    {
        tbb::task_group g;
        for (uint64_t i = 0; i < BURST_TASKS; i++) g.run([i] { wl_burst_run(&burst[i], i); });
        g.wait();
    }
    uint64_t t1 = now_ns();

    uint64_t w0 = now_ns();
    for (uint64_t b = 0; wl_seconds(w0, now_ns()) < a.window_s; b++) {
        unsigned n = wl_window_burst_size(b);
        wl_wave_rec *r = wl_recs_grow(&win, n);
        if (!r) return 2;
        uint64_t g0 = (uint64_t)(r - win.r);
        tbb::task_group g;
        for (unsigned i = 0; i < n; i++) {
            wl_wave_rec *ri = &r[i];
            uint64_t gi = g0 + i;
            ri->submit_ns = now_ns();
            g.run([ri, gi] { wl_waves_run_token(ri, gi); });
        }
        g.wait();
    }
    uint64_t w1 = now_ns();
    int ok = wl_burst_finish(IMPL_NAME, threads, burst, wl_seconds(t0, t1), wl_burst_check(burst), &win,
                             wl_seconds(w0, w1));
    free(win.r);
    return wl_exit_code(ok);
}
