/* burst on the mutex + condvar pool: 8 medium tasks released at once, then a
   sustained window of random mixed bursts, each waited before the next. */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
#endif

static wl_wave_rec burst[BURST_TASKS];
static wl_recs win;

static void burst_task(void *arg)
{
    wl_wave_rec *r = (wl_wave_rec *)arg;
    wl_burst_run(r, (uint64_t)(r - burst));
}

static void window_task(void *arg)
{
    wl_wave_rec *r = (wl_wave_rec *)arg;
    wl_waves_run_token(r, (uint64_t)(r - win.r));
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    mcpool *p = mcpool_create(0);
    mcpool_task *h[64];
    uint64_t t0, t1, w0, w1, b, i;
    int ok;
    if (!p) return 2;
    t0 = now_ns();
    for (i = 0; i < BURST_TASKS; i++) h[i] = mcpool_submit(p, burst_task, &burst[i]);
    for (i = 0; i < BURST_TASKS; i++) mcpool_wait(p, h[i]);
    t1 = now_ns();
    for (i = 0; i < BURST_TASKS; i++) mcpool_release(h[i]);

    w0 = now_ns();
    for (b = 0; wl_seconds(w0, now_ns()) < a.window_s; b++) {
        unsigned n = wl_window_burst_size(b);
        wl_wave_rec *r = wl_recs_grow(&win, n);
        if (!r) return 2;
        for (i = 0; i < n; i++) {
            r[i].submit_ns = now_ns();
            h[i] = mcpool_submit(p, window_task, &r[i]);
        }
        for (i = 0; i < n; i++) {
            mcpool_wait(p, h[i]);
            mcpool_release(h[i]);
        }
    }
    w1 = now_ns();
    ok = wl_burst_finish(IMPL_NAME, mcpool_threads(p), burst, wl_seconds(t0, t1), wl_burst_check(burst),
                         &win, wl_seconds(w0, w1));
    mcpool_destroy(p);
    return wl_exit_code(ok);
}
