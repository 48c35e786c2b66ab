/* spawn on the mutex + condvar pool: a fan-out tree of width 100; every node
   is a task submitted by its parent, which waits for its children (running
   queued tasks meanwhile, see mcpool.h). */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
#endif

typedef struct node {
    uint64_t lo, hi, count;
} node;

static mcpool *pool;

static void node_task(void *arg)
{
    node *nd = (node *)arg;
    node kids[SPAWN_WIDTH];
    mcpool_task *h[SPAWN_WIDTH];
    unsigned k = wl_tree_children(nd->lo, nd->hi, SPAWN_WIDTH), i;
    uint64_t c = 1;
    for (i = 0; i < k; i++) {
        wl_tree_child(nd->lo, nd->hi, SPAWN_WIDTH, i, &kids[i].lo, &kids[i].hi);
        h[i] = mcpool_submit(pool, node_task, &kids[i]);
    }
    for (i = 0; i < k; i++) {
        mcpool_wait(pool, h[i]);
        mcpool_release(h[i]);
        c += kids[i].count;
    }
    nd->count = c;
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    uint64_t leaves = wl_spawn_leaves(&a), expected = wl_tree_nodes(leaves, SPAWN_WIDTH), t0, t1;
    node root;
    mcpool_task *h;
    int ok;
    pool = mcpool_create(0);
    if (!pool) return 2;
    root.lo = 0;
    root.hi = leaves;
    root.count = 0;
    t0 = now_ns();
    h = mcpool_submit(pool, node_task, &root);
    mcpool_wait(pool, h);
    t1 = now_ns();
    mcpool_release(h);
    ok = wl_empty_finish("spawn", IMPL_NAME, mcpool_threads(pool), wl_seconds(t0, t1), expected,
                         root.count, expected);
    mcpool_destroy(pool);
    return wl_exit_code(ok);
}
