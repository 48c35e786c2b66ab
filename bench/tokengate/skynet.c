/* skynet: SKYNET_LEAVES leaves (1,000,000; 100,000 with --quick) in a 10-ary
   tree, every node a token. A leaf returns its index, a node submits its
   children from inside, waits for them (tg_wait_all), sums and releases
   them. The root's value must be n(n-1)/2 (499999500000). */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

struct range { uint64_t lo, hi; };

static tg_scheduler *sched;

static int node_task(const void *args, tg_value *result);
static const tg_op node_op = { .name = "skynet_node", .fn = node_task };

static int node_task(const void *args, tg_value *result)
{
    const struct range *r = (const struct range *)args;
    unsigned k = wl_tree_children(r->lo, r->hi, SKYNET_WIDTH);
    tg_token children[SKYNET_WIDTH];
    uint64_t sum = 0;
    int bad = 0;

    if (k == 0) {
        result->u = r->lo;
        return 0;
    }
    for (unsigned i = 0; i < k; i++) {
        struct range c;
        wl_tree_child(r->lo, r->hi, SKYNET_WIDTH, i, &c.lo, &c.hi);
        if (tg_submit(sched, &node_op, &c, sizeof c, &children[i]) != TG_OK)
            return 1;
    }
    if (tg_wait_all(sched, children, k, -1) != TG_OK)
        bad = 1;
    for (unsigned i = 0; i < k; i++) {
        tg_value v;
        if (tg_wait(sched, children[i], 0, &v) == TG_OK)
            sum += v.u;
        else
            bad = 1;
        tg_release(sched, children[i]);
    }
    result->u = sum;
    return bad;
}

static void check(int rc, const char *what)
{
    if (rc != TG_OK) {
        fprintf(stderr, "skynet: %s: %s\n", what, tg_strerror(rc));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    uint64_t leaves = wl_skynet_leaves(&args);
    struct range root = { 0, leaves };
    tg_token t;
    tg_value v;

    check(tg_create(NULL, &sched), "tg_create");
    uint64_t t0 = wl_now_ns();
    check(tg_submit(sched, &node_op, &root, sizeof root, &t), "tg_submit");
    check(tg_wait(sched, t, -1, &v), "tg_wait");
    check(tg_release(sched, t), "tg_release");
    uint64_t t1 = wl_now_ns();

    int threads = (int)tg_worker_count(sched);
    check(tg_shutdown(sched, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(sched);
    int ok = wl_value_finish("skynet", "tokengate", threads, wl_seconds(t0, t1), v.u,
                             wl_skynet_expected(leaves), wl_tree_nodes(leaves, SKYNET_WIDTH));
    return wl_exit_code(ok);
}
