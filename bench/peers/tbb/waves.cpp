// waves on oneTBB: 15 doubling waves of the four mixed task kinds; each wave
// a task_group filled by the main thread, then waited.
#include "../../common/workload.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int waves = wl_waves_count(&a), threads = tbb::this_task_arena::max_concurrency();
    uint64_t total = wl_waves_total(waves), fails = 0;
    double seconds = 0.0;
    wl_wave_rec *recs = (wl_wave_rec *)calloc(total, sizeof *recs);
    if (!recs) return 2;
    for (int k = 0; k < waves; k++) {
        uint64_t n = wl_wave_size(k), g0 = wl_wave_first(k);
        tbb::task_group g;
        uint64_t t0 = now_ns();
        for (uint64_t i = 0; i < n; i++) {
            wl_wave_rec *r = &recs[g0 + i];
            uint64_t gi = g0 + i;
            r->submit_ns = now_ns();
            g.run([r, gi] { wl_waves_run_token(r, gi); });
        }
        g.wait();
        uint64_t t1 = now_ns();
        seconds += wl_seconds(t0, t1);
        fails += wl_waves_report(IMPL_NAME, k, recs + g0, t0, t1);
    }
    int ok = wl_waves_finish(IMPL_NAME, threads, recs, total, seconds, fails);
    free(recs);
    return wl_exit_code(ok);
}
