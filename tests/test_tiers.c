/* test_tiers.c - storage tiers (io_tier): at most the tier's cap of its
   tokens run at once; a token over the cap waits set aside while its worker
   runs other work; set-aside tokens run in the order they were set aside;
   counts in tg_stats; bad caps are refused. */
#include "harness.h"

static atomic_int tr_running;
static atomic_int tr_max;
static atomic_int tr_log[64];
static atomic_int tr_log_len;
static atomic_int tr_gate_open;

/* Logs its id, counts concurrent runs, sleeps ms, or until the gate opens
   when ms is negative. */
typedef struct tr_args {
    int id, ms;
} tr_args;

static int tr_fn(const void *args, tg_value *result)
{
    const tr_args *a = args;
    (void)result;
    int now = atomic_fetch_add(&tr_running, 1) + 1;
    int prev = atomic_load(&tr_max);
    while (now > prev && !atomic_compare_exchange_weak(&tr_max, &prev, now)) {
    }
    int at = atomic_fetch_add(&tr_log_len, 1);
    if (at < 64) atomic_store(&tr_log[at], a->id);
    if (a->ms >= 0) {
        th_sleep_ms(a->ms);
    } else {
        int64_t end = th_now_ns() + 60 * TH_SEC;
        while (!atomic_load(&tr_gate_open) && th_now_ns() < end) th_sleep_us(100);
    }
    atomic_fetch_sub(&tr_running, 1);
    return 0;
}

static void tr_reset(void)
{
    atomic_store(&tr_running, 0);
    atomic_store(&tr_max, 0);
    atomic_store(&tr_log_len, 0);
    atomic_store(&tr_gate_open, 0);
}

static const tg_op tr_slow = { .name = "slow_io", .fn = tr_fn, .io_tier = TG_IO_SLOW };
static const tg_op tr_plain = { .name = "plain", .fn = tr_fn };

/* tg_stats once the tier counts settle: a worker gives its place in the
   tier back just after its token's end, so tg_wait_idle may return a moment
   before (bounded at 5 s). */
static void tr_stats_settled(tg_scheduler *s, struct tg_stats *st)
{
    for (int i = 0; i < 5000; i++) {
        tg_stats(s, st);
        if (st->tier_running[TG_IO_SLOW] == 0 && st->tier_waiting[TG_IO_SLOW] == 0) return;
        th_sleep_ms(1);
    }
}

TG_TEST(tiers_cap_bounds_running_tokens)
{
    tg_config cfg = { .workers = 3 };
    cfg.tier_caps[TG_IO_SLOW] = 2;
    tg_scheduler *s;
    struct tg_stats st;
    tr_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 12; i++) {
        tr_args a = { i, 10 };
        CHECK_RC(tg_submit(s, &tr_slow, &a, sizeof a, NULL), TG_OK);
    }
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&tr_log_len), 12);
    CHECK_EQ(atomic_load(&tr_max), 2);          /* three workers, cap two */
    tr_stats_settled(s, &st);
    CHECK_EQ(st.tier_running[TG_IO_SLOW], 0);
    CHECK_EQ(st.tier_waiting[TG_IO_SLOW], 0);
    CHECK_EQ(st.completed, 12);
    tg_destroy(s);
}

/* Two workers, SLOW tier capped at 1: token 100 holds the tier (until
   tr_gate_open) and tokens 101..103 of the tier are set aside behind it;
   their handles go to set_aside. NULL on failure. */
static tg_scheduler *tr_tier_held(tg_token set_aside[3])
{
    tg_config cfg = { .workers = 2 };
    cfg.tier_caps[TG_IO_SLOW] = 1;
    tg_scheduler *s;
    struct tg_stats st;
    tr_reset();
    if (tg_create(&cfg, &s) != TG_OK) return NULL;
    tr_args a = { 100, -1 };
    int ok = tg_submit(s, &tr_slow, &a, sizeof a, NULL) == TG_OK &&
             TH_WAIT_UNTIL(atomic_load(&tr_running) == 1, 30000);
    for (int i = 0; ok && i < 3; i++) {
        tr_args b = { 101 + i, 0 };
        ok = tg_submit(s, &tr_slow, &b, sizeof b, &set_aside[i]) == TG_OK;
    }
    if (!ok || !TH_WAIT_UNTIL(tg_stats(s, &st) == TG_OK && st.tier_waiting[TG_IO_SLOW] == 3, 30000)) {
        atomic_store(&tr_gate_open, 1);
        tg_destroy(s);
        return NULL;
    }
    return s;
}

TG_TEST(tiers_worker_runs_other_work_behind_a_capped_token)
{
    /* cap 1: A holds the tier; B, C, D of the tier are set aside in that
       order while plain tokens still run; after A they run B, C, D */
    tg_token plain[4], b[3];
    struct tg_stats st;
    tg_scheduler *s = tr_tier_held(b);
    REQUIRE(s != NULL);
    for (int i = 0; i < 4; i++) {
        tr_args p = { 200 + i, 0 };
        CHECK_RC(tg_submit(s, &tr_plain, &p, sizeof p, &plain[i]), TG_OK);
    }
    CHECK_RC(tg_wait_all(s, plain, 4, TH_LONG_NS), TG_OK);   /* while A holds the tier */
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.tier_running[TG_IO_SLOW], 1);
    CHECK_EQ(st.tier_waiting[TG_IO_SLOW], 3);
    atomic_store(&tr_gate_open, 1);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    int order[3], k = 0;
    for (int i = 0; i < atomic_load(&tr_log_len) && i < 64; i++) {
        int id = atomic_load(&tr_log[i]);
        if (id >= 101 && id <= 103 && k < 3) order[k++] = id;
    }
    CHECK_EQ(k, 3);
    CHECK_EQ(order[0], 101);
    CHECK_EQ(order[1], 102);
    CHECK_EQ(order[2], 103);
    tr_stats_settled(s, &st);
    CHECK_EQ(st.tier_running[TG_IO_SLOW], 0);
    CHECK_EQ(st.tier_waiting[TG_IO_SLOW], 0);
    for (int i = 0; i < 4; i++) tg_release(s, plain[i]);
    for (int i = 0; i < 3; i++) tg_release(s, b[i]);
    tg_destroy(s);
}

TG_TEST(tiers_killed_while_set_aside_pass_their_turn_on)
{
    tg_token b[3];
    struct tg_stats st;
    tg_scheduler *s = tr_tier_held(b);
    REQUIRE(s != NULL);
    CHECK_RC(tg_kill(s, b[0]), TG_OK);
    CHECK_RC(tg_kill(s, b[1]), TG_OK);
    atomic_store(&tr_gate_open, 1);
    CHECK_RC(tg_wait(s, b[2], TH_LONG_NS, NULL), TG_OK);     /* its turn came */
    CHECK_RC(tg_wait(s, b[0], TH_LONG_NS, NULL), TG_EKILLED);
    CHECK_RC(tg_wait(s, b[1], TH_LONG_NS, NULL), TG_EKILLED);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    /* the killed ones never ran: the runs were 100 and 103 */
    CHECK_EQ(atomic_load(&tr_log_len), 2);
    CHECK_EQ(atomic_load(&tr_log[0]), 100);
    CHECK_EQ(atomic_load(&tr_log[1]), 103);
    tr_stats_settled(s, &st);
    CHECK_EQ(st.tier_running[TG_IO_SLOW], 0);
    CHECK_EQ(st.tier_waiting[TG_IO_SLOW], 0);
    for (int i = 0; i < 3; i++) tg_release(s, b[i]);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

TG_TEST(tiers_defaults_and_bad_caps)
{
    tg_scheduler *s;
    tg_config bad = { 0 };
    bad.tier_caps[TG_IO_FAST] = 65536;
    CHECK_RC(tg_create(&bad, &s), TG_EINVAL);
    /* default caps (10, 25, 50, 70) never bind on a few workers */
    tr_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    const tg_op fast = { .name = "fast_io", .fn = tr_fn, .io_tier = TG_IO_FAST };
    for (int i = 0; i < 20; i++) {
        tr_args a = { i, 1 };
        CHECK_RC(tg_submit(s, &fast, &a, sizeof a, NULL), TG_OK);
    }
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&tr_log_len), 20);
    tg_destroy(s);
}
