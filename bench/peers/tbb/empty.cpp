// empty on oneTBB: one outside thread runs N empty tasks in one task_group,
// then waits for the group.
#include "../../common/workload.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

static uint64_t ran;

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_empty_n(&a);
    int threads = tbb::this_task_arena::max_concurrency();
    tbb::task_group g;
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) g.run([] { wl_count(&ran, 1); });
    g.wait();
    uint64_t t1 = now_ns();
    int ok = wl_empty_finish(EMPTY_BENCH, IMPL_NAME, threads, wl_seconds(t0, t1), n, wl_load(&ran), n);
    return wl_exit_code(ok);
}
