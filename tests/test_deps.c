/* test_deps.c - tg_submit_after: tokens admitted once the tokens they
   follow have ended. Order (diamonds, chains, fan-in, a stencil, random
   DAGs checked against a serial run), failure propagation with and
   without TG_OP_ALWAYS_RUN, bad and stale handles, successors killed or
   expired while they wait, shutdown with successors waiting. */
#include "harness.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* Each run takes the next number of a global sequence: a token's number
   says when it ran relative to the others. */
static atomic_long dp_seq;

typedef struct dp_args {
    int id;
    int fail;            /* nonzero: the fn fails with this code */
    long *ran_at;        /* where its sequence number goes */
} dp_args;

static int dp_fn(const void *args, tg_value *result)
{
    const dp_args *a = (const dp_args *)args;
    long n = atomic_fetch_add(&dp_seq, 1) + 1;
    if (a->ran_at) a->ran_at[a->id] = n;
    if (a->fail) return a->fail;
    result->i = a->id;
    return 0;
}

static const tg_op dp_op = { .name = "dp", .fn = dp_fn };
static const tg_op dp_always_op = { .name = "dp_always", .fn = dp_fn, .flags = TG_OP_ALWAYS_RUN };


/* ------------------------------------------------------------- order */

/* A -> {B, C} -> D, A held on a gate: nothing after it runs until it
   ends, and D runs after both B and C. */
TG_TEST(deps_diamond_runs_in_order)
{
    tg_scheduler *s = th_sched(2);
    th_gate g;
    th_gate_init(&g, 0);
    th_gate *gp = &g;
    static long ran[4];
    memset(ran, 0, sizeof ran);
    atomic_store(&dp_seq, 0);
    tg_token a, b, c, d;
    REQUIRE(tg_submit(s, &th_gate_op, &gp, sizeof gp, &a) == TG_OK);
    dp_args ab = { 1, 0, ran }, ac = { 2, 0, ran }, ad = { 3, 0, ran };
    CHECK_RC(tg_submit_after(s, &dp_op, &ab, sizeof ab, &a, 1, &b), TG_OK);
    CHECK_RC(tg_submit_after(s, &dp_op, &ac, sizeof ac, &a, 1, &c), TG_OK);
    tg_token bc[2] = { b, c };
    CHECK_RC(tg_submit_after(s, &dp_op, &ad, sizeof ad, bc, 2, &d), TG_OK);
    th_sleep_ms(20);
    CHECK_EQ(atomic_load(&dp_seq), 0);
    tg_state st;
    CHECK_RC(tg_poll(s, d, &st), TG_OK);
    CHECK_EQ(st, TG_WAITING);
    th_gate_open(&g);
    tg_value v;
    CHECK_RC(tg_wait(s, d, TH_LONG_NS, &v), TG_OK);
    CHECK_EQ(v.i, 3);
    CHECK(ran[1] > 0 && ran[2] > 0 && ran[3] > ran[1] && ran[3] > ran[2]);
    tg_token all[4] = { a, b, c, d };
    for (int i = 0; i < 4; i++) CHECK_RC(tg_release(s, all[i]), TG_OK);
    TH_FINISH(s);
}

/* An already-ended dependency counts as ended: the successor runs at once. */
TG_TEST(deps_on_ended_tokens_run_at_once)
{
    tg_scheduler *s = th_sched(1);
    dp_args x = { 0, 0, NULL }, y = { 1, 0, NULL };
    tg_token a, b;
    REQUIRE(tg_submit(s, &dp_op, &x, sizeof x, &a) == TG_OK);
    CHECK_RC(tg_wait(s, a, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_submit_after(s, &dp_op, &y, sizeof y, &a, 1, &b), TG_OK);
    tg_value v;
    CHECK_RC(tg_wait(s, b, TH_LONG_NS, &v), TG_OK);
    CHECK_EQ(v.i, 1);
    /* after_count 0: a plain submission */
    tg_token c;
    CHECK_RC(tg_submit_after(s, &dp_op, &y, sizeof y, NULL, 0, &c), TG_OK);
    CHECK_RC(tg_wait(s, c, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, a), TG_OK);
    CHECK_RC(tg_release(s, b), TG_OK);
    CHECK_RC(tg_release(s, c), TG_OK);
    TH_FINISH(s);
}

/* A chain of n tokens, each after the one before, handles released
   right after the call: they run in order, and no thread waits (a
   worker stack of 64 KiB suffices for 200,000). */
static void dp_chain(tg_scheduler *s, int n, long *ran)
{
    tg_token prev = TG_TOKEN_NONE;
    for (int i = 0; i < n; i++) {
        dp_args a = { i, 0, ran };
        tg_token t;
        int rc = i ? tg_submit_after(s, &dp_op, &a, sizeof a, &prev, 1, &t)
                   : tg_submit(s, &dp_op, &a, sizeof a, &t);
        REQUIRE(rc == TG_OK);
        if (i) REQUIRE(tg_release(s, prev) == TG_OK);
        prev = t;
    }
    CHECK_RC(tg_wait(s, prev, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, prev), TG_OK);
}

TG_TEST(deps_long_chain_runs_in_order_without_stack)
{
    tg_config cfg = { .workers = 2, .no_pin = 1, .stack_size = 64 * 1024 };
    tg_scheduler *s = NULL;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    int n = (int)th_env_long("TG_STRESS_TOKENS", 1000000) / 5;
    long *ran = (long *)calloc((size_t)n, sizeof *ran);
    REQUIRE(ran);
    atomic_store(&dp_seq, 0);
    dp_chain(s, n, ran);
    int in_order = 1;
    for (int i = 0; i < n; i++) in_order &= ran[i] == i + 1;
    CHECK(in_order);
    free(ran);
    TH_FINISH(s);
}

/* A chain built from inside a task, the task returning before it ran. */
typedef struct dp_chain_args { int n; long *ran; } dp_chain_args;

static int dp_chain_fn(const void *args, tg_value *result)
{
    const dp_chain_args *a = (const dp_chain_args *)args;
    tg_scheduler *s = tg_current_scheduler();
    tg_token prev = TG_TOKEN_NONE;
    for (int i = 0; i < a->n; i++) {
        dp_args d = { i, 0, a->ran };
        tg_token t;
        int rc = i ? tg_submit_after(s, &dp_op, &d, sizeof d, &prev, 1, &t)
                   : tg_submit(s, &dp_op, &d, sizeof d, &t);
        if (rc != TG_OK) return 1;
        if (i) tg_release(s, prev);
        prev = t;
    }
    tg_release(s, prev);
    result->i = a->n;
    return 0;
}

static const tg_op dp_chain_op = { .name = "dp_chain", .fn = dp_chain_fn };

TG_TEST(deps_chain_from_inside_a_task)
{
    tg_scheduler *s = th_sched(2);
    enum { N = 5000 };
    static long ran[N];
    memset(ran, 0, sizeof ran);
    atomic_store(&dp_seq, 0);
    dp_chain_args a = { N, ran };
    tg_token t;
    REQUIRE(tg_submit(s, &dp_chain_op, &a, sizeof a, &t) == TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, t), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    int in_order = 1;
    for (int i = 0; i < N; i++) in_order &= ran[i] == i + 1;
    CHECK(in_order);
    TH_FINISH(s);
}

/* Fan-in: one token after 1,000 others runs after the last of them. */
TG_TEST(deps_fan_in_waits_for_every_dependency)
{
    tg_scheduler *s = th_sched(2);
    enum { N = 1000 };
    static long ran[N + 1];
    static tg_token t[N];
    memset(ran, 0, sizeof ran);
    atomic_store(&dp_seq, 0);
    for (int i = 0; i < N; i++) {
        dp_args a = { i, 0, ran };
        REQUIRE(tg_submit(s, &dp_op, &a, sizeof a, &t[i]) == TG_OK);
    }
    dp_args last = { N, 0, ran };
    tg_token z;
    CHECK_RC(tg_submit_after(s, &dp_op, &last, sizeof last, t, N, &z), TG_OK);
    for (int i = 0; i < N; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    CHECK_RC(tg_wait(s, z, TH_LONG_NS, NULL), TG_OK);
    CHECK_EQ(ran[N], N + 1);
    CHECK_RC(tg_release(s, z), TG_OK);
    TH_FINISH(s);
}

/* A 1-D stencil W wide and T steps deep: each point of step t follows
   its neighbours of step t-1; its value is the sum of theirs, checked
   against the same sums computed serially. */
enum { DP_W = 16, DP_T = 200 };
static int64_t dp_grid[DP_T][DP_W];

typedef struct dp_cell { int t, x; } dp_cell;

static int dp_cell_fn(const void *args, tg_value *result)
{
    const dp_cell *c = (const dp_cell *)args;
    int64_t v = c->x + 1;
    if (c->t > 0) {
        v = 0;
        for (int dx = -1; dx <= 1; dx++) {
            int x = c->x + dx;
            if (x >= 0 && x < DP_W) v += dp_grid[c->t - 1][x];
        }
        v %= 1000003;
    }
    dp_grid[c->t][c->x] = v;
    result->i = v;
    return 0;
}

static const tg_op dp_cell_op = { .name = "dp_cell", .fn = dp_cell_fn };

TG_TEST(deps_stencil_matches_the_serial_sums)
{
    for (int workers = 1; workers <= 3; workers++) {
        tg_scheduler *s = th_sched(workers);
        memset(dp_grid, 0, sizeof dp_grid);
        static tg_token tok[2][DP_W];
        for (int t = 0; t < DP_T; t++) {
            for (int x = 0; x < DP_W; x++) {
                dp_cell c = { t, x };
                tg_token after[3];
                size_t n = 0;
                for (int dx = -1; t > 0 && dx <= 1; dx++)
                    if (x + dx >= 0 && x + dx < DP_W) after[n++] = tok[(t - 1) & 1][x + dx];
                REQUIRE(tg_submit_after(s, &dp_cell_op, &c, sizeof c, after, n, &tok[t & 1][x]) == TG_OK);
            }
            for (int x = 0; t > 0 && x < DP_W; x++) REQUIRE(tg_release(s, tok[(t - 1) & 1][x]) == TG_OK);
        }
        for (int x = 0; x < DP_W; x++) CHECK_RC(tg_wait_release(s, tok[(DP_T - 1) & 1][x], TH_LONG_NS, NULL), TG_OK);
        static int64_t want[DP_T][DP_W];
        for (int t = 0; t < DP_T; t++)
            for (int x = 0; x < DP_W; x++) {
                int64_t v = x + 1;
                if (t > 0) {
                    v = 0;
                    for (int dx = -1; dx <= 1; dx++)
                        if (x + dx >= 0 && x + dx < DP_W) v += want[t - 1][x + dx];
                    v %= 1000003;
                }
                want[t][x] = v;
            }
        CHECK(memcmp(want, dp_grid, sizeof want) == 0);
        TH_FINISH(s);
    }
}

/* ---------------------------------------------------------- failures */

/* A fails: B (after A) never runs, its wait says TG_EDEPENDENCY and its
   info names A; C after B is killed the same way and names B. With
   TG_OP_ALWAYS_RUN the successor runs all the same. */
TG_TEST(deps_failure_propagates_unless_always_run)
{
    tg_scheduler *s = th_sched(2);
    static long ran[8];
    memset(ran, 0, sizeof ran);
    atomic_store(&dp_seq, 0);
    dp_args fa = { 0, 5, ran }, fb = { 1, 0, ran }, fc = { 2, 0, ran }, fd = { 3, 0, ran };
    tg_token a, b, c, d;
    REQUIRE(tg_submit(s, &dp_op, &fa, sizeof fa, &a) == TG_OK);
    CHECK_RC(tg_submit_after(s, &dp_op, &fb, sizeof fb, &a, 1, &b), TG_OK);
    CHECK_RC(tg_submit_after(s, &dp_op, &fc, sizeof fc, &b, 1, &c), TG_OK);
    CHECK_RC(tg_submit_after(s, &dp_always_op, &fd, sizeof fd, &a, 1, &d), TG_OK);
    CHECK_RC(tg_wait(s, a, TH_LONG_NS, NULL), TG_EFAILED);
    CHECK_RC(tg_wait(s, b, TH_LONG_NS, NULL), TG_EDEPENDENCY);
    CHECK_RC(tg_wait(s, c, TH_LONG_NS, NULL), TG_EDEPENDENCY);
    tg_value v;
    CHECK_RC(tg_wait(s, d, TH_LONG_NS, &v), TG_OK);
    CHECK_EQ(v.i, 3);
    CHECK_EQ(ran[1], 0);
    CHECK_EQ(ran[2], 0);
    CHECK(ran[3] > 0);
    tg_token_info info;
    CHECK_RC(tg_info(s, b, &info), TG_OK);
    CHECK_EQ(info.state, TG_KILLED);
    CHECK_EQ(info.dependency.bits, a.bits);
    CHECK_RC(tg_info(s, c, &info), TG_OK);
    CHECK_EQ(info.dependency.bits, b.bits);
    CHECK_RC(tg_info(s, d, &info), TG_OK);
    CHECK_EQ(info.dependency.bits, TG_TOKEN_NONE.bits);
    /* a dependency that ended before the call, failed: the same */
    tg_token e;
    CHECK_RC(tg_submit_after(s, &dp_op, &fb, sizeof fb, &a, 1, &e), TG_OK);
    CHECK_RC(tg_wait(s, e, TH_LONG_NS, NULL), TG_EDEPENDENCY);
    CHECK_RC(tg_info(s, e, &info), TG_OK);
    CHECK_EQ(info.dependency.bits, a.bits);
    tg_token all[5] = { a, b, c, d, e };
    for (int i = 0; i < 5; i++) CHECK_RC(tg_release(s, all[i]), TG_OK);
    TH_FINISH(s);
}

/* A killed dependency: the successor is not run either. */
TG_TEST(deps_killed_dependency_stops_its_successor)
{
    tg_scheduler *s = th_sched(1);
    th_gate g;
    th_gate_init(&g, 1);
    th_gate *gp = &g;
    dp_args x = { 0, 0, NULL };
    tg_token a, b;
    REQUIRE(tg_submit(s, &th_gate_op, &gp, sizeof gp, &a) == TG_OK);
    REQUIRE(th_gate_wait_entered(&g, 1));
    CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, &a, 1, &b), TG_OK);
    CHECK_RC(tg_kill(s, a), TG_OK);
    CHECK_RC(tg_wait(s, b, TH_LONG_NS, NULL), TG_EDEPENDENCY);
    CHECK_RC(tg_release(s, a), TG_OK);
    CHECK_RC(tg_release(s, b), TG_OK);
    TH_FINISH(s);
}

/* ---------------------------------------------------- handles, input */

TG_TEST(deps_bad_handles_submit_nothing)
{
    tg_scheduler *s = th_sched(1);
    tg_scheduler *other = th_sched(1);
    dp_args x = { 0, 0, NULL };
    tg_token a, foreign, t = { 99 };
    REQUIRE(tg_submit(s, &dp_op, &x, sizeof x, &a) == TG_OK);
    REQUIRE(tg_wait(s, a, TH_LONG_NS, NULL) == TG_OK);
    REQUIRE(tg_submit(other, &dp_op, &x, sizeof x, &foreign) == TG_OK);
    struct tg_stats before, after;
    REQUIRE(tg_stats(s, &before) == TG_OK);
    tg_token stale = a;
    CHECK_RC(tg_release(s, a), TG_OK);
    tg_token bad[2] = { stale, TG_TOKEN_NONE };
    CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, &stale, 1, &t), TG_ESTALE);
    CHECK_EQ(t.bits, TG_TOKEN_NONE.bits);
    t.bits = 99;
    CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, &bad[1], 1, &t), TG_EINVAL);
    CHECK_EQ(t.bits, TG_TOKEN_NONE.bits);
    tg_token forged = { 0xdeadbeefcafef00dull };
    CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, &forged, 1, &t), TG_EINVAL);
    CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, &foreign, 1, &t), TG_EINVAL);
    CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, NULL, 2, &t), TG_EINVAL);
    CHECK_RC(tg_submit_after(NULL, &dp_op, &x, sizeof x, &foreign, 1, &t), TG_EINVAL);
    CHECK_RC(tg_submit_after(s, NULL, &x, sizeof x, &foreign, 1, &t), TG_EINVAL);
    static const tg_op dedupe = { .name = "dp_dedupe", .fn = dp_fn, .flags = TG_OP_DEDUPE };
    tg_token live;
    REQUIRE(tg_submit(s, &dp_op, &x, sizeof x, &live) == TG_OK);
    CHECK_RC(tg_submit_after(s, &dedupe, &x, sizeof x, &live, 1, &t), TG_EINVAL);
    /* one bad handle among good ones: still nothing */
    tg_token mixed[3] = { live, live, forged };
    CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, mixed, 3, &t), TG_EINVAL);
    CHECK_RC(tg_wait(s, live, TH_LONG_NS, NULL), TG_OK);
    REQUIRE(tg_stats(s, &after) == TG_OK);
    CHECK_EQ(after.submitted, before.submitted + 1);   /* `live` only */
    /* the same handle twice counts twice and ends once */
    tg_token twice[2] = { live, live };
    CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, twice, 2, &t), TG_OK);
    CHECK_RC(tg_wait_release(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, live), TG_OK);
    CHECK_RC(tg_wait_release(other, foreign, TH_LONG_NS, NULL), TG_OK);
    TH_FINISH(other);
    TH_FINISH(s);
}

/* ------------------------------------------------- waiting successors */

/* A successor killed, or past its deadline, while it waits: it ends at
   once, and the dependency's later end finds nothing to admit. */
static int dp_slow_fn(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    return 0;
}

static const tg_op dp_deadline_op = { .name = "dp_deadline", .fn = dp_slow_fn, .timeout_ns = 5 * TH_MS };

TG_TEST(deps_waiting_successor_killed_or_expired)
{
    tg_scheduler *s = th_sched(1);
    th_gate g;
    th_gate_init(&g, 0);
    th_gate *gp = &g;
    dp_args x = { 0, 0, NULL };
    tg_token a, b, c;
    REQUIRE(tg_submit(s, &th_gate_op, &gp, sizeof gp, &a) == TG_OK);
    CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, &a, 1, &b), TG_OK);
    CHECK_RC(tg_submit_after(s, &dp_deadline_op, &x, sizeof x, &a, 1, &c), TG_OK);
    CHECK_RC(tg_kill(s, b), TG_OK);
    CHECK_RC(tg_wait(s, b, TH_LONG_NS, NULL), TG_EKILLED);
    int rc = tg_wait(s, c, TH_LONG_NS, NULL);
    CHECK_EQ(rc, TG_EDEADLINE);
    tg_state st;
    CHECK_RC(tg_poll(s, c, &st), TG_OK);
    CHECK_EQ(st, TG_TIMEOUT);
    CHECK_RC(tg_poll(s, a, &st), TG_OK);
    CHECK_EQ(st, TG_EXECUTING);
    th_gate_open(&g);
    CHECK_RC(tg_wait(s, a, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, a), TG_OK);
    CHECK_RC(tg_release(s, b), TG_OK);
    CHECK_RC(tg_release(s, c), TG_OK);
    TH_FINISH(s);
}

/* Shutdown with successors still waiting: TG_CANCEL kills them, nothing
   hangs, nothing leaks; a detached successor's record goes too. */
TG_TEST(deps_shutdown_with_successors_waiting)
{
    for (int mode = 0; mode < 2; mode++) {
        tg_scheduler *s = th_sched(1);
        th_gate g;
        th_gate_init(&g, 1);
        th_gate *gp = &g;
        dp_args x = { 0, 0, NULL };
        tg_token a, b;
        REQUIRE(tg_submit(s, &th_gate_op, &gp, sizeof gp, &a) == TG_OK);
        REQUIRE(th_gate_wait_entered(&g, 1));
        CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, &a, 1, &b), TG_OK);
        CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, &b, 1, NULL), TG_OK);
        if (mode == 1) th_gate_open(&g);
        CHECK_RC(tg_shutdown(s, mode ? TG_DRAIN : TG_CANCEL, TH_LONG_NS), TG_OK);
        tg_state st;
        CHECK_RC(tg_poll(s, b, &st), TG_OK);
        CHECK_EQ(st, mode ? TG_COMPLETED : TG_KILLED);
        CHECK_RC(tg_submit_after(s, &dp_op, &x, sizeof x, &a, 1, NULL), TG_ESHUTDOWN);
        CHECK_RC(tg_release(s, a), TG_OK);
        CHECK_RC(tg_release(s, b), TG_OK);
        tg_destroy(s);
    }
}

/* --------------------------------------------------------- random DAGs */

/* A random DAG of N nodes, each after up to 4 earlier ones, some of which
   fail and some of which have TG_OP_ALWAYS_RUN. Serially: a node runs iff
   every dependency completed or it has the flag; it completes iff it
   runs and is not a failing node. Run with its handles released as soon
   as its successors are submitted, on 1-3 workers, every seed. */
enum { DP_N = 300 };

typedef struct dp_node {
    int ndeps, deps[4], fail, always;
} dp_node;

static dp_node dp_nodes[DP_N];
static atomic_int dp_ran[DP_N];
static atomic_int dp_order_ok;

typedef struct dp_dag_args { int id; } dp_dag_args;

static int dp_dag_fn(const void *args, tg_value *result)
{
    int id = ((const dp_dag_args *)args)->id;
    /* every dependency has ended before a node runs */
    for (int i = 0; i < dp_nodes[id].ndeps; i++) {
        int d = dp_nodes[id].deps[i];
        if (atomic_load(&dp_ran[d]) == 1) atomic_store(&dp_order_ok, 0);
    }
    atomic_store(&dp_ran[id], 2);
    if (dp_nodes[id].fail) return 3;
    result->i = id;
    return 0;
}

static int dp_dag_mark_fn(const void *args, tg_value *result)
{
    int id = ((const dp_dag_args *)args)->id;
    atomic_store(&dp_ran[id], 1);   /* started, not ended */
    return dp_dag_fn(args, result);
}

static const tg_op dp_dag_op = { .name = "dp_dag", .fn = dp_dag_mark_fn };
static const tg_op dp_dag_always = { .name = "dp_dag_always", .fn = dp_dag_mark_fn, .flags = TG_OP_ALWAYS_RUN };

TG_TEST(deps_random_dags_match_the_serial_outcome)
{
    static tg_token tok[DP_N];
    static int want[DP_N];   /* 0 completes, 1 fails, 2 never runs */
    int wrong = 0, disorder = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        uint64_t r = seed * 0x9e3779b97f4a7c15ull;
        for (int i = 0; i < DP_N; i++) {
            dp_node *n = &dp_nodes[i];
            n->ndeps = i ? (int)(th_rand(&r) % 5) : 0;
            for (int k = 0; k < n->ndeps; k++) n->deps[k] = (int)(th_rand(&r) % (uint64_t)i);
            n->fail = th_rand(&r) % 23 == 0;
            n->always = th_rand(&r) % 7 == 0;
            int runs = 1;
            for (int k = 0; k < n->ndeps; k++) runs &= want[n->deps[k]] == 0;
            runs |= n->always;
            want[i] = !runs ? 2 : n->fail ? 1 : 0;
            atomic_store(&dp_ran[i], 0);
        }
        atomic_store(&dp_order_ok, 1);
        tg_scheduler *s = th_sched(1 + (int)(seed % 3));
        for (int i = 0; i < DP_N; i++) {
            tg_token after[4];
            for (int k = 0; k < dp_nodes[i].ndeps; k++) after[k] = tok[dp_nodes[i].deps[k]];
            dp_dag_args a = { i };
            REQUIRE(tg_submit_after(s, dp_nodes[i].always ? &dp_dag_always : &dp_dag_op, &a, sizeof a, after,
                                    (size_t)dp_nodes[i].ndeps, &tok[i]) == TG_OK);
        }
        for (int i = 0; i < DP_N; i++) {
            int rc = tg_wait_release(s, tok[i], TH_LONG_NS, NULL);
            int got = rc == TG_OK ? 0 : rc == TG_EFAILED ? 1 : rc == TG_EDEPENDENCY ? 2 : 9;
            int ran = atomic_load(&dp_ran[i]) == 2;
            if (got != want[i] || ran != (want[i] != 2)) wrong++;
        }
        disorder += !atomic_load(&dp_order_ok);
        TH_FINISH(s);
    }
    CHECK_EQ(wrong, 0);
    CHECK_EQ(disorder, 0);
}

/* ------------------------------------------------- with the other tags */

/* A sticky successor runs on the core of its key's live token; a
   successor with retries runs again after a failure; a successor of an
   op drained while it waits never runs. */
static atomic_int dp_tries;

static int dp_flaky_fn(const void *args, tg_value *result)
{
    (void)args;
    result->i = tg_current_core();
    return atomic_fetch_add(&dp_tries, 1) < 2 ? 1 : 0;
}

/* both keyed "dpk" + the gate pointer: one sticky key */
static const tg_op dp_key_gate_op = { .name = "dp_key_gate", .fn = th_gate_fn, .sticky_anchor = "dpk" };
static const tg_op dp_sticky_op = { .name = "dp_sticky", .fn = dp_flaky_fn, .sticky_anchor = "dpk",
                                    .max_retries = 3 };
static const tg_op dp_drained_op = { .name = "dp_drained", .fn = dp_fn };

TG_TEST(deps_keep_sticky_retries_and_drains)
{
    for (int round = 0; round < 8; round++) {
        tg_scheduler *s = th_sched(2);
        th_gate g, h;
        th_gate_init(&g, 0);
        th_gate_init(&h, 0);
        th_gate *gp = &g, *hp = &h;
        tg_token key, a, b, c;
        REQUIRE(tg_submit(s, &dp_key_gate_op, &gp, sizeof gp, &key) == TG_OK);
        REQUIRE(th_gate_wait_entered(&g, 1));
        REQUIRE(tg_submit(s, &th_gate_op, &hp, sizeof hp, &a) == TG_OK);
        atomic_store(&dp_tries, 0);   /* the successor fails twice, then completes */
        CHECK_RC(tg_submit_after(s, &dp_sticky_op, &gp, sizeof gp, &a, 1, &b), TG_OK);
        static long ran[1];
        ran[0] = 0;
        dp_args x = { 0, 0, ran };
        CHECK_RC(tg_submit_after(s, &dp_drained_op, &x, sizeof x, &a, 1, &c), TG_OK);
        CHECK_RC(tg_op_drain(s, "dp_drained"), TG_OK);
        th_gate_open(&h);
        CHECK_RC(tg_wait(s, a, TH_LONG_NS, NULL), TG_OK);
        th_sleep_ms(2);
        th_gate_open(&g);
        tg_value v;
        CHECK_RC(tg_wait(s, b, TH_LONG_NS, &v), TG_OK);
        CHECK_EQ(atomic_load(&dp_tries), 3);
        tg_token_info info, kinfo;
        CHECK_RC(tg_info(s, b, &info), TG_OK);
        CHECK_EQ(info.retries, 2);
        CHECK_RC(tg_info(s, key, &kinfo), TG_OK);
        CHECK_EQ(v.i, kinfo.core);   /* the key's core */
        CHECK_EQ(info.core, kinfo.core);
        CHECK_RC(tg_wait(s, c, TH_LONG_NS, NULL), TG_EKILLED);
        CHECK_EQ(ran[0], 0);
        tg_token all[4] = { key, a, b, c };
        for (int i = 0; i < 4; i++) CHECK_RC(tg_release(s, all[i]), TG_OK);
        TH_FINISH(s);
    }
}
