// memory on oneTBB: N tasks that block on a gate are run in one task_group
// by the main thread, so all are live and unfinished at once (each worker
// holds one, the rest wait in the task pool); max RSS before and after, then
// the gate opens and the group is waited.
#include "../../common/workload.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

static int gate;
static uint64_t ran;

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_memory_n(&a);
    int threads = tbb::this_task_arena::max_concurrency();
    tbb::task_group g;
    g.run([] { wl_count(&ran, 1); });   // starts the workers before the first reading
    g.wait();
    long before = wl_max_rss_kb();
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) g.run([] {
        wl_gate_wait(&gate);
        wl_count(&ran, 1);
    });
    uint64_t t1 = now_ns();
    long after = wl_max_rss_kb();
    wl_gate_open(&gate);
    g.wait();
    int ok = wl_memory_finish(IMPL_NAME, threads, wl_seconds(t0, t1), n, before, after, wl_load(&ran) - 1);
    return wl_exit_code(ok);
}
