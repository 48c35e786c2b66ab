/* nested.c - tasks that submit tasks and wait for them inside a task.

   1. fib(n) with one token per call: the token of fib(n), n >= 2, submits
      fib(n-1) and fib(n-2) as tokens and waits for both.
   2. A fan-out tree: every inner node submits FANOUT children and waits for
      all of them with tg_wait_all; the leaves return a number, inner nodes
      add up their children's results.
   3. A task that waits on itself gets TG_EDEADLK instead of hanging.

   Each part runs on a scheduler with a single worker and then on one with a
   worker per CPU. A wait inside a task never blocks its worker: it runs other
   tokens until the awaited ones end, so even one worker cannot deadlock on
   thousands of nested waits. Results are checked against closed forms. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define FIB_N    22
#define FANOUT   8
#define DEPTH    4            /* FANOUT^DEPTH leaves */
#define TASK_ERR 1            /* failure code of a task whose call failed */

/* ------------------------------------------------------------ fib tokens */

struct fib_args { tg_scheduler *s; int n; };

static int fib_task(const void *args, tg_value *result);
static const tg_op fib_op = { .name = "fib", .fn = fib_task,
                              .weight = TG_HEAVY };

static int fib_task(const void *args, tg_value *result)
{
    const struct fib_args *a = args;
    if (a->n < 2) {
        result->i = a->n;
        return 0;
    }
    struct fib_args child[2] = { { a->s, a->n - 1 }, { a->s, a->n - 2 } };
    tg_token t[2];
    int64_t sum = 0;
    int ok = 1;
    if (tg_submit(a->s, &fib_op, &child[0], sizeof child[0], &t[0]) != TG_OK)
        return TASK_ERR;
    if (tg_submit(a->s, &fib_op, &child[1], sizeof child[1], &t[1]) != TG_OK) {
        tg_release(a->s, t[0]);        /* it runs on, detached */
        return TASK_ERR;
    }
    for (int k = 0; k < 2; k++) {
        tg_value v;
        if (tg_wait(a->s, t[k], -1, &v) == TG_OK)   /* runs other tokens */
            sum += v.i;
        else
            ok = 0;
        tg_release(a->s, t[k]);
    }
    result->i = sum;
    return ok ? 0 : TASK_ERR;
}

/* ---------------------------------------------------------- fan-out tree */

struct node_args {
    tg_scheduler *s;
    int64_t first_leaf;   /* this subtree covers leaves first_leaf .. */
    int64_t leaves;       /* .. first_leaf + leaves - 1 */
};

static int node_task(const void *args, tg_value *result);
static const tg_op node_op = { .name = "tree_node", .fn = node_task };

static int node_task(const void *args, tg_value *result)
{
    const struct node_args *a = args;
    if (a->leaves == 1) {                   /* a leaf: the square of its id */
        result->i = a->first_leaf * a->first_leaf;
        return 0;
    }
    tg_token children[FANOUT];
    int64_t per_child = a->leaves / FANOUT;
    for (int k = 0; k < FANOUT; k++) {
        struct node_args c = { a->s, a->first_leaf + k * per_child, per_child };
        if (tg_submit(a->s, &node_op, &c, sizeof c, &children[k]) != TG_OK) {
            while (k-- > 0)
                tg_release(a->s, children[k]);
            return TASK_ERR;
        }
    }
    if (tg_wait_all(a->s, children, FANOUT, -1) != TG_OK)
        return TASK_ERR;
    int64_t sum = 0;
    int ok = 1;
    for (int k = 0; k < FANOUT; k++) {
        tg_value v;
        if (tg_wait(a->s, children[k], 0, &v) == TG_OK)  /* ended: no wait */
            sum += v.i;
        else
            ok = 0;
        tg_release(a->s, children[k]);
    }
    result->i = sum;
    return ok ? 0 : TASK_ERR;
}

/* ------------------------------------------------------- waiting on self */

static int self_wait_task(const void *args, tg_value *result)
{
    tg_scheduler *s = *(tg_scheduler *const *)args;
    result->i = tg_wait(s, tg_self(), -1, NULL);   /* must not hang */
    return 0;
}
static const tg_op self_wait_op = { .name = "self_wait", .fn = self_wait_task };

/* ------------------------------------------------------------------ main */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Submits one root token, waits for it, returns its result (or exits). */
static int64_t run_root(tg_scheduler *s, const tg_op *op, const void *args,
                        size_t size)
{
    tg_token t;
    tg_value v;
    int rc = tg_submit(s, op, args, size, &t);
    if (rc == TG_OK)
        rc = tg_wait(s, t, -1, &v);
    if (rc != TG_OK) {
        fprintf(stderr, "nested: %s: %s\n", op->name, tg_strerror(rc));
        exit(1);
    }
    tg_release(s, t);
    return v.i;
}

static int run(unsigned workers)
{
    tg_config cfg = { .workers = workers };
    tg_scheduler *s;
    int rc = tg_create(&cfg, &s);
    if (rc != TG_OK) {
        fprintf(stderr, "nested: tg_create: %s\n", tg_strerror(rc));
        return 1;
    }
    int bad = 0;
    printf("%u worker%s\n", tg_worker_count(s), tg_worker_count(s) == 1 ? "" : "s");

    /* fib: calls(n) = 2 fib(n+1) - 1 tokens. */
    int64_t fib_expected[FIB_N + 2] = { 0, 1 };
    for (int k = 2; k < FIB_N + 2; k++)
        fib_expected[k] = fib_expected[k - 1] + fib_expected[k - 2];
    uint64_t fib_tokens = (uint64_t)(2 * fib_expected[FIB_N + 1] - 1);

    struct tg_stats before, after;
    tg_stats(s, &before);
    double t0 = now_seconds();
    struct fib_args fa = { s, FIB_N };
    int64_t fib = run_root(s, &fib_op, &fa, sizeof fa);
    double t1 = now_seconds();
    tg_stats(s, &after);
    uint64_t ran = after.completed - before.completed;
    int fib_ok = fib == fib_expected[FIB_N] && ran == fib_tokens;
    printf("  fib(%d)    = %lld in %llu tokens, %.3f s  %s\n", FIB_N,
           (long long)fib, (unsigned long long)ran, t1 - t0,
           fib_ok ? "OK" : "WRONG");
    bad |= !fib_ok;

    /* Tree: sum of squares of the leaf ids 0..L-1 = (L-1) L (2L-1) / 6. */
    int64_t leaves = 1;
    uint64_t nodes = 0;
    for (int d = 0; d <= DEPTH; d++) {
        nodes += (uint64_t)leaves;
        if (d < DEPTH)
            leaves *= FANOUT;
    }
    int64_t tree_expected = (leaves - 1) * leaves * (2 * leaves - 1) / 6;

    tg_stats(s, &before);
    t0 = now_seconds();
    struct node_args na = { s, 0, leaves };
    int64_t tree = run_root(s, &node_op, &na, sizeof na);
    t1 = now_seconds();
    tg_stats(s, &after);
    ran = after.completed - before.completed;
    int tree_ok = tree == tree_expected && ran == nodes;
    printf("  tree %d^%d   = %lld in %llu tokens, %.3f s  %s\n", FANOUT,
           DEPTH, (long long)tree, (unsigned long long)ran, t1 - t0,
           tree_ok ? "OK" : "WRONG");
    bad |= !tree_ok;

    /* Waiting on oneself is refused. */
    int64_t self = run_root(s, &self_wait_op, &s, sizeof s);
    int self_ok = self == TG_EDEADLK;
    printf("  self wait  -> %s  %s\n", tg_strerror((int)self),
           self_ok ? "OK" : "WRONG");
    bad |= !self_ok;

    tg_stats(s, &after);
    printf("  per core  ");
    for (unsigned c = 0; c < after.workers; c++)
        printf(" [%u] ran %llu stole %llu", c,
               (unsigned long long)after.cores[c].executed,
               (unsigned long long)after.cores[c].stolen);
    printf("\n");
    tg_destroy(s);
    return bad;
}

int main(void)
{
    int bad = run(1);     /* one worker: every wait must help, not block */
    bad |= run(0);        /* one worker per CPU */
    printf("%s\n", bad ? "FAILED" : "all results OK");
    return bad;
}
