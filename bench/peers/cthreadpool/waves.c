/* waves on C-Thread-Pool: 15 doubling waves of the four mixed task kinds;
   each wave added by the main thread, then thpool_wait. */
#include "../../common/workload.h"
#include <thpool.h>

#ifndef IMPL_NAME
#define IMPL_NAME "cthreadpool"
#endif

static wl_wave_rec *recs;

static void wave_task(void *arg)
{
    wl_wave_rec *r = (wl_wave_rec *)arg;
    wl_waves_run_token(r, (uint64_t)(r - recs));
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int waves = wl_waves_count(&a), threads = wl_cpu_count(), k, ok;
    uint64_t total = wl_waves_total(waves), fails = 0, i;
    double seconds = 0.0;
    threadpool p = thpool_init(threads);
    recs = (wl_wave_rec *)calloc(total, sizeof *recs);
    if (!p || !recs) return 2;
    for (k = 0; k < waves; k++) {
        uint64_t n = wl_wave_size(k), g0 = wl_wave_first(k), t0, t1;
        t0 = now_ns();
        for (i = 0; i < n; i++) {
            recs[g0 + i].submit_ns = now_ns();
            thpool_add_work(p, wave_task, &recs[g0 + i]);
        }
        thpool_wait(p);
        t1 = now_ns();
        seconds += wl_seconds(t0, t1);
        fails += wl_waves_report(IMPL_NAME, k, recs + g0, t0, t1);
    }
    ok = wl_waves_finish(IMPL_NAME, threads, recs, total, seconds, fails);
    thpool_destroy(p);
    return wl_exit_code(ok);
}
