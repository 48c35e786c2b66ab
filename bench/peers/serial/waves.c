/* waves, serial: every wave's tokens run one after another in a loop, with
   the same per-token records as the task versions. */
#include "../../common/workload.h"

#ifndef IMPL_NAME
#define IMPL_NAME "serial"
#endif

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int waves = wl_waves_count(&a), k, ok;
    uint64_t total = wl_waves_total(waves), fails = 0, i;
    double seconds = 0.0;
    wl_wave_rec *recs = (wl_wave_rec *)calloc(total, sizeof *recs);
    if (!recs) return 2;
    for (k = 0; k < waves; k++) {
        uint64_t n = wl_wave_size(k), g0 = wl_wave_first(k), t0, t1;
        t0 = now_ns();
        for (i = 0; i < n; i++) {
            recs[g0 + i].submit_ns = now_ns();
            wl_waves_run_token(&recs[g0 + i], g0 + i);
        }
        t1 = now_ns();
        seconds += wl_seconds(t0, t1);
        fails += wl_waves_report(IMPL_NAME, k, recs + g0, t0, t1);
    }
    ok = wl_waves_finish(IMPL_NAME, 1, recs, total, seconds, fails);
    free(recs);
    return wl_exit_code(ok);
}
