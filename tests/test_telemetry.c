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

static int tm_always_fail(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    return 7;
}

/* admitted counts tokens that reached a run queue: a token that waited for
   room counts once it got in, a dedupe follower never; retried counts the
   failed runs queued again. */
TG_TEST(telemetry_admitted_and_retried_totals)
{
    const tg_op retry_op = { .name = "retry twice", .fn = tm_always_fail, .max_retries = 2 };
    const tg_op dedupe_op = { .name = "dedupe", .fn = th_nop_fn, .flags = TG_OP_DEDUPE };
    tg_config cfg = { .workers = 1, .mailbox_capacity = 2 };
    tg_scheduler *s;
    th_gate gate;
    tg_token gt, leader, follower;
    struct tg_stats st;
    th_gate_init(&gate, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &gate, &gt) == TG_OK);
    CHECK(th_gate_wait_entered(&gate, 1));
    int key = 42;
    CHECK_RC(tg_submit(s, &dedupe_op, &key, sizeof key, &leader), TG_OK);
    CHECK_RC(tg_submit(s, &dedupe_op, &key, sizeof key, &follower), TG_OK);   /* joins */
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.submitted, 3);
    CHECK_EQ(st.admitted, 2);            /* the gate and the leader */
    /* 10 tokens through mailboxes of 2 cells: most wait for room first */
    th_gate_open(&gate);
    for (int i = 0; i < 10; i++) CHECK_RC(tg_submit(s, &retry_op, &i, sizeof i, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.submitted, 13);
    CHECK_EQ(st.admitted, 12);
    CHECK_EQ(st.retried, 20);            /* 2 retries each */
    CHECK_EQ(st.failed, 10);
    CHECK_EQ(st.completed, 3);           /* gate, leader, follower */
    CHECK_EQ(st.dedupe_joined, 1);
    CHECK_EQ(st.ops, 3);
    CHECK(st.uptime_ns > 0);
    CHECK(st.cores[0].run_ns > 0);
    CHECK_EQ(st.cores[0].executed, 32);  /* gate, leader, 30 runs */
    tg_release(s, gt);
    tg_release(s, leader);
    tg_release(s, follower);
    tg_destroy(s);
}

TG_TEST(telemetry_op_names_lists_each_name_once)
{
    const tg_op a1 = { .name = "a", .fn = th_nop_fn };
    const tg_op a2 = { .name = "a", .fn = th_nop_fn, .weight = TG_HEAVY };
    const tg_op b = { .name = "b", .fn = th_nop_fn };
    tg_scheduler *s;
    const char *names[4] = { 0 };
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_EQ(tg_op_names(s, NULL, 0), 0);
    CHECK_RC(tg_submit(s, &a1, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_submit(s, &b, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_submit(s, &a2, NULL, 0, NULL), TG_OK);
    CHECK_EQ(tg_op_names(s, names, 1), 2);      /* counts past cap */
    CHECK(names[0] && strcmp(names[0], "a") == 0);
    CHECK(names[1] == NULL);
    CHECK_EQ(tg_op_names(s, names, 4), 2);
    CHECK(names[1] && strcmp(names[1], "b") == 0);
    CHECK_EQ(tg_op_names(NULL, names, 4), 0);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    tg_destroy(s);
}

/* The text exports: the size protocol (ask, then fill), a short buffer,
   and the figures of a known workload in both formats, escaping included. */
TG_TEST(telemetry_json_and_prometheus_texts)
{
    const tg_op odd = { .name = "odd \"name\"\\\n", .fn = tm_fail_odd };
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    size_t need = 0, len = 0;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 20; i++) CHECK_RC(tg_submit(s, &odd, &i, sizeof i, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);

    CHECK_RC(tg_stats_json(NULL, NULL, 0, &need), TG_EINVAL);
    CHECK_RC(tg_stats_json(s, NULL, 5, &need), TG_EINVAL);
    CHECK_RC(tg_stats_json(s, NULL, 0, &need), TG_ERANGE);
    REQUIRE(need > 100);
    /* TG_ERANGE reports a size to allocate (text, NUL and headroom for
       counters that grow meanwhile): passed back as cap, it is enough */
    size_t cap = need;
    char *json = malloc(cap);
    REQUIRE(json);
    char small[16];
    size_t small_need = 0;
    CHECK_RC(tg_stats_json(s, small, sizeof small, &small_need), TG_ERANGE);
    CHECK_EQ(strlen(small), sizeof small - 1);   /* truncated, terminated */
    CHECK_RC(tg_stats_json(s, json, cap, &len), TG_OK);
    CHECK(len < cap);                             /* the NUL fit too */
    CHECK(small_need > len + 1);                  /* headroom beyond text and NUL */
    CHECK(small_need < 2 * len + 512);
    CHECK_EQ(strlen(json), len);
    CHECK(json[0] == '{' && json[len - 1] == '}');
    CHECK(strstr(json, "\"submitted\":20,") != NULL);
    CHECK(strstr(json, "\"completed\":10,") != NULL);
    CHECK(strstr(json, "\"failed\":10,") != NULL);
    CHECK(strstr(json, "\"name\":\"odd \\\"name\\\"\\\\\\u000a\"") != NULL);
    CHECK(strstr(json, "\"attempts\":20,\"successes\":10,\"failures\":10,") != NULL);
    CHECK(strstr(json, "\"health\":\"at risk\"") != NULL);
    free(json);

    CHECK_RC(tg_stats_prometheus(s, NULL, 0, &need), TG_ERANGE);
    cap = need;
    char *prom = malloc(cap);
    REQUIRE(prom);
    CHECK_RC(tg_stats_prometheus(s, prom, cap, &len), TG_OK);
    CHECK(len < cap && need < 2 * len + 512);
    CHECK_EQ(strlen(prom), len);
    CHECK(strstr(prom, "# TYPE tokengate_tokens_completed_total counter\n"
                       "tokengate_tokens_completed_total 10\n") != NULL);
    CHECK(strstr(prom, "tokengate_tokens_submitted_total 20\n") != NULL);
    CHECK(strstr(prom, "tokengate_op_runs_total{op=\"odd \\\"name\\\"\\\\\\n\",result=\"failure\"} 10\n") != NULL);
    CHECK(strstr(prom, "tokengate_op_exec_seconds_count{op=\"odd \\\"name\\\"\\\\\\n\"} 20\n") != NULL);
    CHECK(strstr(prom, "tokengate_op_exec_seconds_bucket{op=\"odd \\\"name\\\"\\\\\\n\",le=\"+Inf\"} 20\n") != NULL);
    CHECK(strstr(prom, "tokengate_core_tokens_executed_total{core=\"0\"} 20\n") != NULL);
    CHECK(prom[len - 1] == '\n');
    free(prom);
    tg_destroy(s);
}
