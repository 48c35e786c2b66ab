/* spawn: a fan-out tree of width 100 over SPAWN_LEAVES leaves (1,000,000;
   100,000 with --quick), every node a token. The root is submitted from
   outside; every other node is submitted from inside its running parent,
   which waits for its children (tg_wait_all) and releases them. A node
   returns the number of nodes in its subtree; the root's value must be
   wl_tree_nodes(SPAWN_LEAVES, 100) (1,010,101 at full size). */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "spawn"
#define TGB_TREE
#include "tg_bench.h"

static tg_scheduler *sched;

static int node_task(const void *args, tg_value *result);
static const tg_op node_op = { .name = "spawn_node", .fn = node_task };
static const tgb_tree tree = { &sched, &node_op, SPAWN_WIDTH, 1 };

static int node_task(const void *args, tg_value *result)
{
    return tgb_tree_node(&tree, (const struct tgb_range *)args, result);
}

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    uint64_t leaves = wl_spawn_leaves(&args);
    uint64_t expected = wl_tree_nodes(leaves, SPAWN_WIDTH);
    struct tgb_range root = { 0, leaves };
    double seconds;
    int threads;
    uint64_t value = tgb_run_root(&sched, &node_op, &root, sizeof root, &seconds, &threads);
    int ok = wl_empty_finish("spawn", "tokengate", threads, seconds, expected,
                             value, expected);
    return wl_exit_code(ok);
}
