/* skynet on the mutex + condvar pool: a 10-ary tree, every node a task; a
   leaf returns its index, a node the sum of its children, which it waits for
   (running queued tasks meanwhile, see mcpool.h). */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
#endif

typedef struct node {
    uint64_t lo, hi, sum;
} node;

static mcpool *pool;

static void node_task(void *arg)
{
    node *nd = (node *)arg;
    node kids[SKYNET_WIDTH];
    mcpool_task *h[SKYNET_WIDTH];
    unsigned k = wl_tree_children(nd->lo, nd->hi, SKYNET_WIDTH), i;
    uint64_t s = 0;
    if (k == 0) {
        nd->sum = nd->lo;
        return;
    }
    for (i = 0; i < k; i++) {
        wl_tree_child(nd->lo, nd->hi, SKYNET_WIDTH, i, &kids[i].lo, &kids[i].hi);
        h[i] = mcpool_submit(pool, node_task, &kids[i]);
    }
    for (i = 0; i < k; i++) {
        mcpool_wait(pool, h[i]);
        mcpool_release(h[i]);
        s += kids[i].sum;
    }
    nd->sum = s;
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    uint64_t leaves = wl_skynet_leaves(&a), t0, t1;
    node root;
    mcpool_task *h;
    int ok;
    pool = mcpool_create(0);
    if (!pool) return 2;
    root.lo = 0;
    root.hi = leaves;
    root.sum = 0;
    t0 = now_ns();
    h = mcpool_submit(pool, node_task, &root);
    mcpool_wait(pool, h);
    t1 = now_ns();
    mcpool_release(h);
    ok = wl_value_finish("skynet", IMPL_NAME, mcpool_threads(pool), wl_seconds(t0, t1), root.sum,
                         wl_skynet_expected(leaves), wl_tree_nodes(leaves, SKYNET_WIDTH));
    mcpool_destroy(pool);
    return wl_exit_code(ok);
}
