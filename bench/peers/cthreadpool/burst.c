/* burst on C-Thread-Pool: 8 medium jobs released at once, then a sustained
   window of random mixed bursts, thpool_wait after each. */
#include "../../common/workload.h"
#include <thpool.h>

#ifndef IMPL_NAME
#define IMPL_NAME "cthreadpool"
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
    int threads = wl_cpu_count(), ok;
    threadpool p = thpool_init(threads);
    uint64_t t0, t1, w0, w1, b, i;
    if (!p) return 2;
    t0 = now_ns();
    for (i = 0; i < BURST_TASKS; i++) thpool_add_work(p, burst_task, &burst[i]);
    thpool_wait(p);
    t1 = now_ns();

    w0 = now_ns();
    for (b = 0; wl_seconds(w0, now_ns()) < a.window_s; b++) {
        unsigned n = wl_window_burst_size(b);
        wl_wave_rec *r = wl_recs_grow(&win, n);
        if (!r) return 2;
        for (i = 0; i < n; i++) {
            r[i].submit_ns = now_ns();
            thpool_add_work(p, window_task, &r[i]);
        }
        thpool_wait(p);
    }
    w1 = now_ns();
    ok = wl_burst_finish(IMPL_NAME, threads, burst, wl_seconds(t0, t1), wl_burst_check(burst), &win,
                         wl_seconds(w0, w1));
    thpool_destroy(p);
    return wl_exit_code(ok);
}
