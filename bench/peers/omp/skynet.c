/* skynet on OpenMP tasks: a 10-ary tree, every node a task; a leaf returns
   its index, a node taskwaits for its children and returns their sum. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

static uint64_t node(uint64_t lo, uint64_t hi)
{
    unsigned k = wl_tree_children(lo, hi, SKYNET_WIDTH), i;
    uint64_t sums[SKYNET_WIDTH], s = 0;
    if (k == 0) return lo;
    for (i = 0; i < k; i++) {
        uint64_t clo, chi;
        wl_tree_child(lo, hi, SKYNET_WIDTH, i, &clo, &chi);
#pragma omp task shared(sums) firstprivate(i, clo, chi)
        sums[i] = node(clo, chi);
    }
#pragma omp taskwait
    for (i = 0; i < k; i++) s += sums[i];
    return s;
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    uint64_t leaves = wl_skynet_leaves(&a), sum = 0, t0 = 0, t1 = 0;
    int threads = omp_get_max_threads(), ok;
#pragma omp parallel
#pragma omp single
    {
        t0 = now_ns();
#pragma omp task shared(sum)
        sum = node(0, leaves);
#pragma omp taskwait
        t1 = now_ns();
    }
    ok = wl_value_finish("skynet", IMPL_NAME, threads, wl_seconds(t0, t1), sum, wl_skynet_expected(leaves),
                         wl_tree_nodes(leaves, SKYNET_WIDTH));
    return wl_exit_code(ok);
}
