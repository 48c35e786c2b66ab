/* test_handles.c - handles and kills under races: a kill never ends a
   running function early, a stale handle never reaches the slot's next
   token, a kill that loses to the end leaves the stamps alone, handles are
   tied to the scheduler that issued them, and array waits check every
   handle before they wait. */
#include "harness.h"

#include <pthread.h>
#include <sched.h>

/* the scheduler of the test running (tasks reach it through this) */
static tg_scheduler *hd_scheduler;
static tg_scheduler *hd_sched(void) { return hd_scheduler; }

/* ------------------------------------------- a kill waits for the function */

/* A body that runs about 30 us and ignores tg_should_stop. */
typedef struct hd_run {
    atomic_int started;
    atomic_int returned;
} hd_run;

static int hd_busy_fn(const void *args, tg_value *result)
{
    hd_run *r = *(hd_run *const *)args;
    atomic_store(&r->started, 1);
    int64_t end = th_now_ns() + 30000;
    while (th_now_ns() < end) { }
    result->i = 1;
    /* release: a waiter that saw the token end must see this */
    atomic_store_explicit(&r->returned, 1, memory_order_release);
    return 0;
}

static const tg_op hd_busy_op = { .name = "hd_busy", .fn = hd_busy_fn };

TG_TEST(handles_kill_never_ends_a_running_function)
{
    tg_config cfg = { .workers = 2 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    enum { ROUNDS = 20000 };
    static hd_run runs[ROUNDS];
    int early = 0, killed = 0, completed = 0, other = 0;
    for (int i = 0; i < ROUNDS; i++) {
        hd_run *r = &runs[i];
        atomic_init(&r->started, 0);
        atomic_init(&r->returned, 0);
        tg_token t;
        if (tg_submit(s, &hd_busy_op, &r, sizeof r, &t) != TG_OK) { other++; continue; }
        /* kill at a delay of 0..20 us after the submit, in 100 ns steps:
           around the moment a worker takes the token */
        int64_t until = th_now_ns() + (i % 201) * 100;
        while (th_now_ns() < until) { }
        if (tg_kill(s, t) != TG_OK) other++;
        int rc = tg_wait(s, t, TH_LONG_NS, NULL);
        if (rc == TG_EKILLED) {
            killed++;
            if (atomic_load(&r->started) && !atomic_load_explicit(&r->returned, memory_order_acquire))
                early++;
        } else if (rc == TG_OK) {
            completed++;
            if (!atomic_load_explicit(&r->returned, memory_order_acquire)) early++;
        } else {
            other++;
        }
        tg_release(s, t);
    }
    CHECK_EQ(early, 0);
    CHECK_EQ(other, 0);
    CHECK(killed > 0);
    CHECK_EQ(killed + completed, ROUNDS);
    tg_destroy(s);
}

/* ------------------------------------ a stale handle never kills a new one */

typedef struct hd_killers {
    tg_scheduler *s;
    _Atomic uint64_t victim;    /* the handle killers go after (live, then stale) */
    atomic_int stop;
    atomic_long kills;
} hd_killers;

static void *hd_killer_main(void *arg)
{
    hd_killers *k = (hd_killers *)arg;
    long kills = 0;
    while (!atomic_load(&k->stop)) {
        tg_token t;
        t.bits = atomic_load(&k->victim);
        if (!t.bits) continue;
        /* oversubscribed: some are preempted inside tg_kill, between its
           look at the handle and its move */
        (void)tg_kill(k->s, t);
        kills++;
    }
    atomic_fetch_add(&k->kills, kills);
    return NULL;
}

TG_TEST(handles_stale_kill_never_reaches_the_next_token)
{
    /* every token in one slot: a victim's handle, once released, names the
       slot of the next token, a check token nobody may kill */
    tg_config cfg = { .workers = 1, .max_tokens = 1 };
    hd_killers k;
    REQUIRE(tg_create(&cfg, &k.s) == TG_OK);
    atomic_init(&k.victim, 0);
    atomic_init(&k.stop, 0);
    atomic_init(&k.kills, 0);
    enum { KILLERS = 4 };          /* oversubscribed on a 2-CPU machine */
    pthread_t killers[KILLERS];
    for (int i = 0; i < KILLERS; i++) REQUIRE(pthread_create(&killers[i], NULL, hd_killer_main, &k) == 0);
    /* a time budget, not a count: the killers take most of the CPUs */
    int64_t until = th_now_ns() + th_env_long("TG_HANDLES_SECONDS", 3) * TH_SEC;
    long rounds = 0;
    int checks_killed = 0, failed = 0, victims_killed = 0;
    for (; th_now_ns() < until; rounds++) {
        tg_token v, c;
        if (tg_submit(k.s, &th_nop_op, NULL, 0, &v) != TG_OK) { failed++; continue; }
        atomic_store(&k.victim, v.bits);
        if (tg_wait(k.s, v, TH_LONG_NS, NULL) == TG_EKILLED) victims_killed++;
        if (tg_release(k.s, v) != TG_OK) failed++;
        /* the killers keep killing v's (now stale) handle */
        if (tg_submit(k.s, &th_nop_op, NULL, 0, &c) != TG_OK) { failed++; continue; }
        int rc = tg_wait(k.s, c, TH_LONG_NS, NULL);
        if (rc == TG_EKILLED) checks_killed++;
        else if (rc != TG_OK) failed++;
        if (tg_release(k.s, c) != TG_OK) failed++;
    }
    atomic_store(&k.stop, 1);
    for (int i = 0; i < KILLERS; i++) pthread_join(killers[i], NULL);
    th_note("stale kills: %ld rounds, %ld kill calls, %d victims killed, %d check tokens killed",
            rounds, (long)atomic_load(&k.kills), victims_killed, checks_killed);
    CHECK_EQ(checks_killed, 0);
    CHECK_EQ(failed, 0);
    CHECK(atomic_load(&k.kills) > 0);
    struct tg_stats st;
    CHECK_RC(tg_stats(k.s, &st), TG_OK);
    CHECK_EQ(st.killed, (uint64_t)victims_killed);
    tg_destroy(k.s);
}

/* ------------------------------------ a failed kill leaves the stamps alone */

static int hd_short_fn(const void *args, tg_value *result)
{
    (void)args;
    int64_t end = th_now_ns() + 2000;
    while (th_now_ns() < end) { }
    result->i = 2;
    return 0;
}

static const tg_op hd_short_op = { .name = "hd_short", .fn = hd_short_fn };

typedef struct hd_race {
    tg_scheduler *s;
    _Atomic uint64_t target;
    atomic_int stop;
} hd_race;

static void *hd_race_killer(void *arg)
{
    hd_race *r = (hd_race *)arg;
    while (!atomic_load(&r->stop)) {
        tg_token t;
        t.bits = atomic_load(&r->target);
        if (t.bits) (void)tg_kill(r->s, t);
    }
    return NULL;
}

TG_TEST(handles_kill_losing_to_the_end_keeps_the_stamps)
{
    tg_config cfg = { .workers = 2 };
    hd_race r;
    REQUIRE(tg_create(&cfg, &r.s) == TG_OK);
    atomic_init(&r.target, 0);
    atomic_init(&r.stop, 0);
    pthread_t killer;
    REQUIRE(pthread_create(&killer, NULL, hd_race_killer, &r) == 0);
    int disordered = 0, moved = 0, completed = 0, bad_end = 0;
    for (int i = 0; i < 5000; i++) {
        tg_token t;
        if (tg_submit(r.s, &hd_short_op, NULL, 0, &t) != TG_OK) continue;
        atomic_store(&r.target, t.bits);
        int rc = tg_wait(r.s, t, TH_LONG_NS, NULL);
        tg_token_info a, b;
        if (tg_info(r.s, t, &a) == TG_OK) {
            if (rc == TG_OK) completed++;
            if (a.ended_ns == 0) bad_end++;
            if (a.started_ns && a.ended_ns < a.started_ns) disordered++;
            if (a.ended_ns < a.admitted_ns || a.admitted_ns < a.created_ns) disordered++;
            /* a kill still in flight must not rewrite the end */
            th_sleep_us(5);
            if (tg_info(r.s, t, &b) == TG_OK && b.ended_ns != a.ended_ns) moved++;
        }
        atomic_store(&r.target, 0);
        tg_release(r.s, t);
    }
    atomic_store(&r.stop, 1);
    pthread_join(killer, NULL);
    CHECK_EQ(disordered, 0);
    CHECK_EQ(moved, 0);
    CHECK_EQ(bad_end, 0);
    CHECK(completed > 0);
    tg_destroy(r.s);
}

/* ------------------------------------- handles belong to their scheduler */

/* Every handle call of scheduler `s` with the handle `t` of another one. */
static int hd_foreign_calls_refused(tg_scheduler *s, tg_token t)
{
    tg_state st;
    tg_value v;
    tg_token_info info;
    size_t idx;
    int refused = 0, rc;
#define HD_REFUSED(call) (rc = (call), refused += (rc == TG_EINVAL || rc == TG_ESTALE))
    HD_REFUSED(tg_poll(s, t, &st));
    HD_REFUSED(tg_wait(s, t, 0, &v));
    HD_REFUSED(tg_wait(s, t, 1000000, &v));
    HD_REFUSED(tg_info(s, t, &info));
    HD_REFUSED(tg_wait_all(s, &t, 1, 0));
    HD_REFUSED(tg_wait_any(s, &t, 1, 0, &idx));
    HD_REFUSED(tg_kill(s, t));
    HD_REFUSED(tg_release(s, t));
#undef HD_REFUSED
    return refused;
}

TG_TEST(handles_are_tied_to_their_scheduler)
{
    tg_config cfg = { .workers = 1 };
    tg_scheduler *a, *b;
    REQUIRE(tg_create(&cfg, &a) == TG_OK);
    REQUIRE(tg_create(&cfg, &b) == TG_OK);
    th_gate g;
    th_gate_init(&g, 0);
    tg_token ta, tb, tb_live;
    /* the same slot in both: each scheduler's first token */
    REQUIRE(tg_submit(a, &th_nop_op, NULL, 0, &ta) == TG_OK);
    REQUIRE(tg_submit(b, &th_nop_op, NULL, 0, &tb) == TG_OK);
    CHECK_RC(tg_wait(a, ta, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(b, tb, TH_LONG_NS, NULL), TG_OK);
    CHECK(ta.bits != tb.bits);
    CHECK_EQ(hd_foreign_calls_refused(b, ta), 8);
    CHECK_EQ(hd_foreign_calls_refused(a, tb), 8);
    /* b's token was not touched: its handle still works, once */
    tg_value v = { 0 };
    CHECK_RC(tg_wait(b, tb, 0, &v), TG_OK);
    CHECK_EQ(v.i, 7);
    CHECK_RC(tg_release(b, tb), TG_OK);
    CHECK_RC(tg_release(a, ta), TG_OK);

    /* a live token of b, and a's handle kept across a's destruction */
    REQUIRE(th_submit_gate(b, &th_gate_op, &g, &tb_live) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    tg_token kept;
    REQUIRE(tg_submit(a, &th_nop_op, NULL, 0, &kept) == TG_OK);
    CHECK_RC(tg_wait(a, kept, TH_LONG_NS, NULL), TG_OK);
    tg_destroy(a);
    tg_scheduler *c;
    REQUIRE(tg_create(&cfg, &c) == TG_OK);   /* may reuse a's memory */
    tg_token tc;
    REQUIRE(tg_submit(c, &th_nop_op, NULL, 0, &tc) == TG_OK);
    CHECK_RC(tg_wait(c, tc, TH_LONG_NS, NULL), TG_OK);
    CHECK_EQ(hd_foreign_calls_refused(c, kept), 8);
    CHECK_EQ(hd_foreign_calls_refused(b, kept), 8);
    CHECK_RC(tg_wait(c, tc, 0, NULL), TG_OK);
    CHECK_RC(tg_release(c, tc), TG_OK);
    tg_state st = TG_COMPLETED;
    CHECK_RC(tg_poll(b, tb_live, &st), TG_OK);
    CHECK_EQ(st, TG_EXECUTING);
    th_gate_open(&g);
    CHECK_RC(tg_wait(b, tb_live, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(b, tb_live), TG_OK);

    /* forged handles: every index and generation pattern near a real one */
    int accepted = 0;
    uint64_t seed = 12345;
    tg_token live;
    REQUIRE(tg_submit(c, &th_nop_op, NULL, 0, &live) == TG_OK);
    CHECK_RC(tg_wait(c, live, TH_LONG_NS, NULL), TG_OK);
    for (int i = 0; i < 20000; i++) {
        tg_token f;
        f.bits = th_rand(&seed);
        if (i & 1) f.bits = (f.bits & 0xffffffff00000000ull) | (uint32_t)live.bits;
        if (f.bits == live.bits) continue;
        tg_state fs;
        if (tg_poll(c, f, &fs) == TG_OK) accepted++;
    }
    CHECK_EQ(accepted, 0);
    CHECK_RC(tg_release(c, live), TG_OK);
    tg_destroy(b);
    tg_destroy(c);
}

/* -------------------------------------- array waits check handles first */

/* A task that waits on the array in its argument and records the code. */
typedef struct hd_inner_wait {
    tg_token set[3];
    atomic_int rc_all, rc_any;
} hd_inner_wait;

static int hd_inner_wait_fn(const void *args, tg_value *result)
{
    hd_inner_wait *iw = *(hd_inner_wait *const *)args;
    size_t idx;
    atomic_store(&iw->rc_all, tg_wait_all(hd_sched(), iw->set, 3, 2 * TH_SEC));
    atomic_store(&iw->rc_any, tg_wait_any(hd_sched(), iw->set, 3, 2 * TH_SEC, &idx));
    result->i = 0;
    return 0;
}

TG_TEST(handles_array_waits_check_every_handle_first)
{
    tg_config cfg = { .workers = 3 };   /* two held by gates, one for the inner wait */
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    hd_scheduler = s;
    th_gate g;
    th_gate_init(&g, 0);
    tg_token set[3], stale;
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &set[0]) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &set[2]) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 2));
    REQUIRE(tg_submit(s, &th_nop_op, NULL, 0, &stale) == TG_OK);
    CHECK_RC(tg_wait(s, stale, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, stale), TG_OK);
    /* a bad handle between two live ones: its error at once, not a
       timeout (the gate stays closed for the whole call) */
    set[1] = stale;
    size_t idx = 99;
    CHECK_RC(tg_wait_all(s, set, 3, 2 * TH_SEC), TG_ESTALE);
    CHECK_RC(tg_wait_any(s, set, 3, 2 * TH_SEC, &idx), TG_ESTALE);
    tg_token forged[3] = { set[0], { 0x0123456789abcdefull }, set[2] };
    CHECK_RC(tg_wait_all(s, forged, 3, 2 * TH_SEC), TG_EINVAL);
    CHECK_RC(tg_wait_any(s, forged, 3, 2 * TH_SEC, &idx), TG_EINVAL);
    CHECK_EQ(idx, 99);
    /* the same from inside a task (a helping wait) */
    static hd_inner_wait iw;
    memcpy(iw.set, set, sizeof set);
    atomic_init(&iw.rc_all, 1);
    atomic_init(&iw.rc_any, 1);
    hd_inner_wait *iwp = &iw;
    tg_token inner;
    const tg_op inner_op = { .name = "hd_inner_wait", .fn = hd_inner_wait_fn, .weight = TG_HEAVY };
    REQUIRE(tg_submit(s, &inner_op, &iwp, sizeof iwp, &inner) == TG_OK);
    CHECK_RC(tg_wait(s, inner, TH_LONG_NS, NULL), TG_OK);
    CHECK_EQ(atomic_load(&iw.rc_all), TG_ESTALE);
    CHECK_EQ(atomic_load(&iw.rc_any), TG_ESTALE);
    CHECK_EQ(atomic_load(&g.left), 0);
    th_gate_open(&g);
    CHECK_RC(tg_wait(s, set[0], TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(s, set[2], TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, set[0]), TG_OK);
    CHECK_RC(tg_release(s, set[2]), TG_OK);
    CHECK_RC(tg_release(s, inner), TG_OK);
    tg_destroy(s);
}
