/* test_await.c - tg_poll, tg_wait, tg_wait_all, tg_wait_any and their
   timeouts; tg_kill before and during a run; tg_self, tg_current_core and
   tg_should_stop inside and outside tasks; waiting on oneself; waits inside a
   task running other tokens. */
#include "harness.h"

#include <pthread.h>

static atomic_int aw_ran[64];

static void aw_reset(void)
{
    for (int i = 0; i < 64; i++) atomic_store(&aw_ran[i], 0);
}

static int aw_count_fn(const void *args, tg_value *result)
{
    int id = *(const int *)args;
    atomic_fetch_add(&aw_ran[id], 1);
    result->i = id + 100;
    return 0;
}

static int aw_fail_fn(const void *args, tg_value *result)
{
    (void)args;
    result->i = 0;
    return 9;
}

static const tg_op aw_count_op = { .name = "aw_count", .fn = aw_count_fn };
static const tg_op aw_fail_op = { .name = "aw_fail", .fn = aw_fail_fn };

/* ------------------------------------------------------ poll and timeouts */

TG_TEST(await_poll_never_blocks)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, queued;
    int live_queued = 0, executing_gate = 0;
    int id = 1;

    aw_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    REQUIRE(tg_submit(s, &aw_count_op, &id, sizeof id, &queued) == TG_OK);
    for (int i = 0; i < 1000; i++) {
        tg_state st = TG_COMPLETED;
        if (tg_poll(s, queued, &st) == TG_OK && !th_is_terminal(st))
            live_queued++;
        if (tg_poll(s, gate_t, &st) == TG_OK && st == TG_EXECUTING)
            executing_gate++;
    }
    /* The gate is still closed: every poll returned without an end. */
    CHECK_EQ(atomic_load(&g.left), 0);
    CHECK_EQ(live_queued, 1000);
    CHECK_EQ(executing_gate, 1000);
    th_gate_open(&g);
    CHECK_RC(tg_wait(s, queued, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(s, gate_t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, queued), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    tg_destroy(s);
}

TG_TEST(await_wait_timeouts)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token t[2];
    tg_state st = TG_COMPLETED;
    tg_value v = { 0 };
    size_t index = 99;
    int64_t t0, took;
    int id = 5;

    aw_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &t[0]) == TG_OK);
    REQUIRE(tg_submit(s, &aw_count_op, &id, sizeof id, &t[1]) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));

    CHECK_RC(tg_wait(s, t[0], 0, &v), TG_ETIMEDOUT);
    CHECK_RC(tg_wait(s, t[1], 0, &v), TG_ETIMEDOUT);
    t0 = th_now_ns();
    CHECK_RC(tg_wait(s, t[1], 10 * TH_MS, &v), TG_ETIMEDOUT);
    took = th_now_ns() - t0;
    CHECK(took >= 10 * TH_MS - TH_MS / 2);
    CHECK_RC(tg_wait_all(s, t, 2, 0), TG_ETIMEDOUT);
    t0 = th_now_ns();
    CHECK_RC(tg_wait_all(s, t, 2, 10 * TH_MS), TG_ETIMEDOUT);
    CHECK(th_now_ns() - t0 >= 10 * TH_MS - TH_MS / 2);
    CHECK_RC(tg_wait_any(s, t, 2, 0, &index), TG_ETIMEDOUT);
    t0 = th_now_ns();
    CHECK_RC(tg_wait_any(s, t, 2, 10 * TH_MS, &index), TG_ETIMEDOUT);
    CHECK(th_now_ns() - t0 >= 10 * TH_MS - TH_MS / 2);

    /* The timed-out waits changed nothing: the token is live and ends. */
    CHECK_RC(tg_poll(s, t[1], &st), TG_OK);
    CHECK(!th_is_terminal(st));
    CHECK_EQ(atomic_load(&aw_ran[5]), 0);
    th_gate_open(&g);
    CHECK_RC(tg_wait(s, t[1], -1, &v), TG_OK);
    CHECK_EQ(v.i, 105);
    CHECK_EQ(atomic_load(&aw_ran[5]), 1);
    CHECK_RC(tg_wait_all(s, t, 2, -1), TG_OK);
    CHECK_RC(tg_release(s, t[0]), TG_OK);
    CHECK_RC(tg_release(s, t[1]), TG_OK);
    tg_destroy(s);
}

TG_TEST(await_wait_all_semantics)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, t[3];
    tg_value v = { 0 };
    int id = 7;

    aw_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_wait_all(s, NULL, 0, -1), TG_OK);
    CHECK_RC(tg_wait_all(s, t, 0, 0), TG_OK);

    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    REQUIRE(tg_submit(s, &aw_count_op, &id, sizeof id, &t[0]) == TG_OK);
    REQUIRE(tg_submit(s, &aw_fail_op, NULL, 0, &t[1]) == TG_OK);
    REQUIRE(tg_submit(s, &aw_count_op, &id, sizeof id, &t[2]) == TG_OK);
    CHECK_RC(tg_kill(s, t[2]), TG_OK);
    CHECK_RC(tg_wait_all(s, t, 3, 10 * TH_MS), TG_ETIMEDOUT);
    th_gate_open(&g);

    /* TG_OK once all are terminal, whatever their outcomes. */
    CHECK_RC(tg_wait_all(s, t, 3, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_wait(s, t[0], 0, &v), TG_OK);
    CHECK_EQ(v.i, 107);
    CHECK_RC(tg_wait(s, t[1], 0, NULL), TG_EFAILED);
    CHECK_RC(tg_wait(s, t[2], 0, NULL), TG_EKILLED);
    CHECK_EQ(atomic_load(&aw_ran[7]), 1);
    /* Again, and with a 0 timeout, now that all ended. */
    CHECK_RC(tg_wait_all(s, t, 3, 0), TG_OK);
    for (int i = 0; i < 3; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    tg_destroy(s);
}

typedef struct aw_any_waiter {
    tg_scheduler *s;
    const tg_token *t;
    size_t n;
    int rc;
    size_t index;
    atomic_int started;
    atomic_int done;
} aw_any_waiter;

static void *aw_any_main(void *arg)
{
    aw_any_waiter *w = arg;
    atomic_store(&w->started, 1);
    w->rc = tg_wait_any(w->s, w->t, w->n, TH_LONG_NS, &w->index);
    atomic_store(&w->done, 1);
    return NULL;
}

TG_TEST(await_wait_any_semantics)
{
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate ga, gb;
    tg_token gates[2], arr[3], done[2], failed;
    size_t index = 99;
    aw_any_waiter w;
    pthread_t th;
    int ids[2] = { 1, 2 };

    aw_reset();
    th_gate_init(&ga, 0);
    th_gate_init(&gb, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_wait_any(s, NULL, 0, 0, &index), TG_EINVAL);
    REQUIRE(th_submit_gate(s, &th_gate_heavy_op, &ga, &gates[0]) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_heavy_op, &gb, &gates[1]) == TG_OK);
    CHECK(th_gate_wait_entered(&ga, 1));
    CHECK(th_gate_wait_entered(&gb, 1));
    CHECK_RC(tg_wait_any(s, gates, 0, 0, &index), TG_EINVAL);
    CHECK_RC(tg_wait_any(s, gates, 2, 0, NULL), TG_EINVAL);
    CHECK_RC(tg_wait_any(s, gates, 2, 10 * TH_MS, &index), TG_ETIMEDOUT);

    /* A waiter blocked on both gates wakes when the second one opens. */
    w.s = s;
    w.t = gates;
    w.n = 2;
    w.rc = 12345;
    w.index = 99;
    atomic_init(&w.started, 0);
    atomic_init(&w.done, 0);
    REQUIRE(pthread_create(&th, NULL, aw_any_main, &w) == 0);
    CHECK(TH_WAIT_UNTIL(atomic_load(&w.started), 10000));   /* then it waits */
    th_sleep_ms(20);
    CHECK_EQ(atomic_load(&w.done), 0);
    th_gate_open(&gb);
    CHECK(TH_WAIT_UNTIL(atomic_load(&w.done), 10000));
    pthread_join(th, NULL);
    CHECK_RC(w.rc, TG_OK);
    CHECK_EQ(w.index, 1);
    CHECK_EQ(atomic_load(&ga.left), 0); /* the first one still runs */

    /* With one worker free, finished tokens: the first terminal in array
       order is reported, failed counts as terminal. */
    REQUIRE(tg_submit(s, &aw_count_op, &ids[0], sizeof ids[0], &done[0]) == TG_OK);
    REQUIRE(tg_submit(s, &aw_count_op, &ids[1], sizeof ids[1], &done[1]) == TG_OK);
    REQUIRE(tg_submit(s, &aw_fail_op, NULL, 0, &failed) == TG_OK);
    CHECK_RC(tg_wait_all(s, done, 2, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_wait(s, failed, TH_LONG_NS, NULL), TG_EFAILED);

    CHECK_RC(tg_wait_any(s, done, 2, -1, &index), TG_OK);
    CHECK_EQ(index, 0);
    arr[0] = gates[0];
    arr[1] = failed;
    arr[2] = done[0];
    index = 99;
    CHECK_RC(tg_wait_any(s, arr, 3, 0, &index), TG_OK);
    CHECK_EQ(index, 1);
    arr[1] = gates[0];
    arr[0] = gates[0];
    index = 99;
    CHECK_RC(tg_wait_any(s, arr, 3, TH_LONG_NS, &index), TG_OK);
    CHECK_EQ(index, 2);

    th_gate_open(&ga);
    CHECK_RC(tg_wait_all(s, gates, 2, TH_LONG_NS), TG_OK);
    for (int i = 0; i < 2; i++) {
        CHECK_RC(tg_release(s, gates[i]), TG_OK);
        CHECK_RC(tg_release(s, done[i]), TG_OK);
    }
    CHECK_RC(tg_release(s, failed), TG_OK);
    tg_destroy(s);
}

/* ------------------------------------------------------------------ kill */

TG_TEST(await_kill_unstarted_never_runs)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, victim, sentinel, done, failed;
    tg_state st = TG_CREATED;
    tg_token_info info;
    tg_value v = { 0 };
    struct tg_stats stats;
    int ids[3] = { 10, 11, 12 };

    aw_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    /* Ended tokens first: killing them is TG_OK and changes nothing. */
    REQUIRE(tg_submit(s, &aw_count_op, &ids[2], sizeof ids[2], &done) == TG_OK);
    REQUIRE(tg_submit(s, &aw_fail_op, NULL, 0, &failed) == TG_OK);
    CHECK_RC(tg_wait(s, done, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(s, failed, TH_LONG_NS, NULL), TG_EFAILED);
    CHECK_RC(tg_kill(s, done), TG_OK);
    CHECK_RC(tg_kill(s, failed), TG_OK);
    CHECK_RC(tg_poll(s, done, &st), TG_OK);
    CHECK_EQ(st, TG_COMPLETED);
    CHECK_RC(tg_wait(s, done, 0, &v), TG_OK);
    CHECK_EQ(v.i, 112);
    CHECK_RC(tg_poll(s, failed, &st), TG_OK);
    CHECK_EQ(st, TG_FAILED);

    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    REQUIRE(tg_submit(s, &aw_count_op, &ids[0], sizeof ids[0], &victim) == TG_OK);
    REQUIRE(tg_submit(s, &aw_count_op, &ids[1], sizeof ids[1], &sentinel) == TG_OK);
    CHECK_RC(tg_kill(s, victim), TG_OK);
    CHECK_RC(tg_poll(s, victim, &st), TG_OK);
    CHECK_EQ(st, TG_KILLED);
    CHECK_RC(tg_wait(s, victim, 0, NULL), TG_EKILLED);
    CHECK_RC(tg_kill(s, victim), TG_OK); /* already ended */

    th_gate_open(&g);
    /* The sentinel was queued after the victim: once it ran, the worker has
       gone past the victim's place. */
    CHECK_RC(tg_wait(s, sentinel, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(s, victim, TH_LONG_NS, NULL), TG_EKILLED);
    th_sleep_ms(10);
    CHECK_EQ(atomic_load(&aw_ran[10]), 0);
    CHECK_EQ(atomic_load(&aw_ran[11]), 1);
    CHECK_RC(tg_info(s, victim, &info), TG_OK);
    CHECK_EQ(info.state, TG_KILLED);
    CHECK_EQ(info.started_ns, 0);
    CHECK(info.ended_ns > 0);
    CHECK(info.ended_ns >= info.created_ns);
    CHECK(TH_WAIT_UNTIL(tg_stats(s, &stats) == TG_OK && stats.killed == 1,
                        5000));
    CHECK_EQ(stats.killed, 1);

    CHECK_RC(tg_release(s, victim), TG_OK);
    CHECK_RC(tg_release(s, sentinel), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    CHECK_RC(tg_release(s, done), TG_OK);
    CHECK_RC(tg_release(s, failed), TG_OK);
    tg_destroy(s);
}

/* Runs until asked to stop; then returns `ret` with a result of 42. */
static atomic_int aw_coop_entered;
static atomic_int aw_coop_saw_stop;

static int aw_coop_fn(const void *args, tg_value *result)
{
    int ret = *(const int *)args;
    int64_t end = th_now_ns() + 30 * TH_SEC;
    atomic_fetch_add(&aw_coop_entered, 1);
    while (th_now_ns() < end) {
        if (tg_should_stop()) {
            atomic_fetch_add(&aw_coop_saw_stop, 1);
            break;
        }
        th_sleep_us(100);
    }
    result->i = 42;
    return ret;
}

static const tg_op aw_coop_op = { .name = "coop", .fn = aw_coop_fn };

typedef struct aw_waiter {
    tg_scheduler *s;
    tg_token t;
    int rc;
    atomic_int started; /* about to call tg_wait */
    atomic_int done;    /* tg_wait returned */
} aw_waiter;

static void *aw_wait_main(void *arg)
{
    aw_waiter *w = arg;
    atomic_store(&w->started, 1);
    w->rc = tg_wait(w->s, w->t, TH_LONG_NS, NULL);
    atomic_store(&w->done, 1);
    return NULL;
}

TG_TEST(await_kill_running_is_cooperative)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    static const int rets[2] = { 0, 5 };

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int k = 0; k < 2; k++) {
        tg_token t;
        tg_state st = TG_CREATED;
        tg_token_info info;
        tg_value v = { .i = -1 };
        aw_waiter w;
        pthread_t th;

        atomic_store(&aw_coop_entered, 0);
        atomic_store(&aw_coop_saw_stop, 0);
        REQUIRE(tg_submit(s, &aw_coop_op, &rets[k], sizeof rets[k], &t) == TG_OK);
        CHECK(TH_WAIT_UNTIL(atomic_load(&aw_coop_entered) == 1, 10000));
        CHECK_RC(tg_poll(s, t, &st), TG_OK);
        CHECK_EQ(st, TG_EXECUTING);
        w.s = s;
        w.t = t;
        w.rc = 12345;
        atomic_init(&w.started, 0);
        atomic_init(&w.done, 0);
        REQUIRE(pthread_create(&th, NULL, aw_wait_main, &w) == 0);
        CHECK(TH_WAIT_UNTIL(atomic_load(&w.started), 10000));
        th_sleep_ms(10);

        CHECK_RC(tg_kill(s, t), TG_OK);
        CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_EKILLED);
        pthread_join(th, NULL);
        CHECK_RC(w.rc, TG_EKILLED);
        CHECK_EQ(atomic_load(&aw_coop_saw_stop), 1);
        CHECK_RC(tg_poll(s, t, &st), TG_OK);
        CHECK_EQ(st, TG_KILLED); /* not COMPLETED, not FAILED */
        CHECK_RC(tg_info(s, t, &info), TG_OK);
        CHECK_EQ(info.state, TG_KILLED);
        CHECK(info.started_ns > 0);
        CHECK(info.ended_ns >= info.started_ns);
        CHECK_RC(tg_release(s, t), TG_OK);
    }
    /* The worker is free again and tg_should_stop is reset for the next. */
    {
        tg_token t;
        tg_value v = { 0 };
        int id = 20;
        CHECK_RC(tg_submit(s, &aw_count_op, &id, sizeof id, &t), TG_OK);
        CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_OK);
        CHECK_EQ(v.i, 120);
        CHECK_RC(tg_release(s, t), TG_OK);
    }
    tg_destroy(s);
}

/* ------------------------------------------------- inside and outside tasks */

static atomic_ullong aw_self_bits[16];
static atomic_int aw_self_core[16];
static atomic_int aw_self_stop[16];

static int aw_self_fn(const void *args, tg_value *result)
{
    int id = *(const int *)args;
    atomic_store(&aw_self_bits[id], tg_self().bits);
    atomic_store(&aw_self_core[id], tg_current_core());
    atomic_store(&aw_self_stop[id], tg_should_stop());
    result->i = id;
    return 0;
}

static const tg_op aw_self_op = { .name = "self", .fn = aw_self_fn,
                                  .weight = TG_HEAVY };

TG_TEST(await_self_inside_task)
{
    tg_config cfg = { .workers = 3, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t[16];
    int self_ok = 0, core_ok = 0, stop_ok = 0, distinct = 1;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 16; i++) {
        atomic_store(&aw_self_bits[i], 0);
        atomic_store(&aw_self_core[i], -5);
        atomic_store(&aw_self_stop[i], -5);
    }
    for (int i = 0; i < 12; i++)
        REQUIRE(tg_submit(s, &aw_self_op, &i, sizeof i, &t[i]) == TG_OK);
    for (int i = 12; i < 16; i++) /* detached: still a token of its own */
        REQUIRE(tg_submit(s, &aw_self_op, &i, sizeof i, NULL) == TG_OK);
    for (int i = 0; i < 12; i++) {
        tg_token_info info;
        CHECK_RC(tg_wait(s, t[i], TH_LONG_NS, NULL), TG_OK);
        CHECK_RC(tg_info(s, t[i], &info), TG_OK);
        if (atomic_load(&aw_self_bits[i]) == t[i].bits) self_ok++;
        if (atomic_load(&aw_self_core[i]) == info.core) core_ok++;
        if (atomic_load(&aw_self_stop[i]) == 0) stop_ok++;
        for (int j = 0; j < i; j++)
            if (t[i].bits == t[j].bits) distinct = 0;
    }
    CHECK_EQ(self_ok, 12);
    CHECK_EQ(core_ok, 12);
    CHECK_EQ(stop_ok, 12);
    CHECK(distinct);
    CHECK(TH_WAIT_UNTIL(atomic_load(&aw_self_stop[12]) == 0 &&
                            atomic_load(&aw_self_stop[13]) == 0 &&
                            atomic_load(&aw_self_stop[14]) == 0 &&
                            atomic_load(&aw_self_stop[15]) == 0,
                        10000));
    for (int i = 12; i < 16; i++) {
        CHECK(atomic_load(&aw_self_bits[i]) != 0);
        CHECK(atomic_load(&aw_self_core[i]) >= 0);
        CHECK(atomic_load(&aw_self_core[i]) < 3);
    }
    for (int i = 0; i < 12; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    tg_destroy(s);
}

typedef struct aw_outside {
    uint64_t self_bits;
    int core;
    int stop;
} aw_outside;

static void *aw_outside_main(void *arg)
{
    aw_outside *o = arg;
    o->self_bits = tg_self().bits;
    o->core = tg_current_core();
    o->stop = tg_should_stop();
    return NULL;
}

TG_TEST(await_self_outside_task)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    aw_outside o = { 99, 99, 99 };
    pthread_t th;
    tg_token t;

    CHECK_EQ(tg_self().bits, TG_TOKEN_NONE.bits);
    CHECK_EQ(tg_current_core(), -1);
    CHECK_EQ(tg_should_stop(), 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    /* Also with a scheduler running, and after this thread awaited one. */
    REQUIRE(tg_submit(s, &th_nop_op, NULL, 0, &t) == TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_EQ(tg_self().bits, 0);
    CHECK_EQ(tg_current_core(), -1);
    CHECK_EQ(tg_should_stop(), 0);
    REQUIRE(pthread_create(&th, NULL, aw_outside_main, &o) == 0);
    pthread_join(th, NULL);
    CHECK_EQ(o.self_bits, 0);
    CHECK_EQ(o.core, -1);
    CHECK_EQ(o.stop, 0);
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);
}

/* A task that waits on its own handle, in every way. */
static atomic_int aw_deadlk_rc[6];
static atomic_int aw_deadlk_state;

static int aw_wait_self_fn(const void *args, tg_value *result)
{
    tg_scheduler *s = *(tg_scheduler *const *)args;
    tg_token me = tg_self();
    size_t index = 0;
    tg_state st = TG_CREATED;
    int rc;

    atomic_store(&aw_deadlk_rc[0], tg_wait(s, me, 2 * TH_SEC, NULL));
    atomic_store(&aw_deadlk_rc[1], tg_wait_all(s, &me, 1, 2 * TH_SEC));
    atomic_store(&aw_deadlk_rc[2], tg_wait_any(s, &me, 1, 2 * TH_SEC, &index));
    rc = tg_poll(s, me, &st);
    atomic_store(&aw_deadlk_rc[3], rc);
    atomic_store(&aw_deadlk_state, (int)st);
    /* Forever, only if the bounded wait was refused (no hang otherwise). */
    if (atomic_load(&aw_deadlk_rc[0]) == TG_EDEADLK)
        atomic_store(&aw_deadlk_rc[4], tg_wait(s, me, -1, NULL));
    else
        atomic_store(&aw_deadlk_rc[4], 1);
    result->i = 1;
    return 0;
}

static const tg_op aw_wait_self_op = { .name = "wait_self",
                                       .fn = aw_wait_self_fn };

TG_TEST(await_task_waiting_on_itself_is_edeadlk)
{
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t;

    for (int i = 0; i < 6; i++) atomic_store(&aw_deadlk_rc[i], 12345);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(tg_submit(s, &aw_wait_self_op, &s, sizeof s, &t) == TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(atomic_load(&aw_deadlk_rc[0]), TG_EDEADLK);
    CHECK_RC(atomic_load(&aw_deadlk_rc[1]), TG_EDEADLK);
    CHECK_RC(atomic_load(&aw_deadlk_rc[2]), TG_EDEADLK);
    CHECK_RC(atomic_load(&aw_deadlk_rc[3]), TG_OK);
    CHECK_EQ(atomic_load(&aw_deadlk_state), TG_EXECUTING);
    CHECK_RC(atomic_load(&aw_deadlk_rc[4]), TG_EDEADLK);
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);
}

/* A wait whose handle is released while it sleeps returns TG_ESTALE, and the
   released token still runs to its end. */
TG_TEST(await_wait_released_while_sleeping)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, t;
    aw_waiter w;
    pthread_t th;
    int id = 30;

    aw_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    REQUIRE(tg_submit(s, &aw_count_op, &id, sizeof id, &t) == TG_OK);
    w.s = s;
    w.t = t;
    w.rc = 12345;
    atomic_init(&w.started, 0);
    atomic_init(&w.done, 0);
    REQUIRE(pthread_create(&th, NULL, aw_wait_main, &w) == 0);
    /* the waiter is in its wait (the token is queued behind the gate), not
       yet returned, when the handle is released under it */
    CHECK(TH_WAIT_UNTIL(atomic_load(&w.started), 10000));
    th_sleep_ms(20);
    CHECK_EQ(atomic_load(&w.done), 0);
    CHECK_RC(tg_release(s, t), TG_OK);
    th_gate_open(&g);
    pthread_join(th, NULL);
    CHECK_RC(w.rc, TG_ESTALE);
    CHECK(TH_WAIT_UNTIL(atomic_load(&aw_ran[30]) == 1, 10000));
    CHECK_RC(tg_wait(s, gate_t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 5000));
    tg_destroy(s);
}

/* With one worker, a task waits for tokens queued behind it in the mailbox:
   the wait has to run them itself. The handles come through atomics, set
   by the test after the task started. */
static atomic_ullong aw_later[3];
static atomic_int aw_inner_rc[3];

static int aw_wait_later_fn(const void *args, tg_value *result)
{
    tg_scheduler *s = *(tg_scheduler *const *)args;
    tg_token t[3];
    size_t index = 99;
    int64_t end = th_now_ns() + 30 * TH_SEC;
    for (int i = 0; i < 3; i++) {
        while (atomic_load(&aw_later[i]) == 0 && th_now_ns() < end)
            th_sleep_us(100);
        t[i].bits = atomic_load(&aw_later[i]);
    }
    atomic_store(&aw_inner_rc[0], tg_wait(s, t[0], 20 * TH_SEC, NULL));
    atomic_store(&aw_inner_rc[1], tg_wait_any(s, &t[1], 1, 20 * TH_SEC, &index));
    atomic_store(&aw_inner_rc[2], tg_wait_all(s, t, 3, 20 * TH_SEC));
    result->i = 1;
    return 0;
}

static const tg_op aw_wait_later_op = { .name = "wait_later",
                                        .fn = aw_wait_later_fn };

TG_TEST(await_wait_inside_task_runs_other_tokens)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token outer, t[3];
    int ids[3] = { 40, 41, 42 };

    aw_reset();
    for (int i = 0; i < 3; i++) {
        atomic_store(&aw_later[i], 0);
        atomic_store(&aw_inner_rc[i], 12345);
    }
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(tg_submit(s, &aw_wait_later_op, &s, sizeof s, &outer) == TG_OK);
    for (int i = 0; i < 3; i++) {
        REQUIRE(tg_submit(s, &aw_count_op, &ids[i], sizeof ids[i], &t[i]) == TG_OK);
        atomic_store(&aw_later[i], t[i].bits);
    }
    CHECK_RC(tg_wait(s, outer, TH_LONG_NS, NULL), TG_OK);
    for (int i = 0; i < 3; i++) {
        CHECK_RC(atomic_load(&aw_inner_rc[i]), TG_OK);
        CHECK_EQ(atomic_load(&aw_ran[40 + i]), 1);
        CHECK_RC(tg_release(s, t[i]), TG_OK);
    }
    CHECK_RC(tg_release(s, outer), TG_OK);
    tg_destroy(s);
}

/* ------------------------------------------------------------ wait_idle */

static atomic_long aw_idle_count;
static tg_scheduler *aw_idle_sched;
static atomic_int aw_idle_inside_rc;

static int aw_idle_count_fn(const void *args, tg_value *result)
{
    atomic_fetch_add(&aw_idle_count, *(const int *)args);
    result->i = 0;
    return 0;
}
static const tg_op aw_idle_count_op = { .name = "idle_count", .fn = aw_idle_count_fn };

static int aw_idle_inside_fn(const void *args, tg_value *result)
{
    (void)args;
    atomic_store(&aw_idle_inside_rc, tg_wait_idle(aw_idle_sched, 0));
    result->i = 0;
    return 0;
}
static const tg_op aw_idle_inside_op = { .name = "idle_inside", .fn = aw_idle_inside_fn };

/* Detached tokens have no handle to wait on: tg_wait_idle returns once every
   one of them has ended, and not before. */
TG_TEST(await_wait_idle_detached_tokens)
{
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_wait_idle(s, 0), TG_OK);
    CHECK_RC(tg_wait_idle(NULL, 0), TG_EINVAL);

    th_gate_init(&g, 0);
    REQUIRE(th_submit_gate(s, &th_gate_heavy_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    CHECK_RC(tg_wait_idle(s, 0), TG_ETIMEDOUT);
    CHECK_RC(tg_wait_idle(s, 10 * TH_MS), TG_ETIMEDOUT);
    th_gate_open(&g);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);

    atomic_store(&aw_idle_count, 0);
    long expected = 0;
    for (int round = 0; round < 3; round++) {
        for (int i = 1; i <= 20000; i++) {
            REQUIRE(tg_submit(s, &aw_idle_count_op, &i, sizeof i, NULL) == TG_OK);
            expected += i;
        }
        CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
        CHECK_EQ(atomic_load(&aw_idle_count), expected);
        CHECK_EQ(th_stat_live(s), 0);
    }
    CHECK_EQ(th_stat_slots_in_use(s), 0);

    /* inside a task it would wait on itself */
    aw_idle_sched = s;
    tg_token t;
    REQUIRE(tg_submit(s, &aw_idle_inside_op, NULL, 0, &t) == TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(atomic_load(&aw_idle_inside_rc), TG_EDEADLK);
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);
}
