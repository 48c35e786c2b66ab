/* skynet, serial: the plain recursion over the same 10-ary tree. */
#include "../../common/workload.h"

#ifndef IMPL_NAME
#define IMPL_NAME "serial"
#endif

__attribute__((noinline)) static uint64_t node(uint64_t lo, uint64_t hi)
{
    unsigned k = wl_tree_children(lo, hi, SKYNET_WIDTH), i;
    uint64_t s = 0;
    if (k == 0) return lo;
    for (i = 0; i < k; i++) {
        uint64_t clo, chi;
        wl_tree_child(lo, hi, SKYNET_WIDTH, i, &clo, &chi);
        s += node(clo, chi);
    }
    return s;
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    uint64_t leaves = wl_skynet_leaves(&a), t0 = now_ns(), sum = node(0, leaves), t1 = now_ns();
    int ok = wl_value_finish("skynet", IMPL_NAME, 1, wl_seconds(t0, t1), sum, wl_skynet_expected(leaves),
                             wl_tree_nodes(leaves, SKYNET_WIDTH));
    return wl_exit_code(ok);
}
