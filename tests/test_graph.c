/* test_graph.c - the task-graph calls: tg_gather and its outcome codes,
   tg_wait_release and tg_gather_release, tg_current_scheduler inside and
   outside tasks. */
#include "harness.h"

#include <sched.h>

/* An op whose outcome its argument picks: 0 completes with 1000 + id, 1
   fails, 2 waits on the gate then completes (to be killed or timed out). */
typedef struct gr_args { int id, how; th_gate *gate; } gr_args;

static int gr_mixed_fn(const void *args, tg_value *result)
{
    const gr_args *a = (const gr_args *)args;
    if (a->how == 1) return 7;
    if (a->how == 2) {
        while (!atomic_load(&a->gate->open) && !tg_should_stop()) th_sleep_us(100);
    }
    result->i = 1000 + a->id;
    return 0;
}

static const tg_op gr_mixed_op = { .name = "gr_mixed", .fn = gr_mixed_fn };
static const tg_op gr_late_op = { .name = "gr_late", .fn = gr_mixed_fn, .timeout_ns = 2 * TH_MS };

/* ------------------------------------------------------------------ gather */

TG_TEST(graph_gather_reports_each_outcome)
{
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    enum { N = 8 };
    tg_token t[N];
    gr_args a[N];
    th_gate_init(&g, 1);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    /* 0..3 complete, 4..5 fail, 6 is killed while running, 7 times out */
    for (int i = 0; i < N; i++) {
        a[i].id = i;
        a[i].how = i < 4 ? 0 : i < 6 ? 1 : 2;
        a[i].gate = &g;
        REQUIRE(tg_submit(s, i == 7 ? &gr_late_op : &gr_mixed_op, &a[i], sizeof a[i], &t[i]) == TG_OK);
    }
    CHECK_RC(tg_kill(s, t[6]), TG_OK);
    tg_value v[N];
    int codes[N];
    for (int i = 0; i < N; i++) { v[i].i = -1; codes[i] = 12345; }
    CHECK_RC(tg_gather(s, t, N, 10 * TH_SEC, v, codes), TG_OK);
    for (int i = 0; i < 4; i++) {
        CHECK_RC(codes[i], TG_OK);
        CHECK_EQ(v[i].i, 1000 + i);
    }
    for (int i = 4; i < 6; i++) {
        CHECK_RC(codes[i], TG_EFAILED);
        CHECK_EQ(v[i].i, 0);
    }
    CHECK_RC(codes[6], TG_EKILLED);
    CHECK_RC(codes[7], TG_EDEADLINE);
    CHECK_EQ(v[6].i, 0);
    CHECK_EQ(v[7].i, 0);
    /* values and codes may be NULL; the handles stay valid */
    CHECK_RC(tg_gather(s, t, N, 0, NULL, codes), TG_OK);
    CHECK_RC(codes[0], TG_OK);
    CHECK_RC(tg_gather(s, t, N, 0, v, NULL), TG_OK);
    CHECK_EQ(v[3].i, 1003);
    CHECK_RC(tg_gather(s, t, 0, -1, NULL, NULL), TG_OK);
    for (int i = 0; i < N; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    th_gate_open(&g);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, -1), TG_OK);
    tg_destroy(s);
}

TG_TEST(graph_gather_timeout_writes_nothing)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token t[2];
    gr_args a[2] = { { 0, 0, NULL }, { 1, 2, NULL } };
    th_gate_init(&g, 1);
    a[0].gate = a[1].gate = &g;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(tg_submit(s, &gr_mixed_op, &a[0], sizeof a[0], &t[0]) == TG_OK);
    REQUIRE(tg_submit(s, &gr_mixed_op, &a[1], sizeof a[1], &t[1]) == TG_OK);
    tg_value v[2] = { { .i = -5 }, { .i = -5 } };
    int codes[2] = { -77, -77 };
    CHECK_RC(tg_gather(s, t, 2, 20 * TH_MS, v, codes), TG_ETIMEDOUT);
    CHECK_RC(tg_gather(s, t, 2, 0, v, codes), TG_ETIMEDOUT);
    CHECK_EQ(v[0].i, -5);
    CHECK_EQ(codes[0], -77);
    CHECK_EQ(codes[1], -77);
    /* nothing released on a timeout: both handles still answer */
    CHECK_RC(tg_gather_release(s, t, 2, 20 * TH_MS, v, codes), TG_ETIMEDOUT);
    tg_state st;
    CHECK_RC(tg_poll(s, t[0], &st), TG_OK);
    CHECK_RC(tg_poll(s, t[1], &st), TG_OK);
    th_gate_open(&g);
    CHECK_RC(tg_gather_release(s, t, 2, -1, v, codes), TG_OK);
    CHECK_EQ(v[0].i, 1000);
    CHECK_EQ(v[1].i, 1001);
    CHECK_RC(tg_poll(s, t[0], &st), TG_ESTALE);
    CHECK_RC(tg_poll(s, t[1], &st), TG_ESTALE);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, -1), TG_OK);
    tg_destroy(s);
}

TG_TEST(graph_gather_bad_handles)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL, *other = NULL;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(tg_create(&cfg, &other) == TG_OK);
    gr_args a = { 0, 0, NULL };
    tg_token t[3], foreign;
    for (int i = 0; i < 3; i++) REQUIRE(tg_submit(s, &gr_mixed_op, &a, sizeof a, &t[i]) == TG_OK);
    REQUIRE(tg_submit(other, &gr_mixed_op, &a, sizeof a, &foreign) == TG_OK);
    int codes[3] = { 9, 9, 9 };
    CHECK_RC(tg_gather(NULL, t, 3, -1, NULL, codes), TG_EINVAL);
    CHECK_RC(tg_gather(s, NULL, 3, -1, NULL, codes), TG_EINVAL);
    tg_token stale = t[2];
    CHECK_RC(tg_wait_release(s, stale, -1, NULL), TG_OK);
    CHECK_RC(tg_gather(s, t, 3, -1, NULL, codes), TG_ESTALE);
    CHECK_EQ(codes[0], 9);
    tg_token mixed[2] = { t[0], foreign };
    CHECK(tg_gather(s, mixed, 2, -1, NULL, codes) != TG_OK);
    tg_token forged = { .bits = t[0].bits ^ 0x0fffffffu };
    tg_token with_forged[2] = { t[0], forged };
    CHECK(tg_gather(s, with_forged, 2, -1, NULL, codes) != TG_OK);
    CHECK_EQ(codes[0], 9);
    /* a failed gather_release releases nothing */
    CHECK(tg_gather_release(s, with_forged, 2, -1, NULL, NULL) != TG_OK);
    CHECK_RC(tg_gather_release(s, t, 2, -1, NULL, NULL), TG_OK);
    CHECK_RC(tg_wait_release(other, foreign, -1, NULL), TG_OK);
    CHECK_RC(tg_wait_release(s, t[0], -1, NULL), TG_ESTALE);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    CHECK_EQ(th_stat_slots_in_use(other), 0);
    tg_destroy(other);
    tg_destroy(s);
}

/* A gather inside a task: the parent submits K children and gathers them
   (the wait helps, as tg_wait_all does); with one worker too. */
static int gr_child_fn(const void *args, tg_value *result)
{
    result->i = *(const int *)args * 3;
    return *(const int *)args % 5 == 4 ? 1 : 0;   /* every fifth fails */
}
static const tg_op gr_child_op = { .name = "gr_child", .fn = gr_child_fn };

static int gr_parent_fn(const void *args, tg_value *result)
{
    int k = *(const int *)args;
    tg_scheduler *s = tg_current_scheduler();
    if (!s || k > 64) return 100;
    tg_token t[64];
    int ids[64], codes[64];
    tg_value v[64];
    for (int i = 0; i < k; i++) {
        ids[i] = i;
        if (tg_submit(s, &gr_child_op, &ids[i], sizeof ids[i], &t[i]) != TG_OK) return 101;
    }
    if (tg_gather_release(s, t, (size_t)k, -1, v, codes) != TG_OK) return 102;
    int64_t sum = 0;
    for (int i = 0; i < k; i++) {
        int want = i % 5 == 4 ? TG_EFAILED : TG_OK;
        if (codes[i] != want) return 103;
        sum += v[i].i;
    }
    result->i = sum;
    return 0;
}
static const tg_op gr_parent_op = { .name = "gr_parent", .fn = gr_parent_fn };

TG_TEST(graph_gather_inside_a_task)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        tg_config cfg = { .workers = workers, .no_pin = 1 };
        tg_scheduler *s = NULL;
        REQUIRE(tg_create(&cfg, &s) == TG_OK);
        enum { P = 20 };
        tg_token parents[P];
        int k = 40;
        for (int i = 0; i < P; i++) REQUIRE(tg_submit(s, &gr_parent_op, &k, sizeof k, &parents[i]) == TG_OK);
        tg_value v[P];
        int codes[P];
        CHECK_RC(tg_gather_release(s, parents, P, 10 * TH_SEC, v, codes), TG_OK);
        int64_t want = 0;
        for (int i = 0; i < k; i++)
            if (i % 5 != 4) want += 3 * i;
        int right = 0;
        for (int i = 0; i < P; i++) right += codes[i] == TG_OK && v[i].i == want;
        CHECK_EQ(right, P);
        CHECK_EQ(th_stat_slots_in_use(s), 0);
        CHECK_RC(tg_shutdown(s, TG_DRAIN, -1), TG_OK);
        tg_destroy(s);
    }
}

/* -------------------------------------------------------- wait and release */

TG_TEST(graph_wait_release_releases_only_ended_tokens)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    th_gate_init(&g, 1);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    gr_args ok = { 5, 0, &g }, bad = { 6, 1, &g }, slow = { 7, 2, &g };
    tg_token a, b, c;
    REQUIRE(tg_submit(s, &gr_mixed_op, &ok, sizeof ok, &a) == TG_OK);
    REQUIRE(tg_submit(s, &gr_mixed_op, &bad, sizeof bad, &b) == TG_OK);
    REQUIRE(tg_submit(s, &gr_mixed_op, &slow, sizeof slow, &c) == TG_OK);
    tg_value v = { .i = 0 };
    CHECK_RC(tg_wait_release(s, a, -1, &v), TG_OK);
    CHECK_EQ(v.i, 1005);
    CHECK_RC(tg_wait_release(s, a, -1, &v), TG_ESTALE);
    CHECK_RC(tg_wait_release(s, b, -1, NULL), TG_EFAILED);
    tg_state st;
    CHECK_RC(tg_poll(s, b, &st), TG_ESTALE);
    CHECK_RC(tg_wait_release(s, c, 10 * TH_MS, NULL), TG_ETIMEDOUT);
    CHECK_RC(tg_poll(s, c, &st), TG_OK);          /* kept on a timeout */
    CHECK_RC(tg_kill(s, c), TG_OK);
    CHECK_RC(tg_wait_release(s, c, -1, NULL), TG_EKILLED);
    CHECK_RC(tg_poll(s, c, &st), TG_ESTALE);
    CHECK_RC(tg_wait_release(NULL, c, -1, NULL), TG_EINVAL);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, -1), TG_OK);
    tg_destroy(s);
}

/* ------------------------------------------------------ current scheduler */

static atomic_uintptr_t gr_seen;

static int gr_whoami_fn(const void *args, tg_value *result)
{
    (void)args;
    atomic_store(&gr_seen, (uintptr_t)tg_current_scheduler());
    result->u = 0;
    return 0;
}
static const tg_op gr_whoami_op = { .name = "gr_whoami", .fn = gr_whoami_fn };

TG_TEST(graph_current_scheduler_names_the_running_tasks)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s1 = NULL, *s2 = NULL;
    CHECK(tg_current_scheduler() == NULL);
    REQUIRE(tg_create(&cfg, &s1) == TG_OK);
    REQUIRE(tg_create(&cfg, &s2) == TG_OK);
    CHECK(tg_current_scheduler() == NULL);
    tg_token t;
    atomic_store(&gr_seen, (uintptr_t)1);
    REQUIRE(tg_submit(s1, &gr_whoami_op, NULL, 0, &t) == TG_OK);
    CHECK_RC(tg_wait_release(s1, t, -1, NULL), TG_OK);
    CHECK(atomic_load(&gr_seen) == (uintptr_t)s1);
    REQUIRE(tg_submit(s2, &gr_whoami_op, NULL, 0, &t) == TG_OK);
    CHECK_RC(tg_wait_release(s2, t, -1, NULL), TG_OK);
    CHECK(atomic_load(&gr_seen) == (uintptr_t)s2);
    CHECK(tg_current_scheduler() == NULL);
    tg_destroy(s2);
    tg_destroy(s1);
}

/* ----------------------------------------------------------------- batches */

static atomic_llong gr_batch_sum;
static atomic_llong gr_batch_runs;

static int gr_batch_fn(const void *args, tg_value *result)
{
    int64_t v = *(const int64_t *)args;
    atomic_fetch_add(&gr_batch_sum, v);
    atomic_fetch_add(&gr_batch_runs, 1);
    result->i = v * 2;
    return 0;
}
static const tg_op gr_batch_op = { .name = "gr_batch", .fn = gr_batch_fn };

TG_TEST(graph_batch_arguments_are_the_consecutive_blocks)
{
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    enum { N = 5000 };
    static int64_t args[N];
    static tg_token t[N];
    static tg_value v[N];
    static int codes[N];
    for (int i = 0; i < N; i++) args[i] = i * 7 + 1;
    atomic_store(&gr_batch_sum, 0);
    atomic_store(&gr_batch_runs, 0);
    size_t submitted = 12345;
    CHECK_RC(tg_submit_batch(s, &gr_batch_op, args, sizeof args[0], N, t, &submitted), TG_OK);
    CHECK_EQ(submitted, N);
    CHECK_RC(tg_gather_release(s, t, N, 10 * TH_SEC, v, codes), TG_OK);
    int right = 0;
    for (int i = 0; i < N; i++) right += codes[i] == TG_OK && v[i].i == 2 * args[i];
    CHECK_EQ(right, N);
    CHECK_EQ(atomic_load(&gr_batch_runs), N);
    /* detached: out NULL, submitted NULL */
    CHECK_RC(tg_submit_batch(s, &gr_batch_op, args, sizeof args[0], N, NULL, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, 10 * TH_SEC), TG_OK);
    CHECK_EQ(atomic_load(&gr_batch_runs), 2 * N);
    int64_t want = 0;
    for (int i = 0; i < N; i++) want += args[i];
    CHECK_EQ(atomic_load(&gr_batch_sum), 2 * want);
    /* count 0 and bad input */
    CHECK_RC(tg_submit_batch(s, &gr_batch_op, args, sizeof args[0], 0, t, &submitted), TG_OK);
    CHECK_EQ(submitted, 0);
    CHECK_RC(tg_submit_batch(NULL, &gr_batch_op, args, sizeof args[0], 4, t, &submitted), TG_EINVAL);
    CHECK_EQ(t[0].bits, TG_TOKEN_NONE.bits);
    CHECK_RC(tg_submit_batch(s, NULL, args, sizeof args[0], 4, t, &submitted), TG_EINVAL);
    CHECK_RC(tg_submit_batch(s, &gr_batch_op, NULL, sizeof args[0], 4, t, &submitted), TG_EINVAL);
    CHECK_RC(tg_submit_batch(s, &gr_batch_op, args, SIZE_MAX / 2, 4, t, &submitted), TG_E2BIG);
    CHECK_RC(tg_submit_batch(s, &gr_batch_op, args, sizeof args[0], SIZE_MAX / 2, NULL, &submitted), TG_EINVAL);
    CHECK_EQ(submitted, 0);
    /* count 0 reads no arguments; the op is still checked */
    CHECK_RC(tg_submit_batch(s, &gr_batch_op, NULL, sizeof args[0], 0, NULL, &submitted), TG_OK);
    CHECK_RC(tg_submit_batch(s, NULL, NULL, 0, 0, NULL, &submitted), TG_EINVAL);
    CHECK_RC(tg_submit_batch(NULL, &gr_batch_op, NULL, 0, 0, NULL, &submitted), TG_EINVAL);
    CHECK_EQ(submitted, 0);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, -1), TG_OK);
    tg_destroy(s);
}

/* Under TG_FULL_REJECT with max_tokens slots and the one worker held: the
   batch stops exactly where the slots ran out, and says so. */
TG_TEST(graph_batch_stops_where_the_full_policy_refuses)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .max_tokens = 64, .full_policy = TG_FULL_REJECT };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t;
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    enum { N = 200 };
    int64_t args[N];
    tg_token t[N];
    for (int i = 0; i < N; i++) args[i] = i;
    atomic_store(&gr_batch_runs, 0);
    atomic_store(&gr_batch_sum, 0);
    size_t submitted = 0;
    CHECK_RC(tg_submit_batch(s, &gr_batch_op, args, sizeof args[0], N, t, &submitted), TG_EBUSY);
    CHECK_EQ(submitted, 63);             /* 64 slots less the gate's */
    tg_state st;
    int valid = 0, none = 0;
    for (size_t i = 0; i < N; i++) {
        if (i < submitted) valid += tg_poll(s, t[i], &st) == TG_OK;
        else none += t[i].bits == TG_TOKEN_NONE.bits;
    }
    CHECK_EQ(valid, (long long)submitted);
    CHECK_EQ(none, N - (long long)submitted);
    th_gate_open(&g);
    CHECK_RC(tg_wait_release(s, gate_t, -1, NULL), TG_OK);
    CHECK_RC(tg_gather_release(s, t, submitted, 10 * TH_SEC, NULL, NULL), TG_OK);
    CHECK_EQ(atomic_load(&gr_batch_runs), (long long)submitted);
    CHECK_EQ(atomic_load(&gr_batch_sum), (long long)(submitted * (submitted - 1) / 2));
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, -1), TG_OK);
    tg_destroy(s);
}

/* 1,000,000 tokens in batches of random sizes from 1 to 65,536 (seeded),
   under each full policy, with tiny mailboxes and few slots, held and
   detached: every token runs exactly once; a refused batch goes on from
   where it stopped. */
TG_TEST(graph_batch_a_million_in_random_batches)
{
    long total = th_env_long("TG_STRESS_TOKENS", 1000000);
    static int64_t args[65536];
    static tg_token t[65536];
    for (int i = 0; i < 65536; i++) args[i] = 1;
    for (int policy = 0; policy < 2; policy++) {
        tg_config cfg = { .workers = 2, .no_pin = 1, .mailbox_capacity = 8, .max_tokens = 4096,
                          .full_policy = policy ? TG_FULL_REJECT : TG_FULL_BLOCK };
        tg_scheduler *s = NULL;
        REQUIRE(tg_create(&cfg, &s) == TG_OK);
        atomic_store(&gr_batch_runs, 0);
        uint64_t seed = 0x5eed0000u + (uint64_t)policy;
        long sent = 0, refusals = 0, bad = 0;
        while (sent < total) {
            size_t n = (size_t)(th_rand(&seed) % 65536u) + 1;
            if ((long)n > total - sent) n = (size_t)(total - sent);
            int held = (int)(th_rand(&seed) & 1u) && n <= 4096;
            size_t done = 0;
            while (done < n) {
                size_t k = 0;
                int rc = tg_submit_batch(s, &gr_batch_op, args, sizeof args[0], n - done,
                                         held ? t + done : NULL, &k);
                done += k;
                if (rc == TG_EBUSY && policy) {
                    refusals++;
                    sched_yield();
                } else if (rc != TG_OK) {
                    bad++;
                    break;
                }
            }
            if (held && tg_gather_release(s, t, done, 60 * TH_SEC, NULL, NULL) != TG_OK) bad++;
            sent += (long)done;
            if (bad) break;
        }
        CHECK_EQ(bad, 0);
        CHECK_RC(tg_wait_idle(s, 60 * TH_SEC), TG_OK);
        CHECK_EQ(atomic_load(&gr_batch_runs), sent);
        CHECK_EQ(sent, total);
        if (policy) th_note("TG_FULL_REJECT: %ld refused batches resumed", refusals);
        CHECK_EQ(th_stat_slots_in_use(s), 0);
        CHECK_RC(tg_shutdown(s, TG_DRAIN, -1), TG_OK);
        tg_destroy(s);
    }
}
