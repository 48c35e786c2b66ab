/* waves on the mutex + condvar pool: 15 doubling waves of the four mixed
   task kinds; each wave submitted by the main thread, then waited. */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
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
    int waves = wl_waves_count(&a), k, ok;
    uint64_t total = wl_waves_total(waves), fails = 0, i;
    double seconds = 0.0;
    mcpool *p = mcpool_create(0);
    mcpool_task **h = (mcpool_task **)malloc(wl_wave_size(waves - 1) * sizeof *h);
    recs = (wl_wave_rec *)calloc(total, sizeof *recs);
    if (!p || !h || !recs) return 2;
    for (k = 0; k < waves; k++) {
        uint64_t n = wl_wave_size(k), g0 = wl_wave_first(k), t0, t1;
        t0 = now_ns();
        for (i = 0; i < n; i++) {
            recs[g0 + i].submit_ns = now_ns();
            h[i] = mcpool_submit(p, wave_task, &recs[g0 + i]);
        }
        for (i = 0; i < n; i++) mcpool_wait(p, h[i]);
        t1 = now_ns();
        for (i = 0; i < n; i++) mcpool_release(h[i]);
        seconds += wl_seconds(t0, t1);
        fails += wl_waves_report(IMPL_NAME, k, recs + g0, t0, t1);
    }
    ok = wl_waves_finish(IMPL_NAME, mcpool_threads(p), recs, total, seconds, fails);
    mcpool_destroy(p);
    return wl_exit_code(ok);
}
