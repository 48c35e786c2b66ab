/* test_control.c - global pause/resume; per-op pause (held tokens wait and
   leave in FIFO order, other ops run on), drain and kill; bad input:
   unknown names, NULL, calls after shutdown, more ops than max_ops, an
   unknown tier, a 1 GiB argument. (The health guard: test_health.c.) */
#include "harness.h"

static atomic_int ct_log[256];
static atomic_int ct_log_len;
static atomic_int ct_runs[4];

/* Logs (op tag * 100 + seq) in run order. */
typedef struct ct_args {
    int tag, seq;
} ct_args;

static int ct_logged(const void *args, tg_value *result)
{
    const ct_args *a = args;
    (void)result;
    atomic_fetch_add(&ct_runs[a->tag], 1);
    int at = atomic_fetch_add(&ct_log_len, 1);
    if (at < 256) atomic_store(&ct_log[at], a->tag * 100 + a->seq);
    return 0;
}

static void ct_reset(void)
{
    atomic_store(&ct_log_len, 0);
    for (int i = 0; i < 4; i++) atomic_store(&ct_runs[i], 0);
}

static const tg_op ct_a = { .name = "op_a", .fn = ct_logged };
static const tg_op ct_b = { .name = "op_b", .fn = ct_logged };

TG_TEST(control_global_pause_holds_every_token)
{
    tg_scheduler *s;
    struct tg_stats st;
    ct_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_pause(s), TG_OK);
    for (int i = 0; i < 10; i++) {
        ct_args a = { 0, i };
        CHECK_RC(tg_submit(s, &ct_a, &a, sizeof a, NULL), TG_OK);
    }
    th_sleep_ms(30);
    CHECK_EQ(atomic_load(&ct_runs[0]), 0);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.paused, 1);
    CHECK_EQ(st.live, 10);
    CHECK_RC(tg_wait_idle(s, 20 * TH_MS), TG_ETIMEDOUT);
    CHECK_RC(tg_resume(s), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&ct_runs[0]), 10);
    tg_destroy(s);
}

TG_TEST(control_op_pause_holds_one_op_fifo_others_run)
{
    /* one worker: A is paused, A and B tokens interleaved; B's all run, A's
       none; after resume A's run in submission order */
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    tg_token b[5];
    struct tg_op_stats os;
    ct_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    ct_args first = { 0, 99 };
    CHECK_RC(tg_submit(s, &ct_a, &first, sizeof first, NULL), TG_OK);  /* A is known */
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    ct_reset();
    CHECK_RC(tg_op_pause(s, "op_a"), TG_OK);
    for (int i = 0; i < 5; i++) {
        ct_args a = { 0, i }, bb = { 1, i };
        CHECK_RC(tg_submit(s, &ct_a, &a, sizeof a, NULL), TG_OK);
        CHECK_RC(tg_submit(s, &ct_b, &bb, sizeof bb, &b[i]), TG_OK);
    }
    CHECK_RC(tg_wait_all(s, b, 5, TH_LONG_NS), TG_OK);
    th_sleep_ms(20);
    CHECK_EQ(atomic_load(&ct_runs[1]), 5);
    CHECK_EQ(atomic_load(&ct_runs[0]), 0);
    CHECK_RC(tg_op_stats(s, "op_a", &os), TG_OK);
    CHECK_EQ(os.paused, 1);
    CHECK_RC(tg_op_resume(s, "op_a"), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&ct_runs[0]), 5);
    int a_seen = 0, in_order = 1;
    for (int i = 0; i < atomic_load(&ct_log_len) && i < 256; i++) {
        int e = atomic_load(&ct_log[i]);
        if (e / 100 != 0) continue;
        if (e % 100 != a_seen) in_order = 0;
        a_seen++;
    }
    CHECK_EQ(a_seen, 5);
    CHECK(in_order);
    for (int i = 0; i < 5; i++) tg_release(s, b[i]);
    tg_destroy(s);
}

TG_TEST(control_op_drain_kills_unstarted_tokens)
{
    tg_config cfg = { .workers = 2 };
    tg_scheduler *s;
    tg_token t[6], late;
    struct tg_op_stats os;
    ct_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    ct_args a0 = { 0, 0 };
    CHECK_RC(tg_submit(s, &ct_a, &a0, sizeof a0, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    ct_reset();
    CHECK_RC(tg_op_pause(s, "op_a"), TG_OK);
    for (int i = 0; i < 6; i++) {
        ct_args a = { 0, i };
        CHECK_RC(tg_submit(s, &ct_a, &a, sizeof a, &t[i]), TG_OK);
    }
    CHECK_RC(tg_op_drain(s, "op_a"), TG_OK);
    for (int i = 0; i < 6; i++) CHECK_RC(tg_wait(s, t[i], TH_LONG_NS, NULL), TG_EKILLED);
    CHECK_EQ(atomic_load(&ct_runs[0]), 0);
    /* still paused: resume, and a token submitted after the drain runs */
    CHECK_RC(tg_op_resume(s, "op_a"), TG_OK);
    ct_args a9 = { 0, 9 };
    CHECK_RC(tg_submit(s, &ct_a, &a9, sizeof a9, &late), TG_OK);
    CHECK_RC(tg_wait(s, late, TH_LONG_NS, NULL), TG_OK);
    CHECK_EQ(atomic_load(&ct_runs[0]), 1);
    CHECK_RC(tg_op_stats(s, "op_a", &os), TG_OK);
    CHECK_EQ(os.killed, 6);
    for (int i = 0; i < 6; i++) tg_release(s, t[i]);
    tg_release(s, late);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

TG_TEST(control_op_drain_kills_queued_not_running)
{
    /* one worker held by a gate of op_g; op_a tokens queued behind it are
       drained; the running gate token is not touched */
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    th_gate gate;
    th_gate *gp = &gate;
    const tg_op gate_op = { .name = "op_g", .fn = th_gate_fn };
    tg_token g, t[4];
    ct_reset();
    th_gate_init(&gate, 1);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &gate_op, &gp, sizeof gp, &g), TG_OK);
    CHECK(th_gate_wait_entered(&gate, 1));
    for (int i = 0; i < 4; i++) {
        ct_args a = { 0, i };
        CHECK_RC(tg_submit(s, &ct_a, &a, sizeof a, &t[i]), TG_OK);
    }
    CHECK_RC(tg_op_drain(s, "op_a"), TG_OK);
    CHECK_RC(tg_op_drain(s, "op_g"), TG_OK);   /* its one token runs: untouched */
    /* time for a wrongly asked stop to reach the gate (it honours one)
       before the gate opens */
    th_sleep_ms(20);
    CHECK_EQ(atomic_load(&gate.left), 0);
    th_gate_open(&gate);
    CHECK_RC(tg_wait(s, g, TH_LONG_NS, NULL), TG_OK);
    for (int i = 0; i < 4; i++) CHECK_RC(tg_wait(s, t[i], TH_LONG_NS, NULL), TG_EKILLED);
    CHECK_EQ(atomic_load(&ct_runs[0]), 0);
    CHECK_EQ(atomic_load(&gate.stopped), 0);
    for (int i = 0; i < 4; i++) tg_release(s, t[i]);
    tg_release(s, g);
    tg_destroy(s);
}

TG_TEST(control_op_kill_stops_running_and_queued)
{
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    th_gate gate;
    th_gate *gp = &gate;
    const tg_op gate_op = { .name = "op_k", .fn = th_gate_fn };
    tg_token g, q[3], other;
    ct_reset();
    th_gate_init(&gate, 1);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &gate_op, &gp, sizeof gp, &g), TG_OK);
    CHECK(th_gate_wait_entered(&gate, 1));
    for (int i = 0; i < 3; i++) CHECK_RC(tg_submit(s, &gate_op, &gp, sizeof gp, &q[i]), TG_OK);
    ct_args b = { 1, 0 };
    CHECK_RC(tg_submit(s, &ct_b, &b, sizeof b, &other), TG_OK);
    CHECK_RC(tg_op_kill(s, "op_k"), TG_OK);
    /* the running one saw tg_should_stop and returned: KILLED */
    CHECK_RC(tg_wait(s, g, TH_LONG_NS, NULL), TG_EKILLED);
    CHECK_EQ(atomic_load(&gate.stopped), 1);
    for (int i = 0; i < 3; i++) CHECK_RC(tg_wait(s, q[i], TH_LONG_NS, NULL), TG_EKILLED);
    CHECK_EQ(atomic_load(&gate.entered), 1);     /* the queued ones never ran */
    CHECK_RC(tg_wait(s, other, TH_LONG_NS, NULL), TG_OK);   /* other ops untouched */
    th_gate_open(&gate);
    /* a later token of the op runs normally */
    th_gate_init(&gate, 1);
    th_gate_open(&gate);
    tg_token again;
    CHECK_RC(tg_submit(s, &gate_op, &gp, sizeof gp, &again), TG_OK);
    CHECK_RC(tg_wait(s, again, TH_LONG_NS, NULL), TG_OK);
    tg_release(s, g);
    for (int i = 0; i < 3; i++) tg_release(s, q[i]);
    tg_release(s, other);
    tg_release(s, again);
    tg_destroy(s);
}

/* ------------------------------------------------------------- bad input */

TG_TEST(control_bad_input_codes)
{
    tg_config cfg = { .max_ops = 2 };
    const tg_op c = { .name = "op_c", .fn = ct_logged };
    tg_scheduler *s;
    struct tg_op_stats os;
    ct_args a = { 0, 0 };
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_op_pause(s, "never_submitted"), TG_ENOOP);
    CHECK_RC(tg_op_resume(s, "never_submitted"), TG_ENOOP);
    CHECK_RC(tg_op_drain(s, "never_submitted"), TG_ENOOP);
    CHECK_RC(tg_op_kill(s, "never_submitted"), TG_ENOOP);
    CHECK_RC(tg_op_unblock(s, "never_submitted"), TG_ENOOP);
    CHECK_RC(tg_op_stats(s, "never_submitted", &os), TG_ENOOP);
    CHECK_RC(tg_op_pause(s, NULL), TG_EINVAL);
    CHECK_RC(tg_op_pause(NULL, "op_a"), TG_EINVAL);
    CHECK_RC(tg_pause(NULL), TG_EINVAL);
    CHECK_RC(tg_op_stats(s, "op_a", NULL), TG_EINVAL);
    /* max_ops 2: a third distinct op is refused */
    CHECK_RC(tg_submit(s, &ct_a, &a, sizeof a, NULL), TG_OK);
    CHECK_RC(tg_submit(s, &ct_b, &a, sizeof a, NULL), TG_OK);
    CHECK_RC(tg_submit(s, &c, &a, sizeof a, NULL), TG_EOPLIMIT);
    CHECK_RC(tg_submit(s, &ct_a, &a, sizeof a, NULL), TG_OK);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, -1), TG_OK);
    CHECK_RC(tg_pause(s), TG_ESHUTDOWN);
    CHECK_RC(tg_resume(s), TG_ESHUTDOWN);
    CHECK_RC(tg_op_pause(s, "op_a"), TG_ESHUTDOWN);
    CHECK_RC(tg_op_kill(s, "op_a"), TG_ESHUTDOWN);
    CHECK_RC(tg_op_stats(s, "op_a", &os), TG_OK);   /* telemetry still reads */
    CHECK_EQ(os.successes, 2);
    tg_destroy(s);
    tg_config bad = { .max_ops = 65537 };
    CHECK_RC(tg_create(&bad, &s), TG_EINVAL);
}

TG_TEST(control_shutdown_releases_paused_work)
{
    /* a paused op and a global pause do not hang a draining shutdown */
    tg_scheduler *s;
    ct_reset();
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    ct_args a = { 0, 0 };
    CHECK_RC(tg_submit(s, &ct_a, &a, sizeof a, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_op_pause(s, "op_a"), TG_OK);
    for (int i = 0; i < 20; i++) CHECK_RC(tg_submit(s, &ct_a, &a, sizeof a, NULL), TG_OK);
    th_sleep_ms(10);
    CHECK_RC(tg_pause(s), TG_OK);
    ct_args b = { 1, 0 };
    for (int i = 0; i < 20; i++) CHECK_RC(tg_submit(s, &ct_b, &b, sizeof b, NULL), TG_OK);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&ct_runs[0]), 21);
    CHECK_EQ(atomic_load(&ct_runs[1]), 20);
    CHECK_EQ(th_stat_live(s), 0);
    tg_destroy(s);
}

TG_TEST(control_bad_tier_and_huge_argument)
{
    const tg_op tier = { .name = "tier", .fn = ct_logged, .io_tier = TG_IO_INSANE + 1 };
    const tg_op neg_tier = { .name = "neg_tier", .fn = ct_logged, .io_tier = -1 };
    const tg_op ok = { .name = "ok", .fn = ct_logged, .io_tier = TG_IO_SLOW };
    tg_scheduler *s;
    tg_token t;
    ct_args a = { 0, 0 };
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &tier, &a, sizeof a, &t), TG_EINVAL);
    CHECK_RC(tg_submit(s, &neg_tier, &a, sizeof a, &t), TG_EINVAL);
    CHECK_RC(tg_submit(s, &ok, &a, sizeof a, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    tg_release(s, t);
    /* a 1 GiB argument: refused by size before a byte is read (the pointer
       only has to be non-NULL) */
    CHECK_RC(tg_submit(s, &ok, &a, (size_t)1 << 30, &t), TG_E2BIG);
    CHECK_EQ(t.bits, 0);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
    /* even with max_args_size at its largest, 1 GiB + 1 is too big */
    tg_config big = { .max_args_size = (size_t)1 << 30 };
    REQUIRE(tg_create(&big, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &ok, &a, ((size_t)1 << 30) + 1, &t), TG_E2BIG);
    tg_destroy(s);
}
