/* test_deadlines.c - an op's timeout_ns: a token past its deadline ends
   TIMEOUT and its waiters get TG_EDEADLINE at the deadline; one that had
   not started never starts; a running one sees tg_should_stop(), its late
   result is discarded and its slot is reused only after it returns; retries
   stop at the deadline; wait_any, poll and waits inside tasks wake for it. */
#include "harness.h"

static atomic_int dl_runs;
static atomic_int dl_saw_stop;
static atomic_int dl_returned;

static int dl_count(const void *args, tg_value *result)
{
    (void)args;
    result->i = 7;
    atomic_fetch_add(&dl_runs, 1);
    return 0;
}

/* Runs until tg_should_stop() (at most 5 s), then returns success. */
static int dl_until_stop(const void *args, tg_value *result)
{
    int64_t end = th_now_ns() + 5 * TH_SEC;
    (void)args;
    atomic_fetch_add(&dl_runs, 1);
    while (!tg_should_stop() && th_now_ns() < end) th_sleep_us(200);
    if (tg_should_stop()) atomic_store(&dl_saw_stop, 1);
    result->i = 42;
    atomic_store(&dl_returned, 1);
    return 0;
}

/* Ignores tg_should_stop: sleeps the number of ms in its argument. */
static int dl_sleepy(const void *args, tg_value *result)
{
    (void)result;
    atomic_fetch_add(&dl_runs, 1);
    th_sleep_ms(*(const int *)args);
    atomic_store(&dl_returned, 1);
    return 0;
}

static void dl_reset(void)
{
    atomic_store(&dl_runs, 0);
    atomic_store(&dl_saw_stop, 0);
    atomic_store(&dl_returned, 0);
}

/* A one-worker scheduler whose worker a gate token holds: tokens
   submitted next wait in its mailbox. NULL on failure. */
static tg_scheduler *dl_held_scheduler(th_gate *gate, tg_token *gate_token)
{
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    th_gate_init(gate, 0);
    if (tg_create(&cfg, &s) != TG_OK) return NULL;
    if (th_submit_gate(s, &th_gate_op, gate, gate_token) != TG_OK || !th_gate_wait_entered(gate, 1)) {
        tg_destroy(s);
        return NULL;
    }
    return s;
}

TG_TEST(deadline_unstarted_token_never_starts)
{
    th_gate gate;
    const tg_op op = { .name = "timed", .fn = dl_count, .timeout_ns = 20 * TH_MS };
    tg_token gt, t;
    tg_token_info info;
    struct tg_stats st;
    struct tg_op_stats os;
    dl_reset();
    tg_scheduler *s = dl_held_scheduler(&gate, &gt);
    REQUIRE(s != NULL);
    int64_t t0 = th_now_ns();
    CHECK_RC(tg_submit(s, &op, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_EDEADLINE);
    int64_t waited = th_now_ns() - t0;
    CHECK(waited >= 19 * TH_MS);
    CHECK(waited < 10 * TH_SEC);
    CHECK_RC(tg_info(s, t, &info), TG_OK);
    CHECK_EQ(info.state, TG_TIMEOUT);
    CHECK_EQ(info.started_ns, 0);
    CHECK(info.ended_ns >= info.created_ns + 20 * TH_MS);
    th_gate_open(&gate);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&dl_runs), 0);          /* never started */
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.timed_out, 1);
    CHECK_RC(tg_op_stats(s, "timed", &os), TG_OK);
    CHECK_EQ(os.timed_out, 1);
    tg_release(s, t);
    tg_release(s, gt);
    tg_destroy(s);
}

TG_TEST(deadline_running_token_is_asked_to_stop_and_result_discarded)
{
    const tg_op op = { .name = "timed_loop", .fn = dl_until_stop, .timeout_ns = 30 * TH_MS };
    tg_scheduler *s;
    tg_token t;
    tg_value v;
    tg_state state;
    dl_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &op, NULL, 0, &t), TG_OK);
    v.i = -1;
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_EDEADLINE);
    CHECK_EQ(v.i, -1);
    /* the token is over (not live) while its function still winds down */
    CHECK(TH_WAIT_UNTIL(atomic_load(&dl_returned) == 1, 30000));
    CHECK_EQ(atomic_load(&dl_saw_stop), 1);
    CHECK_RC(tg_poll(s, t, &state), TG_OK);
    CHECK_EQ(state, TG_TIMEOUT);                 /* the late success changes nothing */
    CHECK_RC(tg_wait(s, t, 0, &v), TG_EDEADLINE);
    tg_release(s, t);
    tg_destroy(s);
}

TG_TEST(deadline_slot_is_reused_only_after_the_function_returns)
{
    const tg_op op = { .name = "timed_sleepy", .fn = dl_sleepy, .timeout_ns = 10 * TH_MS };
    tg_scheduler *s;
    tg_token t;
    int ms = 1000;   /* far past the deadline, so that a stalled test thread
                        still finds the function running */
    dl_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &op, &ms, sizeof ms, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_EDEADLINE);
    CHECK_EQ(atomic_load(&dl_returned), 0);      /* still running */
    CHECK_RC(tg_release(s, t), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 1);        /* held by the running function */
    CHECK(TH_WAIT_UNTIL(atomic_load(&dl_returned) == 1, 30000));
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 30000));
    tg_destroy(s);
}

TG_TEST(deadline_detached_token_with_no_waiter_ends_timeout)
{
    const tg_op op = { .name = "timed_sleepy", .fn = dl_sleepy, .timeout_ns = 10 * TH_MS };
    tg_scheduler *s;
    struct tg_stats st;
    int ms = 40;
    dl_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &op, &ms, sizeof ms, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.timed_out, 1);
    CHECK_EQ(st.completed, 0);
    CHECK_EQ(st.slots_in_use, 0);
    tg_destroy(s);
}

TG_TEST(deadline_poll_sees_timeout_without_waiting)
{
    th_gate gate;
    /* a deadline long enough that the first poll comes before it even on a
       loaded machine */
    const tg_op op = { .name = "timed", .fn = dl_count, .timeout_ns = 100 * TH_MS };
    tg_token gt, t;
    tg_state state;
    dl_reset();
    tg_scheduler *s = dl_held_scheduler(&gate, &gt);
    REQUIRE(s != NULL);
    CHECK_RC(tg_submit(s, &op, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_poll(s, t, &state), TG_OK);
    CHECK_EQ(state, TG_ADMITTED);
    th_sleep_ms(150);
    CHECK_RC(tg_poll(s, t, &state), TG_OK);
    CHECK_EQ(state, TG_TIMEOUT);
    th_gate_open(&gate);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&dl_runs), 0);
    tg_release(s, t);
    tg_release(s, gt);
    tg_destroy(s);
}

TG_TEST(deadline_wait_any_wakes_at_the_deadline)
{
    th_gate gate;
    const tg_op op = { .name = "timed", .fn = dl_count, .timeout_ns = 20 * TH_MS };
    tg_token t[2];
    size_t which = 9;
    dl_reset();
    tg_scheduler *s = dl_held_scheduler(&gate, &t[0]);   /* t[0]: no deadline, held */
    REQUIRE(s != NULL);
    CHECK_RC(tg_submit(s, &op, NULL, 0, &t[1]), TG_OK);
    int64_t t0 = th_now_ns();
    CHECK_RC(tg_wait_any(s, t, 2, 5 * TH_SEC, &which), TG_OK);
    CHECK_EQ(which, 1);
    CHECK(th_now_ns() - t0 < 4 * TH_SEC);
    CHECK_RC(tg_wait_all(s, &t[1], 1, 0), TG_OK);
    th_gate_open(&gate);
    CHECK_RC(tg_wait_all(s, t, 2, TH_LONG_NS), TG_OK);
    tg_release(s, t[0]);
    tg_release(s, t[1]);
    tg_destroy(s);
}

/* A task waits for a token stuck on the other worker past its deadline:
   its helping wait wakes for the deadline. */
static tg_scheduler *dl_s;
static tg_token dl_child;
static atomic_int dl_parent_rc;
static atomic_llong dl_parent_ns;

static int dl_parent(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    int64_t t0 = th_now_ns();
    atomic_store(&dl_parent_rc, tg_wait(dl_s, dl_child, -1, NULL));
    atomic_store(&dl_parent_ns, th_now_ns() - t0);
    return 0;
}

TG_TEST(deadline_wait_inside_a_task_wakes_at_the_deadline)
{
    const tg_op child = { .name = "timed_sleepy", .fn = dl_sleepy, .timeout_ns = 20 * TH_MS,
                          .weight = TG_HEAVY };
    const tg_op parent = { .name = "parent", .fn = dl_parent, .weight = TG_HEAVY };
    tg_config cfg = { .workers = 2 };
    tg_token p;
    int ms = 400;
    dl_reset();
    REQUIRE(tg_create(&cfg, &dl_s) == TG_OK);
    CHECK_RC(tg_submit(dl_s, &child, &ms, sizeof ms, &dl_child), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&dl_runs) == 1, 30000));
    CHECK_RC(tg_submit(dl_s, &parent, NULL, 0, &p), TG_OK);
    CHECK_RC(tg_wait(dl_s, p, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(atomic_load(&dl_parent_rc), TG_EDEADLINE);
    CHECK(atomic_load(&dl_parent_ns) < 300 * TH_MS);   /* not the child's 400 ms */
    CHECK_RC(tg_wait_idle(dl_s, TH_LONG_NS), TG_OK);
    tg_release(dl_s, p);
    tg_release(dl_s, dl_child);
    tg_destroy(dl_s);
    dl_s = NULL;
}

static int dl_always_fails(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    atomic_fetch_add(&dl_runs, 1);
    th_sleep_ms(5);
    return 3;
}

TG_TEST(deadline_stops_retries)
{
    const tg_op op = { .name = "timed_retry", .fn = dl_always_fails, .timeout_ns = 40 * TH_MS,
                       .max_retries = 1000 };
    tg_scheduler *s;
    tg_token t;
    tg_token_info info;
    dl_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &op, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_EDEADLINE);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_info(s, t, &info), TG_OK);
    CHECK_EQ(info.state, TG_TIMEOUT);
    CHECK(info.retries < 1000);
    CHECK_EQ(info.failure_code, 3);
    int runs = atomic_load(&dl_runs);
    th_sleep_ms(20);
    CHECK_EQ(atomic_load(&dl_runs), runs);        /* no retry after the deadline */
    tg_release(s, t);
    tg_destroy(s);
}

TG_TEST(deadline_negative_timeout_is_einval)
{
    const tg_op op = { .name = "neg", .fn = dl_count, .timeout_ns = -1 };
    tg_scheduler *s;
    tg_token t;
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &op, NULL, 0, &t), TG_EINVAL);
    tg_destroy(s);
}
