/* spawn on OpenMP tasks: a fan-out tree of width 100; every node is a task
   created by its parent, which taskwaits for its children. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

static uint64_t node(uint64_t lo, uint64_t hi)
{
    unsigned k = wl_tree_children(lo, hi, SPAWN_WIDTH), i;
    uint64_t counts[SPAWN_WIDTH], c = 1;
    if (k == 0) return 1;
    for (i = 0; i < k; i++) {
        uint64_t clo, chi;
        wl_tree_child(lo, hi, SPAWN_WIDTH, i, &clo, &chi);
#pragma omp task shared(counts) firstprivate(i, clo, chi)
        counts[i] = node(clo, chi);
    }
#pragma omp taskwait
    for (i = 0; i < k; i++) c += counts[i];
    return c;
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    uint64_t leaves = wl_spawn_leaves(&a), expected = wl_tree_nodes(leaves, SPAWN_WIDTH), count = 0;
    uint64_t t0 = 0, t1 = 0;
    int threads = omp_get_max_threads(), ok;
#pragma omp parallel
#pragma omp single
    {
        t0 = now_ns();
#pragma omp task shared(count)
        count = node(0, leaves);
#pragma omp taskwait
        t1 = now_ns();
    }
    ok = wl_empty_finish("spawn", IMPL_NAME, threads, wl_seconds(t0, t1), expected, count, expected);
    return wl_exit_code(ok);
}
