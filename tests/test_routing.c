/* test_routing.c - weight ranges (HEAVY 0..n-1, MEDIUM 1..n-1, LIGHT
   2..n-1, each start clamped to n-1), strict ranges, spreading within a
   range, stealing under home ranges, nested submissions, and tg_current_core
   agreeing with tg_info. */
#include "harness.h"

#define RT_MAX 2048

static atomic_int rt_seen_core[RT_MAX]; /* tg_current_core() seen by token id */
static atomic_int rt_sleep_us;          /* how long each task takes */

static void rt_reset(int sleep_us)
{
    for (int i = 0; i < RT_MAX; i++) atomic_store(&rt_seen_core[i], -2);
    atomic_store(&rt_sleep_us, sleep_us);
}

static int rt_record_fn(const void *args, tg_value *result)
{
    int id = *(const int *)args;
    int us = atomic_load(&rt_sleep_us);
    atomic_store(&rt_seen_core[id], tg_current_core());
    if (us > 0) th_sleep_us(us);
    result->i = id;
    return 0;
}

static const tg_op rt_ops[3] = {
    [TG_MEDIUM] = { .name = "rt_medium", .fn = rt_record_fn, .weight = TG_MEDIUM },
    [TG_LIGHT] = { .name = "rt_light", .fn = rt_record_fn, .weight = TG_LIGHT },
    [TG_HEAVY] = { .name = "rt_heavy", .fn = rt_record_fn, .weight = TG_HEAVY },
};

/* First core of a weight's range on n cores. */
static int rt_range_start(int weight, int n)
{
    int start = weight == TG_HEAVY ? 0 : weight == TG_MEDIUM ? 1 : 2;
    return start < n - 1 ? start : n - 1;
}

typedef struct rt_result {
    int out_of_range[3];    /* tokens of a weight outside its range */
    int core_mismatch;      /* tg_info.core != tg_current_core() inside */
    int per_core[3][8];     /* tokens of a weight per core */
    int failed;
} rt_result;

/* Weight of token i: interleaved (i % 3), or in blocks of per_weight
   tokens: HEAVY first, then MEDIUM, then LIGHT. */
static int rt_weight_of(int i, int per_weight, int blocks)
{
    static const int order[3] = { TG_HEAVY, TG_MEDIUM, TG_LIGHT };
    return blocks ? order[i / per_weight] : i % 3;
}

/* Submits per_weight tokens of each weight on a scheduler with n workers,
   waits for them and tallies where they ran. */
static void rt_run(unsigned n, int strict, int per_weight, int sleep_us,
                   int blocks, rt_result *r)
{
    tg_config cfg = { .workers = n, .no_pin = 1, .strict_routing = strict };
    tg_scheduler *s = NULL;
    static tg_token t[RT_MAX];
    int total = per_weight * 3;

    memset(r, 0, sizeof *r);
    rt_reset(sleep_us);
    if (total > RT_MAX || tg_create(&cfg, &s) != TG_OK) {
        r->failed = 1;
        return;
    }
    for (int i = 0; i < total; i++) {
        int w = rt_weight_of(i, per_weight, blocks);
        if (tg_submit(s, &rt_ops[w], &i, sizeof i, &t[i]) != TG_OK) {
            r->failed = 1;
            t[i] = TG_TOKEN_NONE;
        }
    }
    for (int i = 0; i < total; i++) {
        tg_token_info info;
        int w = rt_weight_of(i, per_weight, blocks);
        if (t[i].bits == 0) continue;
        if (tg_wait(s, t[i], TH_LONG_NS, NULL) != TG_OK ||
            tg_info(s, t[i], &info) != TG_OK) {
            r->failed = 1;
            continue;
        }
        if (info.core < rt_range_start(w, (int)n) || info.core >= (int)n)
            r->out_of_range[w]++;
        if (info.core != atomic_load(&rt_seen_core[i])) r->core_mismatch++;
        if (info.core >= 0 && info.core < 8) r->per_core[w][info.core]++;
        tg_release(s, t[i]);
    }
    if (th_stat_slots_in_use(s) != 0) r->failed = 1;
    tg_destroy(s);
}

TG_TEST(routing_strict_ranges_on_4_workers)
{
    rt_result r;
    rt_run(4, 1, 300, 0, 0, &r);
    CHECK_EQ(r.failed, 0);
    CHECK_EQ(r.out_of_range[TG_LIGHT], 0);
    CHECK_EQ(r.out_of_range[TG_MEDIUM], 0);
    CHECK_EQ(r.out_of_range[TG_HEAVY], 0);
    CHECK_EQ(r.core_mismatch, 0);
}

/* Within a range the lowest position counter wins and advances, so a run of
   one weight spreads over every core of its range (mixed weights need not:
   light work fills the back cores first and heavy work the front). */
TG_TEST(routing_strict_spreads_within_range)
{
    rt_result r;
    rt_run(4, 1, 200, 0, 1, &r);
    CHECK_EQ(r.failed, 0);
    CHECK_EQ(r.out_of_range[TG_LIGHT], 0);
    CHECK_EQ(r.out_of_range[TG_MEDIUM], 0);
    CHECK_EQ(r.out_of_range[TG_HEAVY], 0);
    for (int c = 0; c < 4; c++) CHECK(r.per_core[TG_HEAVY][c] > 0);
    for (int c = 1; c < 4; c++) CHECK(r.per_core[TG_MEDIUM][c] > 0);
    for (int c = 2; c < 4; c++) CHECK(r.per_core[TG_LIGHT][c] > 0);
}

TG_TEST(routing_strict_clamping_on_1_2_3_workers)
{
    for (unsigned n = 1; n <= 3; n++) {
        rt_result r;
        rt_run(n, 1, 60, 0, 1, &r);
        CHECK_EQ(r.failed, 0);
        CHECK_EQ(r.out_of_range[TG_LIGHT], 0);
        CHECK_EQ(r.out_of_range[TG_MEDIUM], 0);
        CHECK_EQ(r.out_of_range[TG_HEAVY], 0);
        CHECK_EQ(r.core_mismatch, 0);
        /* LIGHT lives on the last core alone whenever n <= 3. */
        CHECK_EQ(r.per_core[TG_LIGHT][n - 1], 60);
        if (n == 2) {
            CHECK_EQ(r.per_core[TG_MEDIUM][1], 60);
            CHECK(r.per_core[TG_HEAVY][0] > 0);
            CHECK(r.per_core[TG_HEAVY][1] > 0);
        }
        if (n == 1) {
            CHECK_EQ(r.per_core[TG_MEDIUM][0], 60);
            CHECK_EQ(r.per_core[TG_HEAVY][0], 60);
        }
    }
}

/* An all-LIGHT load on 2 workers has core 1 as its home; tasks that take a
   while leave core 0 idle unless it steals. */
TG_TEST(routing_home_range_stealing_uses_both_cores)
{
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    static tg_token t[60];
    struct tg_stats st;
    int on_core[2] = { 0, 0 }, mismatch = 0, other = 0;

    rt_reset(3000);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 60; i++)
        REQUIRE(tg_submit(s, &rt_ops[TG_LIGHT], &i, sizeof i, &t[i]) == TG_OK);
    CHECK_RC(tg_wait_all(s, t, 60, TH_LONG_NS), TG_OK);
    for (int i = 0; i < 60; i++) {
        tg_token_info info;
        CHECK_RC(tg_info(s, t[i], &info), TG_OK);
        if (info.core == 0 || info.core == 1) on_core[info.core]++;
        else other++;
        if (info.core != atomic_load(&rt_seen_core[i])) mismatch++;
        CHECK_RC(tg_release(s, t[i]), TG_OK);
    }
    CHECK_EQ(other, 0);
    CHECK_EQ(mismatch, 0);
    CHECK(on_core[0] > 0);
    CHECK(on_core[1] > 0);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK(st.cores[0].stolen > 0);
    CHECK(st.cores[0].executed + st.cores[1].executed >= 60);
    tg_destroy(s);
}

/* Strict: no stealing, even when the home core is busy and others idle. */
TG_TEST(routing_strict_never_steals)
{
    rt_result r;
    rt_run(2, 1, 30, 1000, 0, &r);
    CHECK_EQ(r.failed, 0);
    CHECK_EQ(r.per_core[TG_LIGHT][1], 30);
    CHECK_EQ(r.per_core[TG_LIGHT][0], 0);
    CHECK_EQ(r.per_core[TG_MEDIUM][1], 30);
    CHECK_EQ(r.per_core[TG_MEDIUM][0], 0);
    CHECK_EQ(r.core_mismatch, 0);
}

TG_TEST(routing_current_core_matches_info)
{
    rt_result r;
    rt_run(3, 0, 200, 0, 0, &r);
    CHECK_EQ(r.failed, 0);
    CHECK_EQ(r.core_mismatch, 0);
    /* Home ranges may overflow, but a core is always a real core. */
    for (int w = 0; w < 3; w++) {
        int total = 0;
        for (int c = 0; c < 3; c++) total += r.per_core[w][c];
        CHECK_EQ(total, 200);
    }
}

/* Nested submissions under strict routing: a child goes to its parent's own
   deque only when the parent's core is inside the child's range; either
   way the child runs inside its range. */
typedef struct rt_parent_args {
    tg_scheduler *s;
    int child_weight;
} rt_parent_args;

static atomic_int rt_nested_errors;

static int rt_parent_fn(const void *args, tg_value *result)
{
    const rt_parent_args *a = args;
    tg_token child;
    tg_token_info info;
    int id = RT_MAX - 1;
    int me = tg_current_core();

    info.core = -1;
    if (tg_submit(a->s, &rt_ops[a->child_weight], &id, sizeof id, &child) !=
        TG_OK) {
        atomic_fetch_add(&rt_nested_errors, 1);
        result->i = -1;
        return 0;
    }
    if (tg_wait(a->s, child, -1, NULL) != TG_OK ||
        tg_info(a->s, child, &info) != TG_OK)
        atomic_fetch_add(&rt_nested_errors, 1);
    tg_release(a->s, child);
    result->i = (int64_t)me * 100 + info.core;
    return 0;
}

TG_TEST(routing_strict_nested_submissions)
{
    tg_config cfg = { .workers = 4, .no_pin = 1, .strict_routing = 1 };
    tg_scheduler *s = NULL;
    static const tg_op parents[3] = {
        [TG_MEDIUM] = { .name = "rt_parent_m", .fn = rt_parent_fn,
                        .weight = TG_MEDIUM },
        [TG_LIGHT] = { .name = "rt_parent_l", .fn = rt_parent_fn,
                       .weight = TG_LIGHT },
        [TG_HEAVY] = { .name = "rt_parent_h", .fn = rt_parent_fn,
                       .weight = TG_HEAVY },
    };
    tg_token t[90];
    int bad_parent_core = 0, out_of_range = 0, not_local = 0, waited = 0;

    rt_reset(0);
    atomic_store(&rt_nested_errors, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 90; i++) {
        rt_parent_args a = { s, (i / 3) % 3 };
        REQUIRE(tg_submit(s, &parents[i % 3], &a, sizeof a, &t[i]) == TG_OK);
    }
    for (int i = 0; i < 90; i++) {
        tg_value v = { 0 };
        int pw = i % 3, cw = (i / 3) % 3, pcore, ccore;
        if (tg_wait(s, t[i], TH_LONG_NS, &v) == TG_OK) waited++;
        pcore = (int)(v.i / 100);
        ccore = (int)(v.i % 100);
        if (pcore < rt_range_start(pw, 4) || pcore > 3) bad_parent_core++;
        if (ccore < rt_range_start(cw, 4) || ccore > 3) out_of_range++;
        /* Parent inside the child's range: the child ran where it waited. */
        if (pcore >= rt_range_start(cw, 4) && ccore != pcore) not_local++;
        tg_release(s, t[i]);
    }
    CHECK_EQ(waited, 90);
    CHECK_EQ(atomic_load(&rt_nested_errors), 0);
    CHECK_EQ(bad_parent_core, 0);
    CHECK_EQ(out_of_range, 0);
    CHECK_EQ(not_local, 0);
    tg_destroy(s);
}
