/* test_groups.c - tg_group_*: a scope whose wait covers its members and
   every token they submit. Nested groups (fib, a fan-out tree), inherited
   membership of detached descendants, the first failure's code, waits
   with timeouts and from inside tasks, cancel from another thread while
   members spawn (nothing runs unasked to stop after it, every member ends
   once), destroy with live members, four threads with groups of their
   own, and bad input. */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------- nested groups */

/* fib(n) with one group per call: both children go into it, the wait
   covers them, their values come back through held handles. */
static int gr_fib_fn(const void *args, tg_value *result);
static const tg_op gr_fib_op = { .name = "gr_fib", .fn = gr_fib_fn };

static int gr_fib_fn(const void *args, tg_value *result)
{
    int n = *(const int *)args;
    if (n < 2) {
        result->i = n;
        return 0;
    }
    tg_scheduler *s = tg_current_scheduler();
    tg_group *g;
    if (tg_group_create(s, &g) != TG_OK) return 1;
    int k[2] = { n - 1, n - 2 };
    tg_token t[2];
    int bad = 0;
    for (int i = 0; i < 2; i++)
        if (tg_group_submit(g, &gr_fib_op, &k[i], sizeof k[i], &t[i]) != TG_OK) bad = 1;
    if (tg_group_wait(g, -1) != TG_OK) bad = 1;
    int64_t sum = 0;
    for (int i = 0; i < 2 && !bad; i++) {
        tg_value v;
        if (tg_wait_release(s, t[i], 0, &v) != TG_OK) bad = 1;
        sum += v.i;
    }
    tg_group_destroy(g);
    result->i = sum;
    return bad;
}

TG_TEST(groups_nested_fib_on_1_to_3_workers)
{
    for (int workers = 1; workers <= 3; workers++) {
        tg_scheduler *s = th_sched(workers);
        tg_group *g;
        REQUIRE(tg_group_create(s, &g) == TG_OK);
        int n = 18;
        tg_token t;
        REQUIRE(tg_group_submit(g, &gr_fib_op, &n, sizeof n, &t) == TG_OK);
        CHECK_RC(tg_group_wait(g, TH_LONG_NS), TG_OK);
        tg_state st;
        CHECK_RC(tg_poll(s, t, &st), TG_OK);
        CHECK_EQ(st, TG_COMPLETED);   /* the wait returned after its member ended */
        tg_value v;
        CHECK_RC(tg_wait_release(s, t, 0, &v), TG_OK);
        CHECK_EQ(v.i, 2584);
        tg_group_destroy(g);
        TH_FINISH(s);
    }
}

/* A fan-out tree: each node submits `fan` detached children with plain
   tg_submit (inherited membership) and returns at once; only the root's
   group is ever waited for, and its wait must cover every node. */
static atomic_long gr_nodes;

typedef struct gr_tree { int depth, fan; } gr_tree;

static int gr_tree_fn(const void *args, tg_value *result);
static const tg_op gr_tree_op = { .name = "gr_tree", .fn = gr_tree_fn };

static int gr_tree_fn(const void *args, tg_value *result)
{
    const gr_tree *a = (const gr_tree *)args;
    atomic_fetch_add(&gr_nodes, 1);
    if (a->depth > 0) {
        gr_tree child = { a->depth - 1, a->fan };
        for (int i = 0; i < a->fan; i++)
            if (tg_submit(tg_current_scheduler(), &gr_tree_op, &child, sizeof child, NULL) != TG_OK)
                return 1;
    }
    th_sleep_us(50);   /* the children outlive their parent */
    result->i = 0;
    return 0;
}

TG_TEST(groups_wait_covers_detached_descendants)
{
    tg_scheduler *s = th_sched(2);
    for (int round = 0; round < 5; round++) {
        atomic_store(&gr_nodes, 0);
        tg_group *g;
        REQUIRE(tg_group_create(s, &g) == TG_OK);
        gr_tree root = { 5, 4 };   /* 1 + 4 + ... + 4^5 = 1365 nodes */
        REQUIRE(tg_group_submit(g, &gr_tree_op, &root, sizeof root, NULL) == TG_OK);
        CHECK_RC(tg_group_wait(g, TH_LONG_NS), TG_OK);
        CHECK_EQ(atomic_load(&gr_nodes), 1365);
        /* no token of the group is live once its wait returns */
        CHECK_EQ(th_stat_live(s), 0);
        tg_group_destroy(g);
    }
    TH_FINISH(s);
}

/* A member makes a child group, puts slow detached tokens in it and
   returns without waiting: the parent's wait still covers them. */
static atomic_int gr_child_done;

static int gr_slow_fn(const void *args, tg_value *result)
{
    (void)args;
    th_sleep_ms(30);
    atomic_fetch_add(&gr_child_done, 1);
    result->i = 1;
    return 0;
}

static const tg_op gr_slow_op = { .name = "gr_slow", .fn = gr_slow_fn };

static int gr_spawner_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_group *child;
    if (tg_group_create(tg_current_scheduler(), &child) != TG_OK) return 1;
    for (int i = 0; i < 4; i++)
        if (tg_group_submit(child, &gr_slow_op, NULL, 0, NULL) != TG_OK) return 2;
    /* the child group is left to the scheduler (freed by tg_destroy) */
    result->i = 0;
    return 0;
}

TG_TEST(groups_child_group_counts_in_parent)
{
    tg_scheduler *s = th_sched(2);
    atomic_store(&gr_child_done, 0);
    tg_group *g;
    REQUIRE(tg_group_create(s, &g) == TG_OK);
    static const tg_op op = { .name = "gr_spawner", .fn = gr_spawner_fn };
    REQUIRE(tg_group_submit(g, &op, NULL, 0, NULL) == TG_OK);
    CHECK_RC(tg_group_wait(g, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&gr_child_done), 4);
    tg_group_destroy(g);
    TH_FINISH(s);
}

/* ------------------------------------------------------------ outcomes */

static int gr_fail_fn(const void *args, tg_value *result)
{
    (void)result;
    int delay_ms = *(const int *)args;
    th_sleep_ms(delay_ms);
    return 3;
}

static const tg_op gr_fail_op = { .name = "gr_fail", .fn = gr_fail_fn };
static const tg_op gr_sleep_op = { .name = "gr_sleep", .fn = gr_fail_fn };

TG_TEST(groups_wait_reports_first_failure_after_all_ended)
{
    tg_scheduler *s = th_sched(2);
    tg_group *g;
    REQUIRE(tg_group_create(s, &g) == TG_OK);
    CHECK_RC(tg_group_wait(g, 0), TG_OK);   /* empty: at once */
    atomic_store(&gr_child_done, 0);
    int d = 1;
    for (int i = 0; i < 3; i++) REQUIRE(tg_group_submit(g, &gr_slow_op, NULL, 0, NULL) == TG_OK);
    REQUIRE(tg_group_submit(g, &gr_fail_op, &d, sizeof d, NULL) == TG_OK);
    CHECK_RC(tg_group_wait(g, TH_LONG_NS), TG_EFAILED);
    CHECK_EQ(atomic_load(&gr_child_done), 3);   /* after every member ended */
    CHECK_RC(tg_group_wait(g, 0), TG_EFAILED);  /* it stays */
    tg_group_destroy(g);

    /* all completed: TG_OK; a member killed: TG_EKILLED */
    REQUIRE(tg_group_create(s, &g) == TG_OK);
    for (int i = 0; i < 3; i++) REQUIRE(tg_group_submit(g, &th_nop_op, NULL, 0, NULL) == TG_OK);
    CHECK_RC(tg_group_wait(g, TH_LONG_NS), TG_OK);
    tg_group_destroy(g);
    tg_token victim;
    tg_scheduler *one = th_sched(1);   /* one worker held: the victim stays queued */
    th_gate gate1;
    th_gate_init(&gate1, 0);
    th_gate *gp1 = &gate1;
    tg_token hold1;
    REQUIRE(tg_submit(one, &th_gate_op, &gp1, sizeof gp1, &hold1) == TG_OK);
    REQUIRE(th_gate_wait_entered(&gate1, 1));
    tg_group *g1;
    REQUIRE(tg_group_create(one, &g1) == TG_OK);
    REQUIRE(tg_group_submit(g1, &th_nop_op, NULL, 0, &victim) == TG_OK);
    CHECK_RC(tg_group_wait(g1, 20 * TH_MS), TG_ETIMEDOUT);
    CHECK_RC(tg_kill(one, victim), TG_OK);
    CHECK_RC(tg_group_wait(g1, TH_LONG_NS), TG_EKILLED);
    CHECK_RC(tg_release(one, victim), TG_OK);
    th_gate_open(&gate1);
    CHECK_RC(tg_wait_release(one, hold1, TH_LONG_NS, NULL), TG_OK);
    tg_group_destroy(g1);
    TH_FINISH(one);
    TH_FINISH(s);
}

/* A member waiting for its own group can never see it empty. */
static tg_group *gr_self_group;
static atomic_int gr_self_rc;

static int gr_self_fn(const void *args, tg_value *result)
{
    (void)args;
    atomic_store(&gr_self_rc, tg_group_wait(gr_self_group, -1));
    result->i = 0;
    return 0;
}

TG_TEST(groups_wait_from_a_member_is_edeadlk)
{
    tg_scheduler *s = th_sched(2);
    REQUIRE(tg_group_create(s, &gr_self_group) == TG_OK);
    atomic_store(&gr_self_rc, 99);
    static const tg_op op = { .name = "gr_self", .fn = gr_self_fn };
    REQUIRE(tg_group_submit(gr_self_group, &op, NULL, 0, NULL) == TG_OK);
    CHECK_RC(tg_group_wait(gr_self_group, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&gr_self_rc), TG_EDEADLK);
    tg_group_destroy(gr_self_group);
    TH_FINISH(s);
}

/* A timed wait inside a task returns at its timeout, and runs nothing
   beneath itself that would make it late. */
static int gr_timed_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_scheduler *s = tg_current_scheduler();
    tg_group *g;
    if (tg_group_create(s, &g) != TG_OK) return 1;
    int ms = 300;
    if (tg_group_submit(g, &gr_sleep_op, &ms, sizeof ms, NULL) != TG_OK)
        return 2;
    int64_t t0 = th_now_ns();
    int rc = tg_group_wait(g, 20 * TH_MS);
    int64_t took = th_now_ns() - t0;
    int rc2 = tg_group_wait(g, -1);
    tg_group_destroy(g);
    result->i = (rc == TG_ETIMEDOUT && took < 250 * TH_MS && rc2 == TG_EFAILED) ? 1 : 0;
    return 0;
}

TG_TEST(groups_timed_wait_inside_a_task)
{
    for (int workers = 1; workers <= 2; workers++) {
        tg_scheduler *s = th_sched(workers);
        static const tg_op op = { .name = "gr_timed", .fn = gr_timed_fn };
        tg_token t;
        REQUIRE(tg_submit(s, &op, NULL, 0, &t) == TG_OK);
        tg_value v;
        CHECK_RC(tg_wait_release(s, t, TH_LONG_NS, &v), TG_OK);
        CHECK_EQ(v.i, 1);
        TH_FINISH(s);
    }
}

/* -------------------------------------------------------------- cancel */

/* Members that keep spawning descendants (inherited) until asked to
   stop. After tg_group_cancel returns, no member's function may begin
   without tg_should_stop() set; every member ends once. */
static atomic_int gr_cancelled;     /* tg_group_cancel has returned */
static atomic_int gr_late_starts;   /* began after it, not asked to stop */
static atomic_long gr_runs, gr_submitted;

static int gr_spawn_fn(const void *args, tg_value *result);
static const tg_op gr_spawn_op = { .name = "gr_spawn", .fn = gr_spawn_fn };

static int gr_spawn_fn(const void *args, tg_value *result)
{
    int depth = *(const int *)args;
    int after = atomic_load(&gr_cancelled);
    if (after && !tg_should_stop()) atomic_fetch_add(&gr_late_starts, 1);
    atomic_fetch_add(&gr_runs, 1);
    if (depth < 6) {
        int next = depth + 1;
        for (int i = 0; i < 3; i++) {
            int rc = tg_submit(tg_current_scheduler(), &gr_spawn_op, &next, sizeof next, NULL);
            if (rc == TG_OK) atomic_fetch_add(&gr_submitted, 1);
            else if (rc != TG_EKILLED) return 1;
        }
    }
    for (int i = 0; i < 20 && !tg_should_stop(); i++) th_sleep_us(100);
    result->i = 0;
    return 0;
}

TG_TEST(groups_cancel_while_members_spawn)
{
    for (int workers = 1; workers <= 3; workers++) {
        tg_scheduler *s = th_sched(workers);
        atomic_store(&gr_cancelled, 0);
        atomic_store(&gr_late_starts, 0);
        atomic_store(&gr_runs, 0);
        atomic_store(&gr_submitted, 0);
        tg_group *g;
        REQUIRE(tg_group_create(s, &g) == TG_OK);
        int zero = 0;
        tg_token roots[4];
        for (int i = 0; i < 4; i++) {
            REQUIRE(tg_group_submit(g, &gr_spawn_op, &zero, sizeof zero, &roots[i]) == TG_OK);
            atomic_fetch_add(&gr_submitted, 1);
        }
        th_sleep_ms(5 + 5 * workers);
        CHECK_RC(tg_group_cancel(g), TG_OK);
        atomic_store(&gr_cancelled, 1);
        CHECK_RC(tg_group_wait(g, TH_LONG_NS), TG_EKILLED);
        CHECK_EQ(atomic_load(&gr_late_starts), 0);
        /* every submission ended once: by a run or by the cancel */
        struct tg_stats st;
        CHECK_RC(tg_stats(s, &st), TG_OK);
        CHECK_EQ(st.live, 0);
        CHECK_EQ(st.completed + st.killed, (uint64_t)atomic_load(&gr_submitted));
        CHECK(atomic_load(&gr_runs) <= atomic_load(&gr_submitted));
        CHECK(atomic_load(&gr_submitted) < 4 * 1093);   /* the cancel cut the tree short */
        CHECK_RC(tg_group_submit(g, &th_nop_op, NULL, 0, NULL), TG_EKILLED);
        for (int i = 0; i < 4; i++) CHECK_RC(tg_release(s, roots[i]), TG_OK);
        tg_group_destroy(g);
        TH_FINISH(s);
    }
}

/* Destroy with members live: queued ones end KILLED, a running one is
   asked to stop; the slots come back and tg_wait_idle returns. */
TG_TEST(groups_destroy_with_live_members_cancels_them)
{
    tg_scheduler *s = th_sched(1);
    th_gate gate;
    th_gate_init(&gate, 1);
    th_gate *gp = &gate;
    tg_group *g;
    REQUIRE(tg_group_create(s, &g) == TG_OK);
    tg_token running, queued;
    REQUIRE(tg_group_submit(g, &th_gate_op, &gp, sizeof gp, &running) == TG_OK);
    REQUIRE(th_gate_wait_entered(&gate, 1));
    REQUIRE(tg_group_submit(g, &th_nop_op, NULL, 0, &queued) == TG_OK);
    for (int i = 0; i < 100; i++) REQUIRE(tg_group_submit(g, &th_nop_op, NULL, 0, NULL) == TG_OK);
    tg_group_destroy(g);
    CHECK_RC(tg_wait(s, queued, TH_LONG_NS, NULL), TG_EKILLED);
    CHECK_RC(tg_wait(s, running, TH_LONG_NS, NULL), TG_EKILLED);
    CHECK_EQ(atomic_load(&gate.stopped), 1);
    CHECK_RC(tg_release(s, queued), TG_OK);
    CHECK_RC(tg_release(s, running), TG_OK);
    struct tg_stats st;
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.killed, 102);
    TH_FINISH(s);
}

/* ------------------------------------------------ threads and inheritance */

/* Four outside threads, each with groups of its own on one scheduler:
   each group's wait sees exactly its own members' work. */
typedef struct gr_thread_arg { tg_scheduler *s; int id; int ok; } gr_thread_arg;

static int gr_add_fn(const void *args, tg_value *result)
{
    atomic_long *sum = *(atomic_long *const *)args;
    atomic_fetch_add(sum, 1);
    result->i = 0;
    return 0;
}

static void *gr_thread_main(void *p)
{
    gr_thread_arg *a = (gr_thread_arg *)p;
    static const tg_op op = { .name = "gr_add", .fn = gr_add_fn };
    a->ok = 1;
    for (int round = 0; round < 50; round++) {
        atomic_long sum = 0;
        atomic_long *sp = &sum;
        tg_group *g;
        if (tg_group_create(a->s, &g) != TG_OK) { a->ok = 0; return NULL; }
        int n = 20 + a->id * 7 + round;
        for (int i = 0; i < n; i++)
            if (tg_group_submit(g, &op, &sp, sizeof sp, NULL) != TG_OK) a->ok = 0;
        if (tg_group_wait(g, TH_LONG_NS) != TG_OK || atomic_load(&sum) != n) a->ok = 0;
        tg_group_destroy(g);
    }
    return NULL;
}

TG_TEST(groups_four_threads_with_their_own_groups)
{
    tg_scheduler *s = th_sched(2);
    pthread_t th[4];
    gr_thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (gr_thread_arg){ s, i, 0 };
        REQUIRE(pthread_create(&th[i], NULL, gr_thread_main, &args[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].ok, 1);
    }
    TH_FINISH(s);
}

/* tg_submit_batch and tg_submit_after from inside a member join its
   group too. */
static atomic_int gr_inner_done;

static int gr_inner_fn(const void *args, tg_value *result)
{
    (void)args;
    th_sleep_ms(2);
    atomic_fetch_add(&gr_inner_done, 1);
    result->i = 0;
    return 0;
}

static const tg_op gr_inner_op = { .name = "gr_inner", .fn = gr_inner_fn };

static int gr_outer_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_scheduler *s = tg_current_scheduler();
    const tg_op *op = &gr_inner_op;
    char blocks[8] = { 0 };
    size_t n = 0;
    tg_token first;
    if (tg_submit(s, op, NULL, 0, &first) != TG_OK) return 1;
    if (tg_submit_batch(s, op, blocks, 1, 8, NULL, &n) != TG_OK || n != 8) return 2;
    if (tg_submit_after(s, op, NULL, 0, &first, 1, NULL) != TG_OK) return 3;
    tg_release(s, first);
    result->i = 0;
    return 0;
}

TG_TEST(groups_batch_and_after_inherit_membership)
{
    tg_scheduler *s = th_sched(2);
    atomic_store(&gr_inner_done, 0);
    tg_group *g;
    REQUIRE(tg_group_create(s, &g) == TG_OK);
    static const tg_op outer = { .name = "gr_outer", .fn = gr_outer_fn };
    REQUIRE(tg_group_submit(g, &outer, NULL, 0, NULL) == TG_OK);
    CHECK_RC(tg_group_wait(g, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&gr_inner_done), 10);
    tg_group_destroy(g);
    TH_FINISH(s);
}

/* ------------------------------------------------------------ bad input */

TG_TEST(groups_bad_input)
{
    tg_scheduler *s = th_sched(1);
    tg_group *g = (tg_group *)1;
    CHECK_RC(tg_group_create(NULL, &g), TG_EINVAL);
    CHECK_RC(tg_group_create(s, NULL), TG_EINVAL);
    CHECK_RC(tg_group_submit(NULL, &th_nop_op, NULL, 0, NULL), TG_EINVAL);
    CHECK_RC(tg_group_wait(NULL, 0), TG_EINVAL);
    CHECK_RC(tg_group_cancel(NULL), TG_EINVAL);
    tg_group_destroy(NULL);
    REQUIRE(tg_group_create(s, &g) == TG_OK);
    tg_token t = TG_TOKEN_NONE;
    CHECK_RC(tg_group_submit(g, NULL, NULL, 0, &t), TG_EINVAL);
    CHECK_EQ(t.bits, 0);
    CHECK_RC(tg_group_submit(g, &th_nop_op, NULL, 5, NULL), TG_EINVAL);
    tg_group_destroy(g);
    CHECK_RC(tg_group_wait(g, 0), TG_EINVAL);             /* destroyed (not reused yet) */
    CHECK_RC(tg_group_submit(g, &th_nop_op, NULL, 0, NULL), TG_EINVAL);
    TH_FINISH(s);
}

/* ----------------------------------------------- a deep chain of groups */

/* Each level makes a group, submits the next level into it and waits
   (-1): a linear recursion 2000 deep. Every wait must end TG_OK (no
   false TG_EDEADLK while spares are free), nothing may end killed. The
   wait takes its member as tg_wait takes its token, even when a thief
   already holds the queue entry. */
static atomic_int gr_chain_errors;
static int gr_chain_fn(const void *args, tg_value *result);
static const tg_op gr_chain_op = { .name = "gr_chain", .fn = gr_chain_fn };

static int gr_chain_fn(const void *args, tg_value *result)
{
    int d = *(const int *)args, next = d - 1;
    result->i = d;
    if (d == 0) return 0;
    tg_group *g;
    if (tg_group_create(tg_current_scheduler(), &g) != TG_OK) return 1;
    int rc = tg_group_submit(g, &gr_chain_op, &next, sizeof next, NULL);
    if (rc == TG_OK) rc = tg_group_wait(g, -1);
    tg_group_destroy(g);
    if (rc != TG_OK && rc != TG_EFAILED) atomic_fetch_add(&gr_chain_errors, 1);
    return rc != TG_OK;
}

TG_TEST(groups_a_2000_deep_chain_of_group_waits)
{
    for (int workers = 1; workers <= 2; workers++) {
        for (int round = 0; round < 3; round++) {
            tg_config cfg = { .workers = (unsigned)workers };   /* pinned, as by default */
            tg_scheduler *s;
            REQUIRE(tg_create(&cfg, &s) == TG_OK);
            atomic_store(&gr_chain_errors, 0);
            int depth = 2000;
            tg_token t;
            int64_t t0 = th_now_ns();
            REQUIRE(tg_submit(s, &gr_chain_op, &depth, sizeof depth, &t) == TG_OK);
            CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
            CHECK_EQ(atomic_load(&gr_chain_errors), 0);
            struct tg_stats st;
            CHECK_RC(tg_stats(s, &st), TG_OK);
            CHECK_EQ(st.killed, 0);
            CHECK_EQ(st.completed, (uint64_t)depth + 1);
            if (round == 0)
                th_note("%d workers: %.1f ms, spares peak %u", workers, (th_now_ns() - t0) / 1e6, st.spares_peak);
            CHECK_RC(tg_release(s, t), TG_OK);
            TH_FINISH(s);
        }
    }
}
