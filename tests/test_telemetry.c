/* test_telemetry.c - counts against a known workload, exactly: tokens by
   outcome in tg_stats and runs by outcome in tg_op_stats; the run-time and
   queue-wait percentiles bound what the tokens did; the concurrency ratio
   of two workers kept busy. */
#include "harness.h"

static int tm_sleep(const void *args, tg_value *result)
{
    (void)result;
    th_sleep_us(*(const int *)args);
    return 0;
}

static int tm_fail_odd(const void *args, tg_value *result)
{
    (void)result;
    return *(const int *)args % 2;
}

TG_TEST(telemetry_counts_match_a_known_workload)
{
    const tg_op op = { .name = "mixed", .fn = tm_fail_odd };
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    th_gate gate;
    tg_token gt, killed[5];
    struct tg_stats st;
    struct tg_op_stats os;
    th_gate_init(&gate, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 120; i++) CHECK_RC(tg_submit(s, &op, &i, sizeof i, NULL), TG_OK);  /* 60 fail */
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &gate, &gt) == TG_OK);
    CHECK(th_gate_wait_entered(&gate, 1));
    for (int i = 0; i < 5; i++) {
        int even = 2 * i;
        CHECK_RC(tg_submit(s, &op, &even, sizeof even, &killed[i]), TG_OK);
        CHECK_RC(tg_kill(s, killed[i]), TG_OK);
    }
    th_gate_open(&gate);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.submitted, 126);
    CHECK_EQ(st.completed, 61);         /* 60 even + the gate */
    CHECK_EQ(st.failed, 60);
    CHECK_EQ(st.killed, 5);
    CHECK_EQ(st.live, 0);
    CHECK_EQ(st.cores[0].executed, 121);
    CHECK_RC(tg_op_stats(s, "mixed", &os), TG_OK);
    CHECK_EQ(os.attempts, 120);
    CHECK_EQ(os.successes, 60);
    CHECK_EQ(os.failures, 60);
    CHECK_EQ(os.failed, 60);
    CHECK_EQ(os.killed, 5);
    CHECK_EQ(os.health, TG_HEALTH_AT_RISK);   /* 50% */
    for (int i = 0; i < 5; i++) tg_release(s, killed[i]);
    tg_release(s, gt);
    tg_destroy(s);
}

TG_TEST(telemetry_run_and_wait_percentiles_bound_the_runs)
{
    const tg_op op = { .name = "sleeper", .fn = tm_sleep };
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    th_gate gate;
    tg_token gt;
    struct tg_op_stats os;
    int us = 2000;
    th_gate_init(&gate, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &gate, &gt) == TG_OK);
    CHECK(th_gate_wait_entered(&gate, 1));
    for (int i = 0; i < 10; i++) CHECK_RC(tg_submit(s, &op, &us, sizeof us, NULL), TG_OK);
    th_sleep_ms(30);                       /* all ten wait at least 30 ms */
    th_gate_open(&gate);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_op_stats(s, "sleeper", &os), TG_OK);
    CHECK_EQ(os.attempts, 10);
    /* every run slept at least 2 ms; every wait lasted at least 30 ms */
    CHECK(os.exec_p50_ns >= 2000000);
    CHECK(os.exec_p50_ns <= os.exec_p95_ns && os.exec_p95_ns <= os.exec_p99_ns);
    CHECK(os.wait_p50_ns >= 30000000);
    CHECK(os.wait_p50_ns <= os.wait_p95_ns && os.wait_p95_ns <= os.wait_p99_ns);
    /* one worker, in order: the last waited about nine runs longer */
    CHECK(os.wait_p99_ns >= 30000000 + 9 * 2000000);
    CHECK(os.exec_p99_ns < 10 * TH_SEC);
    tg_release(s, gt);
    tg_destroy(s);
}

static int tm_busy(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    int64_t end = th_now_ns() + 10 * TH_MS;
    while (th_now_ns() < end) {
    }
    return 0;
}

TG_TEST(telemetry_concurrency_ratio_of_busy_workers)
{
    const tg_op op = { .name = "busy", .fn = tm_busy, .weight = TG_HEAVY };
    tg_config cfg = { .workers = 2 };
    tg_scheduler *s;
    struct tg_stats st;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK(st.concurrency_since_start == 0.0);
    /* 2.4 s of 10 ms runs over two workers: over a second of both busy */
    for (int i = 0; i < 240; i++) CHECK_RC(tg_submit(s, &op, NULL, 0, NULL), TG_OK);
    th_sleep_ms(1500);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    /* run time is wall time of the runs: two workers, at most ~2 */
    CHECK(st.concurrency_last_second > 1.0);
    CHECK(st.concurrency_last_second < 2.1);
    CHECK(st.concurrency_since_start > 0.5);
    CHECK(st.concurrency_since_start < 2.1);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    tg_destroy(s);
}
