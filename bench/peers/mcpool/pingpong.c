/* pingpong on the mutex + condvar pool: the main thread submits one task and
   waits for it (sleeping on the condition variable), round after round. */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
#endif

static uint64_t ran, on_worker;
static pthread_t main_thread;

static void ping_task(void *arg)
{
    (void)arg;
    wl_count(&ran, 1);
    if (!pthread_equal(pthread_self(), main_thread)) wl_count(&on_worker, 1);
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned rounds = wl_pingpong_rounds(&a), i;
    uint64_t *lat = (uint64_t *)malloc(rounds * sizeof *lat), t0, t1;
    mcpool *p = mcpool_create(0);
    int ok;
    if (!p || !lat) return 2;
    main_thread = pthread_self();
    t0 = now_ns();
    for (i = 0; i < rounds; i++) {
        uint64_t r0 = now_ns();
        mcpool_task *h = mcpool_submit(p, ping_task, NULL);
        mcpool_wait(p, h);
        lat[i] = now_ns() - r0;
        mcpool_release(h);
    }
    t1 = now_ns();
    ok = wl_pingpong_finish(IMPL_NAME, mcpool_threads(p), wl_seconds(t0, t1), lat, rounds,
                            wl_load(&ran), wl_load(&on_worker));
    mcpool_destroy(p);
    free(lat);
    return wl_exit_code(ok);
}
