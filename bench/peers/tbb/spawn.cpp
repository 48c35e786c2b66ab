// spawn on oneTBB: a fan-out tree of width 100; every node is a task, run in
// its parent's task_group, which the parent waits for.
#include "../../common/workload.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

static uint64_t node(uint64_t lo, uint64_t hi)
{
    unsigned k = wl_tree_children(lo, hi, SPAWN_WIDTH);
    if (k == 0) return 1;
    uint64_t counts[SPAWN_WIDTH];
    tbb::task_group g;
    for (unsigned i = 0; i < k; i++) {
        uint64_t clo, chi;
        wl_tree_child(lo, hi, SPAWN_WIDTH, i, &clo, &chi);
        g.run([&counts, i, clo, chi] { counts[i] = node(clo, chi); });
    }
    g.wait();
    uint64_t c = 1;
    for (unsigned i = 0; i < k; i++) c += counts[i];
    return c;
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    uint64_t leaves = wl_spawn_leaves(&a), expected = wl_tree_nodes(leaves, SPAWN_WIDTH), count = 0;
    int threads = tbb::this_task_arena::max_concurrency();
    tbb::task_group root;
    uint64_t t0 = now_ns();
    root.run([&] { count = node(0, leaves); });
    root.wait();
    uint64_t t1 = now_ns();
    int ok = wl_empty_finish("spawn", IMPL_NAME, threads, wl_seconds(t0, t1), expected, count, expected);
    return wl_exit_code(ok);
}
