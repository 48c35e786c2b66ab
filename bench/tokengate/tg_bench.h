/* tg_bench.h - what the TokenGate benchmark programs share: the check that
   ends a program on an unexpected error, and the tree node that spawn and
   skynet both run. Include it after tokengate.h (with its implementation)
   and workload.h, with TGB_NAME defined as the benchmark's name. */
#ifndef TG_BENCH_H
#define TG_BENCH_H

#ifndef TGB_NAME
#  error "define TGB_NAME (the benchmark's name) before including tg_bench.h"
#endif

static void check(int rc, const char *what)
{
    if (rc != TG_OK) {
        fprintf(stderr, TGB_NAME ": %s: %s\n", what, tg_strerror(rc));
        exit(1);
    }
}

/* Creates the scheduler (default config) into *sched, runs one root token
   with args and waits for it, timed; then shuts down and destroys it.
   Returns the root's value; *seconds and *threads describe the run. */
static uint64_t tgb_run_root(tg_scheduler **sched, const tg_op *op, const void *args,
                             size_t args_size, double *seconds, int *threads)
{
    tg_token t;
    tg_value v;
    check(tg_create(NULL, sched), "tg_create");
    uint64_t t0 = wl_now_ns();
    check(tg_submit(*sched, op, args, args_size, &t), "tg_submit");
    check(tg_wait(*sched, t, -1, &v), "tg_wait");
    check(tg_release(*sched, t), "tg_release");
    uint64_t t1 = wl_now_ns();
    *seconds = wl_seconds(t0, t1);
    *threads = (int)tg_worker_count(*sched);
    check(tg_shutdown(*sched, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(*sched);
    return v.u;
}

#ifdef TGB_TREE
/* A node of a tree over the leaves [lo, hi): it submits a token per child
   from inside itself, waits for all of them, releases them, and returns the
   sum of their values plus 1 if count_nodes (spawn: the subtree's size), or
   lo at a leaf when not (skynet: the sum of the leaf indexes). */
struct tgb_range { uint64_t lo, hi; };

typedef struct tgb_tree {
    tg_scheduler **sched;
    const tg_op *op;
    unsigned width;        /* at most TGB_TREE_MAX_WIDTH */
    int count_nodes;
} tgb_tree;

#define TGB_TREE_MAX_WIDTH 128

static int tgb_tree_node(const tgb_tree *tree, const struct tgb_range *r, tg_value *result)
{
    unsigned k = wl_tree_children(r->lo, r->hi, tree->width);
    tg_token children[TGB_TREE_MAX_WIDTH];
    uint64_t sum = tree->count_nodes ? 1 : 0;
    int bad = 0;

    if (k == 0 && !tree->count_nodes) {
        result->u = r->lo;
        return 0;
    }
    if (k > TGB_TREE_MAX_WIDTH) return 1;
    for (unsigned i = 0; i < k; i++) {
        struct tgb_range c;
        wl_tree_child(r->lo, r->hi, tree->width, i, &c.lo, &c.hi);
        if (tg_submit(*tree->sched, tree->op, &c, sizeof c, &children[i]) != TG_OK)
            return 1;
    }
    if (tg_wait_all(*tree->sched, children, k, -1) != TG_OK)
        bad = 1;
    for (unsigned i = 0; i < k; i++) {
        tg_value v;
        if (tg_wait(*tree->sched, children[i], 0, &v) == TG_OK)
            sum += v.u;
        else
            bad = 1;
        tg_release(*tree->sched, children[i]);
    }
    result->u = sum;
    return bad;
}
#endif /* TGB_TREE */

#endif /* TG_BENCH_H */
