/* test_lifecycle.c - create, shutdown (DRAIN, CANCEL, timeouts, waiters in
   other threads), destroy, and the memory the scheduler takes through its
   allocator. */
#include "harness.h"

#include <pthread.h>

#define LC_MAX 4096

static atomic_int lc_ran[LC_MAX];

static void lc_reset(void)
{
    for (int i = 0; i < LC_MAX; i++) atomic_store(&lc_ran[i], 0);
}

static int lc_ran_total(void)
{
    int n = 0;
    for (int i = 0; i < LC_MAX; i++) n += atomic_load(&lc_ran[i]);
    return n;
}

static int lc_ran_max(void)
{
    int m = 0;
    for (int i = 0; i < LC_MAX; i++)
        if (atomic_load(&lc_ran[i]) > m) m = atomic_load(&lc_ran[i]);
    return m;
}

/* args: int id; marks it ran, result id * 2. */
static int lc_count_fn(const void *args, tg_value *result)
{
    int id = *(const int *)args;
    atomic_fetch_add(&lc_ran[id], 1);
    result->i = (int64_t)id * 2;
    return 0;
}

static const tg_op lc_count_op = { .name = "count", .fn = lc_count_fn };

/* -------------------------------------------------------- create, defaults */

TG_TEST(lifecycle_create_null_and_zeroed_config)
{
    tg_config zero;
    unsigned cpus = th_affinity_cpus();
    memset(&zero, 0, sizeof zero);

    for (int variant = 0; variant < 2; variant++) {
        tg_scheduler *s = NULL;
        struct tg_stats st;
        tg_token t;
        tg_value v = { 0 };
        int id = 21;

        REQUIRE(tg_create(variant ? &zero : NULL, &s) == TG_OK);
        REQUIRE(s != NULL);
        CHECK_EQ(tg_worker_count(s), cpus);
        CHECK_RC(tg_stats(s, &st), TG_OK);
        CHECK_EQ(st.workers, cpus);
        CHECK_EQ(st.live, 0);
        CHECK_EQ(st.slots_in_use, 0);
        CHECK_EQ(st.submitted, 0);
        /* Slots come in chunks of 4096 as they are first needed. */
        CHECK(st.slots_allocated <= 4096);
        CHECK(tg_completion_fd(s) >= 0);

        CHECK_RC(tg_submit(s, &lc_count_op, &id, sizeof id, &t), TG_OK);
        CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_OK);
        CHECK_EQ(v.i, 42);
        CHECK_RC(tg_release(s, t), TG_OK);
        CHECK_RC(tg_stats(s, &st), TG_OK);
        CHECK_EQ(st.submitted, 1);
        CHECK(TH_WAIT_UNTIL(th_stat_live(s) == 0, 5000));
        tg_destroy(s);
    }
}

static uint64_t lc_executed_total(tg_scheduler *s)
{
    static struct tg_stats st;
    uint64_t n = 0;
    if (tg_stats(s, &st) != TG_OK) return 0;
    for (unsigned c = 0; c < st.workers && c < TG_MAX_WORKERS; c++)
        n += st.cores[c].executed;
    return n;
}

TG_TEST(lifecycle_max_workers)
{
    tg_config cfg = { .workers = TG_MAX_WORKERS, .no_pin = 1 };
    tg_scheduler *s = NULL;
    static tg_token t[512];
    struct tg_stats st;
    static const tg_op heavy = { .name = "count_heavy", .fn = lc_count_fn,
                                 .weight = TG_HEAVY };
    int submitted = 0;
    uint64_t executed = 0;

    lc_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_EQ(tg_worker_count(s), TG_MAX_WORKERS);
    for (int i = 0; i < 512; i++)
        if (tg_submit(s, &heavy, &i, sizeof i, &t[i]) == TG_OK) submitted++;
    CHECK_EQ(submitted, 512);
    CHECK_RC(tg_wait_all(s, t, 512, TH_LONG_NS), TG_OK);
    CHECK_EQ(lc_ran_total(), 512);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.workers, TG_MAX_WORKERS);
    /* Counters are exact but may trail the terminal state a moment. */
    CHECK(TH_WAIT_UNTIL(lc_executed_total(s) == 512, 5000));
    executed = lc_executed_total(s);
    CHECK_EQ(executed, 512);
    for (int i = 0; i < 512; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    tg_destroy(s);
}

/* ---------------------------------------------------------------- shutdown */

typedef struct lc_opener {
    th_gate *gate;
    long delay_ms;
} lc_opener;

static void *lc_open_later(void *arg)
{
    lc_opener *o = arg;
    th_sleep_ms(o->delay_ms);
    th_gate_open(o->gate);
    return NULL;
}

TG_TEST(lifecycle_shutdown_drain_runs_everything)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, t[200];
    pthread_t opener;
    lc_opener o;
    struct tg_stats st;
    int ok = 0, results_ok = 0;

    lc_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    /* 200 kept and 200 detached tokens queue behind the gate. */
    for (int i = 0; i < 200; i++) {
        int id = i, did = 1000 + i;
        if (tg_submit(s, &lc_count_op, &id, sizeof id, &t[i]) == TG_OK) ok++;
        if (tg_submit(s, &lc_count_op, &did, sizeof did, NULL) == TG_OK) ok++;
    }
    CHECK_EQ(ok, 400);
    CHECK_EQ(lc_ran_total(), 0);

    o.gate = &g;
    o.delay_ms = 30;
    REQUIRE(pthread_create(&opener, NULL, lc_open_later, &o) == 0);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, TH_LONG_NS), TG_OK);
    pthread_join(opener, NULL);

    /* Everything ran, once, and no token is left live. */
    CHECK_EQ(lc_ran_total(), 400);
    CHECK_EQ(lc_ran_max(), 1);
    CHECK_EQ(th_stat_live(s), 0);
    CHECK_RC(tg_wait(s, gate_t, 0, NULL), TG_OK);
    for (int i = 0; i < 200; i++) {
        tg_value v = { 0 };
        if (tg_wait(s, t[i], 0, &v) == TG_OK && v.i == 2 * i) results_ok++;
        CHECK_RC(tg_release(s, t[i]), TG_OK);
    }
    CHECK_EQ(results_ok, 200);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.completed, 401);
    CHECK_EQ(st.killed, 0);
    CHECK_EQ(st.slots_in_use, 0);
    CHECK_EQ(g.expired, 0);
    tg_destroy(s);
}

/* Tasks that run during a DRAIN shutdown may still submit: each parent
   passes the gate, then submits 5 children and waits for them. */
typedef struct lc_parent_args {
    tg_scheduler *s;
    th_gate *gate;
    int base;
} lc_parent_args;

static atomic_int lc_child_submit_errors;
static atomic_int lc_child_wait_errors;

static int lc_parent_fn(const void *args, tg_value *result)
{
    const lc_parent_args *a = args;
    tg_token kids[5];
    int64_t sum = 0;

    th_gate_fn(&a->gate, result);
    for (int i = 0; i < 5; i++) {
        int id = a->base + i;
        int rc = tg_submit(a->s, &lc_count_op, &id, sizeof id, &kids[i]);
        if (rc != TG_OK) {
            atomic_fetch_add(&lc_child_submit_errors, 1);
            kids[i] = TG_TOKEN_NONE;
        }
    }
    for (int i = 0; i < 5; i++) {
        tg_value v = { 0 };
        if (kids[i].bits == 0) continue;
        if (tg_wait(a->s, kids[i], -1, &v) != TG_OK)
            atomic_fetch_add(&lc_child_wait_errors, 1);
        sum += v.i;
        tg_release(a->s, kids[i]);
    }
    result->i = sum;
    return 0;
}

static const tg_op lc_parent_op = { .name = "parent", .fn = lc_parent_fn };

TG_TEST(lifecycle_shutdown_drain_accepts_nested_submits)
{
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token p[2];
    pthread_t opener;
    lc_opener o;

    lc_reset();
    atomic_store(&lc_child_submit_errors, 0);
    atomic_store(&lc_child_wait_errors, 0);
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 2; i++) {
        lc_parent_args a = { s, &g, i * 10 };
        REQUIRE(tg_submit(s, &lc_parent_op, &a, sizeof a, &p[i]) == TG_OK);
    }
    CHECK(th_gate_wait_entered(&g, 2));
    o.gate = &g;
    o.delay_ms = 30;
    REQUIRE(pthread_create(&opener, NULL, lc_open_later, &o) == 0);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, TH_LONG_NS), TG_OK);
    pthread_join(opener, NULL);

    CHECK_EQ(atomic_load(&lc_child_submit_errors), 0);
    CHECK_EQ(atomic_load(&lc_child_wait_errors), 0);
    CHECK_EQ(lc_ran_total(), 10);
    for (int i = 0; i < 2; i++) {
        tg_value v = { 0 };
        int base = i * 10;
        CHECK_RC(tg_wait(s, p[i], 0, &v), TG_OK);
        CHECK_EQ(v.i, 2 * (5 * base + 10));
        CHECK_RC(tg_release(s, p[i]), TG_OK);
    }
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 5000));
    tg_destroy(s);
}

TG_TEST(lifecycle_shutdown_cancel_kills_unstarted)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, t[50];
    struct tg_stats st;
    int ok = 0, killed = 0, never_started = 0;

    lc_reset();
    th_gate_init(&g, 1); /* the gate task honours tg_should_stop */
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    for (int i = 0; i < 50; i++) {
        int id = i, did = 100 + i;
        if (tg_submit(s, &lc_count_op, &id, sizeof id, &t[i]) == TG_OK) ok++;
        if (tg_submit(s, &lc_count_op, &did, sizeof did, NULL) == TG_OK) ok++;
    }
    CHECK_EQ(ok, 100);

    CHECK_RC(tg_shutdown(s, TG_CANCEL, TH_LONG_NS), TG_OK);
    /* The running gate task was asked to stop and ended KILLED. */
    CHECK_EQ(atomic_load(&g.stopped), 1);
    CHECK_RC(tg_wait(s, gate_t, 0, NULL), TG_EKILLED);
    for (int i = 0; i < 50; i++) {
        tg_token_info info;
        if (tg_wait(s, t[i], 0, NULL) == TG_EKILLED) killed++;
        if (tg_info(s, t[i], &info) == TG_OK && info.state == TG_KILLED &&
            info.started_ns == 0 && info.ended_ns > 0)
            never_started++;
    }
    CHECK_EQ(killed, 50);
    CHECK_EQ(never_started, 50);
    th_sleep_ms(20);
    CHECK_EQ(lc_ran_total(), 0); /* no cancelled token ever ran */

    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.live, 0);
    CHECK_EQ(st.killed, 101);
    CHECK_EQ(st.completed, 0);
    /* The detached ones released themselves; the kept handles remain. */
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 51, 5000));
    for (int i = 0; i < 50; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

TG_TEST(lifecycle_submit_after_shutdown)
{
    for (int mode = TG_DRAIN; mode <= TG_CANCEL; mode++) {
        tg_config cfg = { .workers = 2, .no_pin = 1 };
        tg_scheduler *s = NULL;
        tg_token before, after;
        tg_value v = { 0 };
        int id = 3;

        lc_reset();
        REQUIRE(tg_create(&cfg, &s) == TG_OK);
        REQUIRE(tg_submit(s, &lc_count_op, &id, sizeof id, &before) == TG_OK);
        CHECK_RC(tg_wait(s, before, TH_LONG_NS, NULL), TG_OK);
        CHECK_RC(tg_shutdown(s, mode, TH_LONG_NS), TG_OK);

        after.bits = 0xdeadbeef;
        CHECK_RC(tg_submit(s, &lc_count_op, &id, sizeof id, &after),
                 TG_ESHUTDOWN);
        CHECK_EQ(after.bits, 0);
        CHECK_RC(tg_submit(s, &lc_count_op, &id, sizeof id, NULL),
                 TG_ESHUTDOWN);
        /* A second shutdown, in either mode, is TG_OK. */
        CHECK_RC(tg_shutdown(s, TG_DRAIN, TH_LONG_NS), TG_OK);
        CHECK_RC(tg_shutdown(s, TG_CANCEL, 0), TG_OK);
        CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &after), TG_ESHUTDOWN);

        /* Handles taken before the shutdown stay usable until released. */
        CHECK_RC(tg_wait(s, before, 0, &v), TG_OK);
        CHECK_EQ(v.i, 6);
        CHECK_RC(tg_release(s, before), TG_OK);
        CHECK_RC(tg_release(s, before), TG_ESTALE);
        CHECK_EQ(lc_ran_total(), 1);
        CHECK_EQ(th_stat_slots_in_use(s), 0);
        tg_destroy(s);
    }
}

/* ---------------------------------------------- waiters in other threads */

typedef struct lc_waiter {
    tg_scheduler *s;
    const tg_token *tokens;
    size_t n;
    int kind; /* 0: tg_wait on tokens[0], 1: wait_all, 2: wait_any */
    int rc;
    size_t index;
    atomic_int started;
} lc_waiter;

static void *lc_waiter_main(void *arg)
{
    lc_waiter *w = arg;
    atomic_store(&w->started, 1);
    switch (w->kind) {
    case 0: w->rc = tg_wait(w->s, w->tokens[0], TH_LONG_NS, NULL); break;
    case 1: w->rc = tg_wait_all(w->s, w->tokens, w->n, TH_LONG_NS); break;
    default:
        w->rc = tg_wait_any(w->s, w->tokens, w->n, TH_LONG_NS, &w->index);
        break;
    }
    return NULL;
}

static void lc_waiters_released(int mode)
{
    enum { NT = 5, NW = NT + 2 };
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token t[NT];
    lc_waiter w[NW];
    pthread_t th[NW], opener;
    lc_opener o;
    int started = 0;

    lc_reset();
    th_gate_init(&g, 1);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &t[0]) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    for (int i = 1; i < NT; i++)
        REQUIRE(tg_submit(s, &lc_count_op, &i, sizeof i, &t[i]) == TG_OK);

    for (int i = 0; i < NW; i++) {
        w[i].s = s;
        w[i].tokens = i < NT ? &t[i] : t;
        w[i].n = i < NT ? 1 : NT;
        w[i].kind = i < NT ? 0 : (i == NT ? 1 : 2);
        w[i].rc = 12345;
        w[i].index = 999;
        atomic_init(&w[i].started, 0);
        if (pthread_create(&th[i], NULL, lc_waiter_main, &w[i]) == 0) started++;
    }
    REQUIRE(started == NW);
    CHECK(TH_WAIT_UNTIL(atomic_load(&w[NW - 1].started), 10000));
    th_sleep_ms(30); /* let the waiters go to sleep in their waits */

    if (mode == TG_DRAIN) {
        o.gate = &g;
        o.delay_ms = 20;
        REQUIRE(pthread_create(&opener, NULL, lc_open_later, &o) == 0);
    }
    CHECK_RC(tg_shutdown(s, mode, TH_LONG_NS), TG_OK);
    for (int i = 0; i < NW; i++) pthread_join(th[i], NULL);
    if (mode == TG_DRAIN) pthread_join(opener, NULL);

    for (int i = 0; i < NT; i++)
        CHECK_RC(w[i].rc, mode == TG_DRAIN ? TG_OK : TG_EKILLED);
    CHECK_RC(w[NT].rc, TG_OK);     /* wait_all: every token is terminal */
    CHECK_RC(w[NT + 1].rc, TG_OK); /* wait_any */
    if (mode == TG_DRAIN) {
        CHECK_EQ(w[NT + 1].index, 0);   /* the running token ends first */
    } else {
        /* the tokens not started are killed at once, the running one when it
           stops: whichever it saw first had ended */
        tg_state st = TG_CREATED;
        CHECK(w[NT + 1].index < NT);
        CHECK_RC(tg_poll(s, t[w[NT + 1].index < NT ? w[NT + 1].index : 0], &st), TG_OK);
        CHECK_EQ(st, TG_KILLED);
    }
    CHECK_EQ(lc_ran_total(), mode == TG_DRAIN ? NT - 1 : 0);
    if (mode == TG_CANCEL) CHECK_EQ(atomic_load(&g.stopped), 1);
    CHECK_EQ(atomic_load(&g.expired), 0);
    for (int i = 0; i < NT; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    tg_destroy(s);
}

TG_TEST(lifecycle_shutdown_cancel_releases_waiters)
{
    lc_waiters_released(TG_CANCEL);
}

/* TG_CANCEL kills the tokens not started at once, not when a worker gets
   to them: here the only worker runs a token that does not look at
   tg_should_stop, and the queued ones behind it read KILLED while it
   still runs (they used to stay ADMITTED until it returned). */
static atomic_int lc_stubborn_go;

static int lc_stubborn_fn(const void *args, tg_value *result)
{
    (void)args;
    int64_t end = th_now_ns() + 5000 * TH_MS;
    while (!atomic_load(&lc_stubborn_go) && th_now_ns() < end) th_sleep_ms(1);
    result->i = 1;
    return 0;
}

typedef struct lc_shut { tg_scheduler *s; int rc; } lc_shut;

static void *lc_shut_main(void *arg)
{
    lc_shut *sh = arg;
    sh->rc = tg_shutdown(sh->s, TG_CANCEL, TH_LONG_NS);
    return NULL;
}

TG_TEST(lifecycle_shutdown_cancel_kills_queued_tokens_at_once)
{
    static const tg_op stubborn = { .name = "stubborn", .fn = lc_stubborn_fn };
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token run, q[4];
    tg_state st = TG_CREATED;
    pthread_t th;
    atomic_store(&lc_stubborn_go, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &stubborn, NULL, 0, &run), TG_OK);
    CHECK(TH_WAIT_UNTIL((tg_poll(s, run, &st), st == TG_EXECUTING), 5000));
    for (int i = 0; i < 4; i++) CHECK_RC(tg_submit(s, &lc_count_op, &i, sizeof i, &q[i]), TG_OK);
    lc_shut sh = { s, 12345 };
    REQUIRE(pthread_create(&th, NULL, lc_shut_main, &sh) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(TH_WAIT_UNTIL((tg_poll(s, q[i], &st), st == TG_KILLED), 1000));
        CHECK_EQ(st, TG_KILLED);
    }
    CHECK_RC(tg_poll(s, run, &st), TG_OK);
    CHECK_EQ(st, TG_EXECUTING);   /* still running: the kills did not wait for it */
    atomic_store(&lc_stubborn_go, 1);
    pthread_join(th, NULL);
    CHECK_RC(sh.rc, TG_OK);
    CHECK_RC(tg_wait(s, run, 0, NULL), TG_EKILLED);
    for (int i = 0; i < 4; i++) CHECK_RC(tg_release(s, q[i]), TG_OK);
    CHECK_RC(tg_release(s, run), TG_OK);
    /* the queue entries of the killed tokens went before tg_shutdown returned */
    struct tg_stats stats;
    CHECK_RC(tg_stats(s, &stats), TG_OK);
    CHECK_EQ(stats.slots_in_use, 0);
    tg_destroy(s);
}

TG_TEST(lifecycle_shutdown_drain_releases_waiters)
{
    lc_waiters_released(TG_DRAIN);
}

/* A function that ignores tg_should_stop: it returns only once the test lets
   it go. It records whether it was asked to stop. */
static atomic_int lc_deaf_go;
static atomic_int lc_deaf_entered;
static atomic_int lc_deaf_saw_stop;
static atomic_int lc_deaf_returned;

static int lc_deaf_fn(const void *args, tg_value *result)
{
    int64_t end = th_now_ns() + 60 * TH_SEC;
    (void)args;
    atomic_fetch_add(&lc_deaf_entered, 1);
    while (!atomic_load(&lc_deaf_go) && th_now_ns() < end) {
        if (tg_should_stop()) atomic_store(&lc_deaf_saw_stop, 1);
        th_sleep_us(200);
    }
    if (tg_should_stop()) atomic_store(&lc_deaf_saw_stop, 1);
    result->i = 99;
    atomic_fetch_add(&lc_deaf_returned, 1);
    return 0;
}

static const tg_op lc_deaf_op = { .name = "deaf_to_stop", .fn = lc_deaf_fn };

static void lc_shutdown_times_out(int mode)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token deaf, queued[3];
    lc_waiter w;
    pthread_t th;
    tg_state st = TG_CREATED;
    tg_value v = { 0 };
    int64_t t0, took;

    lc_reset();
    atomic_store(&lc_deaf_go, 0);
    atomic_store(&lc_deaf_entered, 0);
    atomic_store(&lc_deaf_saw_stop, 0);
    atomic_store(&lc_deaf_returned, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(tg_submit(s, &lc_deaf_op, NULL, 0, &deaf) == TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&lc_deaf_entered) == 1, 10000));
    for (int i = 0; i < 3; i++)
        REQUIRE(tg_submit(s, &lc_count_op, &i, sizeof i, &queued[i]) == TG_OK);

    w.s = s;
    w.tokens = &deaf;
    w.n = 1;
    w.kind = 0;
    w.rc = 12345;
    atomic_init(&w.started, 0);
    REQUIRE(pthread_create(&th, NULL, lc_waiter_main, &w) == 0);
    CHECK(TH_WAIT_UNTIL(atomic_load(&w.started), 10000));
    th_sleep_ms(20);

    t0 = th_now_ns();
    CHECK_RC(tg_shutdown(s, mode, 50 * TH_MS), TG_ETIMEDOUT);
    took = th_now_ns() - t0;
    CHECK(took >= 45 * TH_MS); /* it did wait for the running function */
    /* The waiter returned although the function still runs. */
    pthread_join(th, NULL);
    CHECK_RC(w.rc, TG_EKILLED);
    CHECK_EQ(atomic_load(&lc_deaf_returned), 0);
    CHECK_EQ(th_stat_live(s), 0);
    CHECK_RC(tg_poll(s, deaf, &st), TG_OK);
    CHECK_EQ(st, TG_KILLED);
    for (int i = 0; i < 3; i++) {
        CHECK_RC(tg_poll(s, queued[i], &st), TG_OK);
        CHECK(th_is_terminal(st));
    }
    if (mode == TG_CANCEL)
        CHECK(TH_WAIT_UNTIL(atomic_load(&lc_deaf_saw_stop), 5000));

    /* Let the function return: its result is discarded, the state stays. */
    atomic_store(&lc_deaf_go, 1);
    CHECK(TH_WAIT_UNTIL(atomic_load(&lc_deaf_returned) == 1, 10000));
    th_sleep_ms(20);
    CHECK_RC(tg_wait(s, deaf, 0, &v), TG_EKILLED);
    CHECK_RC(tg_poll(s, deaf, &st), TG_OK);
    CHECK_EQ(st, TG_KILLED);
    /* The tokens that were queued behind it are ended and never ran. */
    for (int i = 0; i < 3; i++) {
        CHECK_RC(tg_wait(s, queued[i], 0, NULL), TG_EKILLED);
        CHECK_RC(tg_release(s, queued[i]), TG_OK);
    }
    CHECK_EQ(lc_ran_total(), 0);
    CHECK_RC(tg_release(s, deaf), TG_OK);
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 5000));
    tg_destroy(s);
    CHECK_EQ(lc_ran_total(), 0);
}

TG_TEST(lifecycle_shutdown_cancel_timeout)
{
    lc_shutdown_times_out(TG_CANCEL);
}

TG_TEST(lifecycle_shutdown_drain_timeout)
{
    lc_shutdown_times_out(TG_DRAIN);
}

static atomic_int lc_shutdown_from_task_rc;

static int lc_shutdown_self_fn(const void *args, tg_value *result)
{
    tg_scheduler *s = *(tg_scheduler *const *)args;
    atomic_store(&lc_shutdown_from_task_rc, tg_shutdown(s, TG_DRAIN, 0));
    result->i = 1;
    return 0;
}

static const tg_op lc_shutdown_self_op = { .name = "shutdown_self",
                                           .fn = lc_shutdown_self_fn };

TG_TEST(lifecycle_shutdown_from_task_is_edeadlk)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t;

    atomic_store(&lc_shutdown_from_task_rc, 1);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(tg_submit(s, &lc_shutdown_self_op, &s, sizeof s, &t) == TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(atomic_load(&lc_shutdown_from_task_rc), TG_EDEADLK);
    CHECK_RC(tg_release(s, t), TG_OK);
    /* The scheduler is still running. */
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);
}

/* --------------------------------------------------------------- allocator */

typedef struct lc_alloc_counts {
    atomic_llong allocs, frees, bytes_allocated, bytes_freed, refused;
    atomic_int fail;
    atomic_int bad_user;
} lc_alloc_counts;

static lc_alloc_counts lc_counts;

static void lc_counts_reset(void)
{
    atomic_store(&lc_counts.allocs, 0);
    atomic_store(&lc_counts.frees, 0);
    atomic_store(&lc_counts.bytes_allocated, 0);
    atomic_store(&lc_counts.bytes_freed, 0);
    atomic_store(&lc_counts.refused, 0);
    atomic_store(&lc_counts.fail, 0);
    atomic_store(&lc_counts.bad_user, 0);
}

static void *lc_alloc(size_t size, void *user)
{
    void *p;
    if (user != &lc_counts) atomic_store(&lc_counts.bad_user, 1);
    if (atomic_load(&lc_counts.fail)) {
        atomic_fetch_add(&lc_counts.refused, 1);
        return NULL;
    }
    p = malloc(size ? size : 1);
    if (p) {
        atomic_fetch_add(&lc_counts.allocs, 1);
        atomic_fetch_add(&lc_counts.bytes_allocated, (long long)size);
    }
    return p;
}

static void lc_free(void *ptr, size_t size, void *user)
{
    if (user != &lc_counts) atomic_store(&lc_counts.bad_user, 1);
    if (!ptr) return;
    atomic_fetch_add(&lc_counts.frees, 1);
    atomic_fetch_add(&lc_counts.bytes_freed, (long long)size);
    free(ptr);
}

static const tg_allocator lc_allocator = { lc_alloc, lc_free, &lc_counts };

TG_TEST(lifecycle_allocator_balanced)
{
    tg_config cfg = { .workers = 2, .no_pin = 1, .allocator = lc_allocator };
    tg_scheduler *s = NULL;
    static tg_token t[6000];
    static unsigned char big[5000];
    int ok = 0;

    lc_reset();
    lc_counts_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK(atomic_load(&lc_counts.allocs) > 0);
    /* More than one chunk of slots, and arguments of both sizes. */
    for (int i = 0; i < 6000; i++) {
        int id = i % LC_MAX;
        int rc = (i % 10 == 0)
                     ? tg_submit(s, &th_nop_op, big, sizeof big, &t[i])
                     : tg_submit(s, &lc_count_op, &id, sizeof id, &t[i]);
        if (rc == TG_OK) ok++;
    }
    CHECK_EQ(ok, 6000);
    CHECK_RC(tg_wait_all(s, t, 6000, TH_LONG_NS), TG_OK);
    for (int i = 0; i < 6000; i++) tg_release(s, t[i]);
    tg_destroy(s);
    CHECK_EQ(atomic_load(&lc_counts.allocs), atomic_load(&lc_counts.frees));
    CHECK_EQ(atomic_load(&lc_counts.bytes_allocated),
             atomic_load(&lc_counts.bytes_freed));
    CHECK_EQ(atomic_load(&lc_counts.bad_user), 0);
}

TG_TEST(lifecycle_allocator_failure_is_enomem)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .allocator = lc_allocator };
    tg_scheduler *s = (tg_scheduler *)&cfg;
    static tg_token t[10000];
    int ok = 0, nomem = 0, other = 0, first_nomem = -1, completed = 0;
    int rc;

    /* tg_create cannot get memory at all. */
    lc_counts_reset();
    atomic_store(&lc_counts.fail, 1);
    rc = tg_create(&cfg, &s);
    CHECK_RC(rc, TG_ENOMEM);
    if (rc == TG_OK) tg_destroy(s);
    CHECK(atomic_load(&lc_counts.refused) > 0);
    CHECK_EQ(atomic_load(&lc_counts.allocs), atomic_load(&lc_counts.frees));

    /* Memory runs out after creation: a submit that needs a new chunk of
       slots gets TG_ENOMEM, and the scheduler keeps working. */
    lc_counts_reset();
    s = NULL;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    atomic_store(&lc_counts.fail, 1);
    for (int i = 0; i < 10000; i++) {
        t[i].bits = 0xdeadbeef;   /* a refused submit must clear it */
        rc = tg_submit(s, &th_nop_op, NULL, 0, &t[i]);
        if (rc == TG_OK) ok++;
        else if (rc == TG_ENOMEM) {
            nomem++;
            if (first_nomem < 0) first_nomem = i;
            if (t[i].bits != 0) other++;
        } else other++;
        if (rc != TG_OK) t[i] = TG_TOKEN_NONE;
    }
    CHECK(nomem > 0);
    CHECK_EQ(other, 0);
    CHECK(ok >= 4096 - 128);
    atomic_store(&lc_counts.fail, 0);
    for (int i = 0; i < 10000; i++) {
        if (t[i].bits == 0) continue;
        if (tg_wait(s, t[i], TH_LONG_NS, NULL) == TG_OK) completed++;
        tg_release(s, t[i]);
    }
    CHECK_EQ(completed, ok);
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &t[0]), TG_OK);
    CHECK_RC(tg_wait(s, t[0], TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, t[0]), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
    CHECK_EQ(atomic_load(&lc_counts.allocs), atomic_load(&lc_counts.frees));
    CHECK_EQ(atomic_load(&lc_counts.bytes_allocated),
             atomic_load(&lc_counts.bytes_freed));
}

/* Submissions that meet TG_ENOMEM, from several threads at once, must not
   cost slots for good: once memory is back, max_tokens tokens fit again.
   (9 workers keep max_tokens under 1024 per worker: no private slot caches,
   so the limit is exact.) */
typedef struct lc_hammer {
    tg_scheduler *s;
    int attempts;
    int not_nomem; /* results other than TG_ENOMEM */
} lc_hammer;

static void *lc_hammer_main(void *arg)
{
    lc_hammer *h = arg;
    for (int i = 0; i < h->attempts; i++) {
        tg_token t;
        int rc = tg_submit(h->s, &th_nop_op, NULL, 0, &t);
        if (rc != TG_ENOMEM) {
            h->not_nomem++;
            if (rc == TG_OK) tg_release(h->s, t);
        }
    }
    return NULL;
}

TG_TEST(lifecycle_allocator_failure_keeps_capacity)
{
    enum { MAX = 8192, THREADS = 4 };
    tg_config cfg = { .workers = 9, .no_pin = 1, .max_tokens = MAX,
                      .full_policy = TG_FULL_REJECT, .allocator = lc_allocator };
    tg_scheduler *s = NULL;
    static tg_token t[MAX];
    lc_hammer h[THREADS];
    pthread_t th[THREADS];
    int held = 0, rc = TG_OK, not_nomem = 0;

    lc_counts_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    while (held < 4096 && tg_submit(s, &th_nop_op, NULL, 0, &t[held]) == TG_OK)
        held++;
    CHECK_EQ(held, 4096); /* the first chunk of slots is full */

    atomic_store(&lc_counts.fail, 1);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < THREADS; i++) {
            h[i].s = s;
            h[i].attempts = 20000;
            h[i].not_nomem = 0;
            REQUIRE(pthread_create(&th[i], NULL, lc_hammer_main, &h[i]) == 0);
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            not_nomem += h[i].not_nomem;
        }
    }
    CHECK_EQ(not_nomem, 0);
    atomic_store(&lc_counts.fail, 0);

    while (held < MAX && (rc = tg_submit(s, &th_nop_op, NULL, 0, &t[held])) == TG_OK)
        held++;
    CHECK_EQ(held, MAX);
    if (held < MAX) th_note("stopped at %d tokens: %s", held, tg_strerror(rc));
    CHECK_RC(tg_wait_all(s, t, (size_t)held, TH_LONG_NS), TG_OK);
    for (int i = 0; i < held; i++) tg_release(s, t[i]);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
    CHECK_EQ(atomic_load(&lc_counts.allocs), atomic_load(&lc_counts.frees));
}

/* tg_destroy without tg_shutdown, with running, queued, detached tokens and
   unreleased handles: it cancels, joins, and gives back every byte. */
TG_TEST(lifecycle_destroy_without_shutdown)
{
    tg_config cfg = { .workers = 2, .no_pin = 1, .allocator = lc_allocator };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gates[2], t[300];
    int ok = 0, after;

    lc_reset();
    lc_counts_reset();
    th_gate_init(&g, 1);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 2; i++)
        REQUIRE(th_submit_gate(s, &th_gate_heavy_op, &g, &gates[i]) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    for (int i = 0; i < 300; i++) {
        int did = 1000 + i;
        if (tg_submit(s, &lc_count_op, &i, sizeof i, &t[i]) == TG_OK) ok++;
        if (tg_submit(s, &lc_count_op, &did, sizeof did, NULL) == TG_OK) ok++;
    }
    CHECK_EQ(ok, 600);
    tg_destroy(s);

    /* Every gate task that started has returned; nothing ran twice or
       runs after destroy. */
    CHECK_EQ(atomic_load(&g.left), atomic_load(&g.entered));
    CHECK_EQ(atomic_load(&g.expired), 0);
    CHECK(lc_ran_max() <= 1);
    after = lc_ran_total();
    th_sleep_ms(20);
    CHECK_EQ(lc_ran_total(), after);
    CHECK(atomic_load(&lc_counts.allocs) > 0);
    CHECK_EQ(atomic_load(&lc_counts.allocs), atomic_load(&lc_counts.frees));
    CHECK_EQ(atomic_load(&lc_counts.bytes_allocated),
             atomic_load(&lc_counts.bytes_freed));
}

/* CPU time of the whole process (all threads), in milliseconds. */
static double lc_process_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Idle workers spin briefly and then sleep on a futex: over a 300 ms window
   with nothing to do, the process uses almost no CPU. A worker that kept
   spinning would burn the whole window on each of its cores. */
TG_TEST(lifecycle_idle_scheduler_uses_no_cpu)
{
    tg_config cfg = { .workers = 2 };
    tg_scheduler *s = NULL;
    tg_token t[64];
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 64; i++) REQUIRE(tg_submit(s, &th_nop_op, NULL, 0, &t[i]) == TG_OK);
    CHECK_RC(tg_wait_all(s, t, 64, TH_LONG_NS), TG_OK);
    for (int i = 0; i < 64; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    th_sleep_ms(50); /* past the workers' brief spin */
    double before = lc_process_cpu_ms();
    th_sleep_ms(300);
    double used = lc_process_cpu_ms() - before;
    th_note("idle window: %.2f ms of CPU in 300 ms", used);
    CHECK(used < 30.0);
    /* and it still wakes up for new work */
    tg_value v;
    REQUIRE(tg_submit(s, &th_nop_op, NULL, 0, &t[0]) == TG_OK);
    CHECK_RC(tg_wait(s, t[0], TH_LONG_NS, &v), TG_OK);
    CHECK_RC(tg_release(s, t[0]), TG_OK);
    tg_destroy(s);
}

/* Two tg_shutdown calls at once: each keeps its own timeout. A waits
   forever (TG_DRAIN, -1) for a function that ignores tg_should_stop; B,
   started meanwhile, gives up after its 10 ms (TG_CANCEL) with
   TG_ETIMEDOUT, and A still returns TG_OK once the function is back. */
static atomic_int lc_slow_started, lc_slow_release;

static int lc_slow_fn(const void *args, tg_value *result)
{
    (void)args;
    result->i = 0;
    atomic_store(&lc_slow_started, 1);
    int64_t end = th_now_ns() + 30 * TH_SEC;
    while (!atomic_load(&lc_slow_release) && th_now_ns() < end) th_sleep_us(200);
    return 0;
}

typedef struct lc_shutter { tg_scheduler *s; int mode; int64_t timeout; int rc; int64_t took; } lc_shutter;

static void *lc_shutter_main(void *arg)
{
    lc_shutter *a = (lc_shutter *)arg;
    int64_t t0 = th_now_ns();
    a->rc = tg_shutdown(a->s, a->mode, a->timeout);
    a->took = th_now_ns() - t0;
    return NULL;
}

TG_TEST(lifecycle_concurrent_shutdowns_keep_their_own_timeouts)
{
    const tg_op op = { .name = "lc_slow", .fn = lc_slow_fn };
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s;
    tg_token t;
    atomic_store(&lc_slow_started, 0);
    atomic_store(&lc_slow_release, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(tg_submit(s, &op, NULL, 0, &t) == TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&lc_slow_started), 5000));
    lc_shutter a = { s, TG_DRAIN, -1, 99, 0 }, b = { s, TG_CANCEL, 10 * TH_MS, 99, 0 };
    pthread_t ta, tb;
    REQUIRE(pthread_create(&ta, NULL, lc_shutter_main, &a) == 0);
    th_sleep_ms(5);
    REQUIRE(pthread_create(&tb, NULL, lc_shutter_main, &b) == 0);
    pthread_join(tb, NULL);
    CHECK_RC(b.rc, TG_ETIMEDOUT);
    CHECK(b.took < 2 * TH_SEC);           /* its 10 ms, not A's forever */
    CHECK_EQ(atomic_load(&lc_slow_release), 0);   /* B returned while the function ran */
    tg_token_info info;
    CHECK_RC(tg_info(s, t, &info), TG_OK);
    CHECK_EQ(info.state, TG_KILLED);      /* B's timeout marked it */
    atomic_store(&lc_slow_release, 1);
    pthread_join(ta, NULL);
    CHECK_RC(a.rc, TG_OK);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, 0), TG_OK);   /* done: at once */
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);
}
