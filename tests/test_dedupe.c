/* test_dedupe.c - TG_OP_DEDUPE: a submission equal (op, argument bytes) to
   a live token joins that run: its own handle, the same outcome, released
   on its own; different arguments, or a token already ended, run again;
   failures and kills reach the followers; concurrent submitters never lose
   a handle or a slot. */
#include "harness.h"

#include <pthread.h>

static atomic_int dd_runs;
static atomic_int dd_gate;

/* Waits for the gate (when args[1] is set), then returns args[0] * 10, or
   fails with args[0] when it is negative. */
static int dd_fn(const void *args, tg_value *result)
{
    const int *a = args;
    atomic_fetch_add(&dd_runs, 1);
    int64_t end = th_now_ns() + 60 * TH_SEC;
    while (a[1] && !atomic_load(&dd_gate) && th_now_ns() < end) th_sleep_us(100);
    if (a[0] < 0) return -a[0];
    result->i = a[0] * 10;
    return 0;
}

static const tg_op dd_op = { .name = "dedupe", .fn = dd_fn, .flags = TG_OP_DEDUPE };

static void dd_reset(void)
{
    atomic_store(&dd_runs, 0);
    atomic_store(&dd_gate, 0);
}

TG_TEST(dedupe_equal_submission_joins_the_live_run)
{
    tg_scheduler *s;
    tg_token a, b, c;
    tg_value va, vb, vc;
    struct tg_stats st;
    int args[2] = { 7, 1 }, other[2] = { 8, 1 };
    dd_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &dd_op, args, sizeof args, &a), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&dd_runs) == 1, 30000));
    CHECK_RC(tg_submit(s, &dd_op, args, sizeof args, &b), TG_OK);     /* joins */
    CHECK_RC(tg_submit(s, &dd_op, other, sizeof other, &c), TG_OK);   /* differs: runs */
    CHECK(a.bits != b.bits);
    atomic_store(&dd_gate, 1);
    CHECK_RC(tg_wait(s, a, TH_LONG_NS, &va), TG_OK);
    CHECK_RC(tg_wait(s, b, TH_LONG_NS, &vb), TG_OK);
    CHECK_RC(tg_wait(s, c, TH_LONG_NS, &vc), TG_OK);
    CHECK_EQ(va.i, 70);
    CHECK_EQ(vb.i, 70);
    CHECK_EQ(vc.i, 80);
    CHECK_EQ(atomic_load(&dd_runs), 2);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.dedupe_joined, 1);
    CHECK_EQ(st.submitted, 3);
    CHECK_EQ(st.completed, 3);
    /* each handle is released on its own */
    CHECK_RC(tg_release(s, a), TG_OK);
    CHECK_RC(tg_wait(s, b, 0, &vb), TG_OK);
    CHECK_EQ(vb.i, 70);
    CHECK_RC(tg_release(s, b), TG_OK);
    CHECK_RC(tg_release(s, c), TG_OK);
    /* the run is over: the same arguments run again */
    CHECK_RC(tg_submit(s, &dd_op, args, sizeof args, &a), TG_OK);
    CHECK_RC(tg_wait(s, a, TH_LONG_NS, &va), TG_OK);
    CHECK_EQ(atomic_load(&dd_runs), 3);
    tg_release(s, a);
    /* a dedupe leader's worker may finish its bookkeeping (its followers)
       a moment after the end the waits saw: the slot comes back then */
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 5000));
    tg_destroy(s);
}

TG_TEST(dedupe_failure_and_kills_reach_the_followers)
{
    tg_scheduler *s;
    tg_token lead, f1, f2;
    tg_token_info info;
    int bad[2] = { -9, 1 };
    dd_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &dd_op, bad, sizeof bad, &lead), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&dd_runs) == 1, 30000));
    CHECK_RC(tg_submit(s, &dd_op, bad, sizeof bad, &f1), TG_OK);
    CHECK_RC(tg_submit(s, &dd_op, bad, sizeof bad, &f2), TG_OK);
    CHECK_RC(tg_kill(s, f2), TG_OK);                 /* one follower alone */
    CHECK_RC(tg_wait(s, f2, TH_LONG_NS, NULL), TG_EKILLED);
    atomic_store(&dd_gate, 1);
    CHECK_RC(tg_wait(s, lead, TH_LONG_NS, NULL), TG_EFAILED);
    CHECK_RC(tg_wait(s, f1, TH_LONG_NS, NULL), TG_EFAILED);
    CHECK_RC(tg_info(s, f1, &info), TG_OK);
    CHECK_EQ(info.failure_code, 9);
    CHECK_EQ(info.state, TG_FAILED);
    CHECK_EQ(atomic_load(&dd_runs), 1);
    tg_release(s, lead);
    tg_release(s, f1);
    tg_release(s, f2);
    /* a dedupe leader's worker may finish its bookkeeping (its followers)
       a moment after the end the waits saw: the slot comes back then */
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 5000));
    tg_destroy(s);
}

TG_TEST(dedupe_leader_killed_before_it_runs_kills_followers)
{
    th_gate gate;
    th_gate *gp = &gate;
    const tg_op g = { .name = "gate", .fn = th_gate_fn };
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    tg_token gt, lead, f;
    int args[2] = { 3, 0 };
    dd_reset();
    th_gate_init(&gate, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &g, &gp, sizeof gp, &gt), TG_OK);
    CHECK(th_gate_wait_entered(&gate, 1));
    CHECK_RC(tg_submit(s, &dd_op, args, sizeof args, &lead), TG_OK);  /* queued */
    CHECK_RC(tg_submit(s, &dd_op, args, sizeof args, &f), TG_OK);     /* joins it */
    CHECK_RC(tg_kill(s, lead), TG_OK);
    CHECK_RC(tg_wait(s, f, TH_LONG_NS, NULL), TG_EKILLED);
    th_gate_open(&gate);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&dd_runs), 0);
    tg_release(s, gt);
    tg_release(s, lead);
    tg_release(s, f);
    /* a dedupe leader's worker may finish its bookkeeping (its followers)
       a moment after the end the waits saw: the slot comes back then */
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 5000));
    tg_destroy(s);
}

typedef struct dd_thread {
    tg_scheduler *s;
    int key_base;
    int bad;
} dd_thread;

static void *dd_submitter(void *p)
{
    dd_thread *t = p;
    for (int i = 0; i < 2000; i++) {
        int args[2] = { t->key_base + i % 4, 0 };
        tg_token h;
        tg_value v;
        if (tg_submit(t->s, &dd_op, args, sizeof args, &h) != TG_OK) {
            t->bad++;
            continue;
        }
        if (tg_wait(t->s, h, TH_LONG_NS, &v) != TG_OK || v.i != args[0] * 10) t->bad++;
        if (tg_release(t->s, h) != TG_OK) t->bad++;
    }
    return NULL;
}

TG_TEST(dedupe_concurrent_submitters_lose_nothing)
{
    tg_scheduler *s;
    pthread_t th[3];
    dd_thread t[3];
    struct tg_stats st;
    dd_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    for (int i = 0; i < 3; i++) {
        t[i].s = s;
        t[i].key_base = 1;
        t[i].bad = 0;
        REQUIRE(pthread_create(&th[i], NULL, dd_submitter, &t[i]) == 0);
    }
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) CHECK_EQ(t[i].bad, 0);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.submitted, 6000);
    CHECK_EQ(st.completed, 6000);
    /* every submission either ran or joined a run */
    CHECK_EQ((uint64_t)atomic_load(&dd_runs) + st.dedupe_joined, 6000);
    CHECK_EQ(st.slots_in_use, 0);
    tg_destroy(s);
}
