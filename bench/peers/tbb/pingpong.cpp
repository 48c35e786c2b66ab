// pingpong on oneTBB: the main thread runs one task in a task_group and
// waits for the group, round after round.  task_group::wait lets the waiting
// thread execute the task itself when no worker has taken it yet; on_worker
// reports how often a worker ran it.
#include "../../common/workload.h"
#include <pthread.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

static uint64_t ran, on_worker;

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned rounds = wl_pingpong_rounds(&a);
    int threads = tbb::this_task_arena::max_concurrency();
    uint64_t *lat = (uint64_t *)malloc(rounds * sizeof *lat);
    if (!lat) return 2;
    pthread_t main_thread = pthread_self();
    tbb::task_group g;
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < rounds; i++) {
        uint64_t r0 = now_ns();
        g.run([main_thread] {
            wl_count(&ran, 1);
            if (!pthread_equal(pthread_self(), main_thread)) wl_count(&on_worker, 1);
        });
        g.wait();
        lat[i] = now_ns() - r0;
    }
    uint64_t t1 = now_ns();
    int ok = wl_pingpong_finish(IMPL_NAME, threads, wl_seconds(t0, t1), lat, rounds, wl_load(&ran),
                                wl_load(&on_worker));
    free(lat);
    return wl_exit_code(ok);
}
