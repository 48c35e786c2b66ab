/* pingpong on C-Thread-Pool: the main thread adds one job and waits with
   thpool_wait (a condition variable signalled when all workers are idle). */
#include "../../common/workload.h"
#include <pthread.h>
#include <thpool.h>

#ifndef IMPL_NAME
#define IMPL_NAME "cthreadpool"
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
    int threads = wl_cpu_count(), ok;
    uint64_t *lat = (uint64_t *)malloc(rounds * sizeof *lat), t0, t1;
    threadpool p = thpool_init(threads);
    if (!p || !lat) return 2;
    main_thread = pthread_self();
    t0 = now_ns();
    for (i = 0; i < rounds; i++) {
        uint64_t r0 = now_ns();
        thpool_add_work(p, ping_task, NULL);
        thpool_wait(p);
        lat[i] = now_ns() - r0;
    }
    t1 = now_ns();
    ok = wl_pingpong_finish(IMPL_NAME, threads, wl_seconds(t0, t1), lat, rounds, wl_load(&ran),
                            wl_load(&on_worker));
    thpool_destroy(p);
    free(lat);
    return wl_exit_code(ok);
}
