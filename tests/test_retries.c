/* test_retries.c - failed runs retried up to the op's max_retries: the
   final outcome reaches the original handle, the retry count and the last
   failure code show in tg_info, retries go to the back of the queue, keep
   the token's slot, sticky pin and core, and bad limits are refused. */
#include "harness.h"

#define RT_KEYS 64

static atomic_int rt_attempts[RT_KEYS];
static atomic_int rt_log[64];
static atomic_int rt_log_len;

/* Fails (returning 100 + attempt) until its key's attempt number exceeds
   args->fail_times, then succeeds with the attempt number as its result. */
typedef struct rt_args {
    int key;
    int fail_times;
} rt_args;

static int rt_flaky(const void *args, tg_value *result)
{
    const rt_args *a = args;
    int n = atomic_fetch_add(&rt_attempts[a->key], 1) + 1;
    int at = atomic_fetch_add(&rt_log_len, 1);
    if (at < 64) atomic_store(&rt_log[at], a->key);
    if (n <= a->fail_times) return 100 + n;
    result->i = n;
    return 0;
}

static void rt_reset(void)
{
    for (int i = 0; i < RT_KEYS; i++) atomic_store(&rt_attempts[i], 0);
    atomic_store(&rt_log_len, 0);
}

static const tg_op rt_op3 = { .name = "flaky3", .fn = rt_flaky, .max_retries = 3 };
static const tg_op rt_op2 = { .name = "flaky2", .fn = rt_flaky, .max_retries = 2 };
static const tg_op rt_op0 = { .name = "flaky0", .fn = rt_flaky };

TG_TEST(retries_success_on_a_later_try_reaches_the_handle)
{
    tg_scheduler *s;
    tg_token t;
    tg_value v;
    tg_token_info info;
    struct tg_op_stats os;
    rt_args a = { 1, 2 };
    rt_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &rt_op3, &a, sizeof a, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_OK);
    CHECK_EQ(v.i, 3);                      /* the third try succeeded */
    CHECK_RC(tg_info(s, t, &info), TG_OK);
    CHECK_EQ(info.state, TG_COMPLETED);
    CHECK_EQ(info.retries, 2);
    CHECK_EQ(info.failure_code, 102);      /* the last non-zero return */
    CHECK_RC(tg_op_stats(s, "flaky3", &os), TG_OK);
    CHECK_EQ(os.attempts, 3);
    CHECK_EQ(os.failures, 2);
    CHECK_EQ(os.successes, 1);
    CHECK_EQ(os.retried, 2);
    CHECK_EQ(os.failed, 0);
    tg_release(s, t);
    tg_destroy(s);
}

TG_TEST(retries_exhausted_end_failed_with_the_last_code)
{
    tg_scheduler *s;
    tg_token t, u;
    tg_token_info info;
    struct tg_op_stats os;
    struct tg_stats st;
    rt_args a = { 2, 1000 }, b = { 3, 1000 };
    rt_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &rt_op2, &a, sizeof a, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_EFAILED);
    CHECK_RC(tg_info(s, t, &info), TG_OK);
    CHECK_EQ(info.state, TG_FAILED);
    CHECK_EQ(info.retries, 2);
    CHECK_EQ(info.failure_code, 103);
    CHECK_EQ(atomic_load(&rt_attempts[2]), 3);
    /* no retries: one run */
    CHECK_RC(tg_submit(s, &rt_op0, &b, sizeof b, &u), TG_OK);
    CHECK_RC(tg_wait(s, u, TH_LONG_NS, NULL), TG_EFAILED);
    CHECK_EQ(atomic_load(&rt_attempts[3]), 1);
    CHECK_RC(tg_op_stats(s, "flaky2", &os), TG_OK);
    CHECK_EQ(os.attempts, 3);
    CHECK_EQ(os.failed, 1);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.failed, 2);
    CHECK_EQ(st.submitted, 2);
    tg_release(s, t);
    tg_release(s, u);
    tg_destroy(s);
}

TG_TEST(retries_go_to_the_back_of_the_queue)
{
    /* one worker, held by a gate while A (fails once), B and C are queued:
       the runs are A, B, C, then A's retry */
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    th_gate gate;
    th_gate *gp = &gate;
    const tg_op gate_op = { .name = "gate", .fn = th_gate_fn };
    tg_token g, t[3];
    rt_args a[3] = { { 10, 1 }, { 11, 0 }, { 12, 0 } };
    rt_reset();
    th_gate_init(&gate, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &gate_op, &gp, sizeof gp, &g), TG_OK);
    CHECK(th_gate_wait_entered(&gate, 1));
    for (int i = 0; i < 3; i++) CHECK_RC(tg_submit(s, &rt_op3, &a[i], sizeof a[i], &t[i]), TG_OK);
    th_gate_open(&gate);
    CHECK_RC(tg_wait_all(s, t, 3, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&rt_log_len), 4);
    CHECK_EQ(atomic_load(&rt_log[0]), 10);
    CHECK_EQ(atomic_load(&rt_log[1]), 11);
    CHECK_EQ(atomic_load(&rt_log[2]), 12);
    CHECK_EQ(atomic_load(&rt_log[3]), 10);
    for (int i = 0; i < 3; i++) tg_release(s, t[i]);
    tg_release(s, g);
    tg_destroy(s);
}

/* Fails twice; records its core and the slots in use each time. */
static atomic_int rt_cores;
static atomic_int rt_max_slots;
static atomic_int rt_pinned_seen;
static tg_scheduler *rt_s;

static int rt_sticky_flaky(const void *args, tg_value *result)
{
    struct tg_stats st;
    (void)result;
    atomic_fetch_or(&rt_cores, 1 << tg_current_core());
    if (tg_stats(rt_s, &st) == TG_OK) {
        int used = (int)st.slots_in_use;
        int prev = atomic_load(&rt_max_slots);
        while (used > prev && !atomic_compare_exchange_weak(&rt_max_slots, &prev, used)) {
        }
        if (st.sticky_keys == 1) atomic_fetch_add(&rt_pinned_seen, 1);
    }
    return atomic_fetch_add(&rt_attempts[*(const int *)args], 1) < 2 ? 1 : 0;
}

TG_TEST(retries_keep_slot_pin_and_core)
{
    const tg_op op = { .name = "sticky_flaky", .fn = rt_sticky_flaky, .max_retries = 5,
                       .sticky_anchor = "k", .weight = TG_HEAVY };
    tg_config cfg = { .workers = 3, .max_tokens = 8 };
    tg_token t;
    tg_token_info info;
    struct tg_stats st;
    int key = 20;
    rt_reset();
    atomic_store(&rt_cores, 0);
    atomic_store(&rt_max_slots, 0);
    atomic_store(&rt_pinned_seen, 0);
    REQUIRE(tg_create(&cfg, &rt_s) == TG_OK);
    CHECK_RC(tg_submit(rt_s, &op, &key, sizeof key, &t), TG_OK);
    CHECK_RC(tg_wait(rt_s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_info(rt_s, t, &info), TG_OK);
    CHECK_EQ(info.retries, 2);
    CHECK_EQ(atomic_load(&rt_attempts[20]), 3);
    CHECK_EQ(atomic_load(&rt_max_slots), 1);       /* one slot throughout */
    CHECK_EQ(atomic_load(&rt_pinned_seen), 3);     /* the pin held on every try */
    CHECK_EQ(atomic_load(&rt_cores), 1 << info.core);
    CHECK_RC(tg_wait_idle(rt_s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(rt_s, &st), TG_OK);
    CHECK_EQ(st.sticky_keys, 0);
    tg_release(rt_s, t);
    tg_destroy(rt_s);
    rt_s = NULL;
}

TG_TEST(retries_many_tokens_all_accounted)
{
    /* 64 tokens under max_tokens 16, token k failing k % 4 times with
       max_retries 2: those failing 3 times end FAILED, the rest COMPLETED */
    tg_config cfg = { .max_tokens = 16 };
    tg_scheduler *s;
    struct tg_stats st;
    struct tg_op_stats os;
    rt_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    uint64_t want_failed = 0, want_runs = 0;
    const tg_op op = { .name = "flaky_many", .fn = rt_flaky, .max_retries = 2 };
    for (int k = 0; k < RT_KEYS; k++) {
        rt_args a = { k, k % 4 };
        CHECK_RC(tg_submit(s, &op, &a, sizeof a, NULL), TG_OK);
        int fails = k % 4;
        if (fails > 2) {
            want_failed++;
            want_runs += 3;
        } else {
            want_runs += (uint64_t)fails + 1;
        }
    }
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.failed, want_failed);
    CHECK_EQ(st.completed, RT_KEYS - want_failed);
    CHECK_EQ(st.live, 0);
    CHECK_RC(tg_op_stats(s, "flaky_many", &os), TG_OK);
    CHECK_EQ(os.attempts, want_runs);
    CHECK_EQ(os.successes + os.failures, want_runs);
    CHECK_EQ(os.retried, want_runs - RT_KEYS);
    /* a worker gives a slot back just after the end that tg_wait_idle sees */
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 5000));
    tg_destroy(s);
}

TG_TEST(retries_bad_limits_are_einval)
{
    const tg_op neg = { .name = "neg", .fn = rt_flaky, .max_retries = -1 };
    const tg_op big = { .name = "big", .fn = rt_flaky, .max_retries = 65536 };
    tg_scheduler *s;
    tg_token t;
    rt_args a = { 0, 0 };
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &neg, &a, sizeof a, &t), TG_EINVAL);
    CHECK_RC(tg_submit(s, &big, &a, sizeof a, &t), TG_EINVAL);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}
