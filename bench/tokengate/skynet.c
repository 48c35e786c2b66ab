/* skynet: SKYNET_LEAVES leaves (1,000,000; 100,000 with --quick) in a 10-ary
   tree, every node a token. A leaf returns its index, a node submits its
   children from inside, waits for them (tg_wait_all), sums and releases
   them. The root's value must be n(n-1)/2 (499999500000). */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "skynet"
#define TGB_TREE
#include "tg_bench.h"

static tg_scheduler *sched;

static int node_task(const void *args, tg_value *result);
static const tg_op node_op = { .name = "skynet_node", .fn = node_task };
static const tgb_tree tree = { &sched, &node_op, SKYNET_WIDTH, 0 };

static int node_task(const void *args, tg_value *result)
{
    return tgb_tree_node(&tree, (const struct tgb_range *)args, result);
}

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    uint64_t leaves = wl_skynet_leaves(&args);
    struct tgb_range root = { 0, leaves };
    double seconds;
    int threads;
    uint64_t value = tgb_run_root(&sched, &node_op, &root, sizeof root, &seconds, &threads);
    int ok = wl_value_finish("skynet", "tokengate", threads, seconds, value,
                             wl_skynet_expected(leaves), wl_tree_nodes(leaves, SKYNET_WIDTH));
    return wl_exit_code(ok);
}
