/* test_health.c - the health guard: per-op attempts, successes and
   failures, the health classes at their thresholds, and auto_block, which
   refuses an op failing more than 90% of at least 10 runs with TG_EBLOCKED
   until tg_op_unblock (and never without auto_block). */
#include "harness.h"

static atomic_int hl_fail_every;   /* fail when seq % this == 0; 1: always */

static int hl_maybe_fail(const void *args, tg_value *result)
{
    int seq = *(const int *)args;
    int every = atomic_load(&hl_fail_every);
    (void)result;
    return every > 0 && seq % every == 0 ? 5 : 0;
}

/* The health class after `runs` runs, every `every`-th failing; -1 if the
   scheduler failed, -2 if not every run was submitted, ran and was counted
   (so that "unknown" cannot come from runs that never happened). */
static int hl_health_after(int runs, int every)
{
    const tg_op op = { .name = "health_op", .fn = hl_maybe_fail };
    tg_scheduler *s;
    struct tg_op_stats os;
    int submitted = 0, want_failures = 0;
    atomic_store(&hl_fail_every, every);
    if (tg_create(NULL, &s) != TG_OK) return -1;
    for (int i = 1; i <= runs; i++) {
        if (tg_submit(s, &op, &i, sizeof i, NULL) == TG_OK) submitted++;
        if (every > 0 && i % every == 0) want_failures++;
    }
    int idle = tg_wait_idle(s, TH_LONG_NS) == TG_OK;
    int h = tg_op_stats(s, "health_op", &os) == TG_OK ? os.health : -1;
    if (h >= 0 && (submitted != runs || !idle || os.attempts != (uint64_t)runs ||
                   os.failures != (uint64_t)want_failures))
        h = -2;
    tg_destroy(s);
    return h;
}

TG_TEST(health_classes)
{
    CHECK_EQ(hl_health_after(4, 1), TG_HEALTH_UNKNOWN);        /* < 5 attempts */
    CHECK_EQ(hl_health_after(20, 20), TG_HEALTH_EXCELLENT);    /* 95% */
    CHECK_EQ(hl_health_after(20, 10), TG_HEALTH_HEALTHY);      /* 90% */
    CHECK_EQ(hl_health_after(20, 5), TG_HEALTH_HEALTHY);       /* 80% */
    CHECK_EQ(hl_health_after(20, 4), TG_HEALTH_AT_RISK);       /* 75% */
    CHECK_EQ(hl_health_after(20, 2), TG_HEALTH_AT_RISK);       /* 50% */
    CHECK_EQ(hl_health_after(20, 1), TG_HEALTH_PROBLEMATIC);   /* 0% */
    CHECK(strcmp(tg_health_name(TG_HEALTH_AT_RISK), "at risk") == 0);
    CHECK(strcmp(tg_health_name(42), "unknown") == 0);
}

TG_TEST(health_auto_block_refuses_a_failing_op_until_unblocked)
{
    const tg_op bad = { .name = "bad_op", .fn = hl_maybe_fail };
    const tg_op good = { .name = "good_op", .fn = hl_maybe_fail };
    tg_config cfg = { .auto_block = 1 };
    tg_scheduler *s;
    tg_token t;
    struct tg_op_stats os;
    atomic_store(&hl_fail_every, 1);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    /* nine failures: not judged yet (fewer than 10 attempts) */
    for (int i = 1; i <= 9; i++) {
        CHECK_RC(tg_submit(s, &bad, &i, sizeof i, &t), TG_OK);
        CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_EFAILED);
        tg_release(s, t);
    }
    int ten = 10;
    CHECK_RC(tg_submit(s, &bad, &ten, sizeof ten, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_EFAILED);
    tg_release(s, t);
    /* 10 of 10 failed: refused */
    CHECK_RC(tg_submit(s, &bad, &ten, sizeof ten, &t), TG_EBLOCKED);
    CHECK_RC(tg_op_stats(s, "bad_op", &os), TG_OK);
    CHECK_EQ(os.blocked, 1);
    CHECK_EQ(os.health, TG_HEALTH_PROBLEMATIC);
    /* another op is not affected */
    atomic_store(&hl_fail_every, 0);
    CHECK_RC(tg_submit(s, &good, &ten, sizeof ten, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    tg_release(s, t);
    /* unblocked: judged afresh */
    CHECK_RC(tg_op_unblock(s, "bad_op"), TG_OK);
    CHECK_RC(tg_op_stats(s, "bad_op", &os), TG_OK);
    CHECK_EQ(os.blocked, 0);
    CHECK_RC(tg_submit(s, &bad, &ten, sizeof ten, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    tg_release(s, t);
    tg_destroy(s);
}

TG_TEST(health_no_auto_block_by_default)
{
    const tg_op bad = { .name = "bad_op", .fn = hl_maybe_fail };
    tg_scheduler *s;
    tg_token t;
    atomic_store(&hl_fail_every, 1);
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    for (int i = 1; i <= 20; i++) {
        CHECK_RC(tg_submit(s, &bad, &i, sizeof i, &t), TG_OK);
        CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_EFAILED);
        tg_release(s, t);
    }
    tg_destroy(s);
}

