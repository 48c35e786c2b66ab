// skynet on oneTBB: a 10-ary tree, every node a task run in its parent's
// task_group; a leaf returns its index, a node the sum of its children.
#include "../../common/workload.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

static uint64_t node(uint64_t lo, uint64_t hi)
{
    unsigned k = wl_tree_children(lo, hi, SKYNET_WIDTH);
    if (k == 0) return lo;
    uint64_t sums[SKYNET_WIDTH];
    tbb::task_group g;
    for (unsigned i = 0; i < k; i++) {
        uint64_t clo, chi;
        wl_tree_child(lo, hi, SKYNET_WIDTH, i, &clo, &chi);
        g.run([&sums, i, clo, chi] { sums[i] = node(clo, chi); });
    }
    g.wait();
    uint64_t s = 0;
    for (unsigned i = 0; i < k; i++) s += sums[i];
    return s;
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    uint64_t leaves = wl_skynet_leaves(&a), sum = 0;
    int threads = tbb::this_task_arena::max_concurrency();
    tbb::task_group root;
    uint64_t t0 = now_ns();
    root.run([&] { sum = node(0, leaves); });
    root.wait();
    uint64_t t1 = now_ns();
    int ok = wl_value_finish("skynet", IMPL_NAME, threads, wl_seconds(t0, t1), sum,
                             wl_skynet_expected(leaves), wl_tree_nodes(leaves, SKYNET_WIDTH));
    return wl_exit_code(ok);
}
