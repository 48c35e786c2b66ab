/* burst on OpenMP tasks: 8 medium tasks released at once, then a sustained
   window of random mixed bursts; one thread (single) creates the tasks and
   taskwaits after each burst. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

static wl_wave_rec burst[BURST_TASKS];

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int threads = omp_get_max_threads(), ok;
    wl_recs win = { NULL, 0, 0 };
    uint64_t t0 = 0, t1 = 0, w0 = 0, w1 = 0;
    int oom = 0;
#pragma omp parallel
#pragma omp single
    {
        uint64_t i, b;
        t0 = now_ns();
        for (i = 0; i < BURST_TASKS; i++) {
#pragma omp task firstprivate(i)
            wl_burst_run(&burst[i], i);
        }
#pragma omp taskwait
        t1 = now_ns();

        w0 = now_ns();
        for (b = 0; wl_seconds(w0, now_ns()) < a.window_s; b++) {
            unsigned n = wl_window_burst_size(b);
            wl_wave_rec *r = wl_recs_grow(&win, n);
            uint64_t g0;
            if (!r) {
                oom = 1;
                break;
            }
            g0 = (uint64_t)(r - win.r);
            for (i = 0; i < n; i++) {
                wl_wave_rec *ri = &r[i];
                uint64_t g = g0 + i;
                ri->submit_ns = now_ns();
#pragma omp task firstprivate(ri, g)
                wl_waves_run_token(ri, g);
            }
#pragma omp taskwait
        }
        w1 = now_ns();
    }
    if (oom) return 2;
    ok = wl_burst_finish(IMPL_NAME, threads, burst, wl_seconds(t0, t1), wl_burst_check(burst), &win,
                         wl_seconds(w0, w1));
    free(win.r);
    return wl_exit_code(ok);
}
