/* test_tokens.c - a token's life: its states and their timestamps, its
   info fields, failure codes, copied arguments, detached tokens, a million
   held handles, and the max_tokens admission limit. */
#include "harness.h"

#include <pthread.h>

/* ------------------------------------------------------- states and info */

/* Passes the gate in its argument, then takes 2 ms. */
static int tok_probe_fn(const void *args, tg_value *result)
{
    th_gate_fn(args, result);
    th_sleep_ms(2);
    result->i = 314;
    return 0;
}

static const tg_op tok_probe_op = { .name = "probe", .fn = tok_probe_fn,
                                    .weight = TG_LIGHT };

TG_TEST(tokens_state_sequence_and_timestamps)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g1, g2;
    th_gate *g2p = &g2;
    tg_token gate_t, probe;
    tg_state st = TG_COMPLETED;
    tg_token_info info;
    tg_value v = { 0 };
    int64_t before, after;

    th_gate_init(&g1, 0);
    th_gate_init(&g2, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g1, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g1, 1));

    before = th_now_ns();
    REQUIRE(tg_submit(s, &tok_probe_op, &g2p, sizeof g2p, &probe) == TG_OK);

    /* Queued behind the gate: admitted to core 0's mailbox, not started. */
    CHECK_RC(tg_poll(s, probe, &st), TG_OK);
    CHECK_EQ(st, TG_ADMITTED);
    memset(&info, 0xAB, sizeof info);
    CHECK_RC(tg_info(s, probe, &info), TG_OK);
    CHECK_EQ(info.state, TG_ADMITTED);
    CHECK(info.created_ns >= before);
    CHECK(info.admitted_ns >= info.created_ns);
    CHECK_EQ(info.started_ns, 0);
    CHECK_EQ(info.ended_ns, 0);
    CHECK_EQ(info.core, 0);

    /* Running. */
    th_gate_open(&g1);
    CHECK(th_gate_wait_entered(&g2, 1));
    CHECK_RC(tg_poll(s, probe, &st), TG_OK);
    CHECK_EQ(st, TG_EXECUTING);
    CHECK_RC(tg_info(s, probe, &info), TG_OK);
    CHECK_EQ(info.state, TG_EXECUTING);
    CHECK(info.started_ns >= info.admitted_ns);
    CHECK_EQ(info.ended_ns, 0);
    CHECK_EQ(tg_should_stop(), 0);

    /* Ended. */
    th_gate_open(&g2);
    CHECK_RC(tg_wait(s, probe, TH_LONG_NS, &v), TG_OK);
    after = th_now_ns();
    CHECK_EQ(v.i, 314);
    CHECK_RC(tg_poll(s, probe, &st), TG_OK);
    CHECK_EQ(st, TG_COMPLETED);
    CHECK_RC(tg_info(s, probe, &info), TG_OK);
    CHECK_EQ(info.state, TG_COMPLETED);
    CHECK(info.created_ns > 0);
    CHECK(info.waiting_ns > 0);
    CHECK(info.admitted_ns > 0);
    CHECK(info.started_ns > 0);
    CHECK(info.ended_ns > 0);
    CHECK(before <= info.created_ns);
    CHECK(info.created_ns <= info.waiting_ns);
    CHECK(info.waiting_ns <= info.admitted_ns);
    CHECK(info.admitted_ns <= info.started_ns);
    CHECK(info.started_ns <= info.ended_ns);
    CHECK(info.ended_ns <= after);
    /* The function slept 2 ms between its start and its end. */
    CHECK(info.ended_ns - info.started_ns >= 2 * TH_MS);
    CHECK(info.op != NULL && strcmp(info.op, "probe") == 0);
    CHECK_EQ(info.weight, TG_LIGHT);
    CHECK_EQ(info.core, 0);
    CHECK_EQ(info.retries, 0);
    CHECK_EQ(info.failure_code, 0);
    CHECK_EQ(info.seed[0], '\0');

    CHECK_RC(tg_release(s, gate_t), TG_OK);
    CHECK_RC(tg_release(s, probe), TG_OK);
    tg_destroy(s);
}

/* args: struct with an id; the result is a double so that tg_value's other
   members are exercised too. */
typedef struct tok_id_args { int id; double scale; } tok_id_args;

static int tok_scaled_fn(const void *args, tg_value *result)
{
    const tok_id_args *a = args;
    result->f = a->id * a->scale;
    return 0;
}

TG_TEST(tokens_info_fields)
{
    static const tg_op ops[3] = {
        { .name = "scaled_medium", .fn = tok_scaled_fn, .weight = TG_MEDIUM },
        { .name = "scaled_light", .fn = tok_scaled_fn, .weight = TG_LIGHT },
        { .name = "scaled_heavy", .fn = tok_scaled_fn, .weight = TG_HEAVY },
    };
    tg_config cfg = { .workers = 3, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t[60];
    int name_ok = 0, weight_ok = 0, core_ok = 0, result_ok = 0, state_ok = 0;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 60; i++) {
        tok_id_args a = { i, 0.5 };
        REQUIRE(tg_submit(s, &ops[i % 3], &a, sizeof a, &t[i]) == TG_OK);
    }
    for (int i = 0; i < 60; i++) {
        tg_value v = { 0 };
        tg_token_info info;
        CHECK_RC(tg_wait(s, t[i], TH_LONG_NS, &v), TG_OK);
        if (v.f == i * 0.5) result_ok++;
        CHECK_RC(tg_info(s, t[i], &info), TG_OK);
        if (info.op && strcmp(info.op, ops[i % 3].name) == 0) name_ok++;
        if (info.weight == ops[i % 3].weight) weight_ok++;
        if (info.core >= 0 && info.core < 3) core_ok++;
        if (info.state == TG_COMPLETED && info.failure_code == 0 &&
            info.retries == 0)
            state_ok++;
        CHECK_RC(tg_release(s, t[i]), TG_OK);
    }
    CHECK_EQ(result_ok, 60);
    CHECK_EQ(name_ok, 60);
    CHECK_EQ(weight_ok, 60);
    CHECK_EQ(core_ok, 60);
    CHECK_EQ(state_ok, 60);
    tg_destroy(s);
}

/* Returns its argument as the failure code (0 = success). */
static int tok_return_fn(const void *args, tg_value *result)
{
    int code = *(const int *)args;
    result->i = 1000 + code;
    return code;
}

static const tg_op tok_return_op = { .name = "ret", .fn = tok_return_fn };

TG_TEST(tokens_failure_code)
{
    static const int codes[] = { 5, 1, -3, 255, 0, 1 << 20, -1 };
    enum { N = sizeof codes / sizeof codes[0] };
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t[N];
    struct tg_stats st;
    int failures = 0;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < N; i++)
        REQUIRE(tg_submit(s, &tok_return_op, &codes[i], sizeof codes[i],
                          &t[i]) == TG_OK);
    for (int i = 0; i < N; i++) {
        tg_value v = { 0 };
        tg_state state = TG_CREATED;
        tg_token_info info;
        int rc = tg_wait(s, t[i], TH_LONG_NS, &v);
        CHECK_RC(rc, codes[i] ? TG_EFAILED : TG_OK);
        CHECK_RC(tg_poll(s, t[i], &state), TG_OK);
        CHECK_EQ(state, codes[i] ? TG_FAILED : TG_COMPLETED);
        CHECK_RC(tg_info(s, t[i], &info), TG_OK);
        CHECK_EQ(info.state, codes[i] ? TG_FAILED : TG_COMPLETED);
        CHECK_EQ(info.failure_code, codes[i]);
        if (codes[i] == 0) CHECK_EQ(v.i, 1000);
        else failures++;
        /* Waiting again gives the same outcome. */
        CHECK_RC(tg_wait(s, t[i], 0, NULL), codes[i] ? TG_EFAILED : TG_OK);
        CHECK_RC(tg_release(s, t[i]), TG_OK);
    }
    CHECK(TH_WAIT_UNTIL(tg_stats(s, &st) == TG_OK &&
                            st.failed == (uint64_t)failures,
                        5000));
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.failed, failures);
    CHECK_EQ(st.completed, N - failures);
    tg_destroy(s);
}

/* ------------------------------------------------------------- arguments

   The argument block starts with its own length (a task is not told the
   size); the task hashes the whole block. */

typedef struct tok_blob_head {
    uint64_t len;
    th_gate *gate; /* NULL: do not wait */
} tok_blob_head;

static atomic_int tok_misaligned;

static uint64_t tok_hash(const unsigned char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int tok_blob_fn(const void *args, tg_value *result)
{
    const tok_blob_head *h = args;
    if ((uintptr_t)args % 8 != 0) atomic_fetch_add(&tok_misaligned, 1);
    if (h->gate) th_gate_fn(&h->gate, result);
    result->u = tok_hash(args, (size_t)h->len);
    return 0;
}

static const tg_op tok_blob_op = { .name = "blob", .fn = tok_blob_fn };

static void tok_fill(unsigned char *buf, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        buf[i] = (unsigned char)(seed >> 56);
    }
}

static void tok_args_copied(size_t max_args, const size_t *sizes, int n)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .max_args_size = max_args };
    tg_scheduler *s = NULL;
    th_gate g;
    unsigned char *bufs[16];
    uint64_t want[16];
    tg_token t[16];
    int results_ok = 0;

    atomic_store(&tok_misaligned, 0);
    th_gate_init(&g, 0);
    REQUIRE(n <= 16);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < n; i++) {
        tok_blob_head h = { sizes[i], i == 0 ? &g : NULL };
        bufs[i] = malloc(sizes[i]);
        REQUIRE(bufs[i] != NULL);
        tok_fill(bufs[i], sizes[i], (uint64_t)i + 1);
        memcpy(bufs[i], &h, sizeof h);
        want[i] = tok_hash(bufs[i], sizes[i]);
        /* The first token holds the single worker, so every other token is
           still queued when its buffer is overwritten below. */
        REQUIRE(tg_submit(s, &tok_blob_op, bufs[i], sizes[i], &t[i]) == TG_OK);
        if (i == 0) CHECK(th_gate_wait_entered(&g, 1));
    }
    for (int i = 0; i < n; i++) {
        memset(bufs[i] + sizeof(tok_blob_head), 0x5A,
               sizes[i] - sizeof(tok_blob_head));
        free(bufs[i]);
    }
    th_gate_open(&g);
    for (int i = 0; i < n; i++) {
        tg_value v = { 0 };
        CHECK_RC(tg_wait(s, t[i], TH_LONG_NS, &v), TG_OK);
        if (v.u == want[i]) results_ok++;
        else th_note("args of %zu bytes arrived changed", sizes[i]);
        CHECK_RC(tg_release(s, t[i]), TG_OK);
    }
    CHECK_EQ(results_ok, n);
    /* A typed task (TG_OPERATION) casts args to its type: 8-byte alignment
       is the least that cast needs for int64_t, double or a pointer. */
    CHECK_EQ(atomic_load(&tok_misaligned), 0);
    tg_destroy(s);
}

TG_TEST(tokens_args_copied_inline_and_large)
{
    static const size_t sizes[] = { 16, 17, 24, 40, 64, 100, 1000, 4096,
                                    60000, 65536 };
    tok_args_copied(0, sizes, sizeof sizes / sizeof sizes[0]);
}

TG_TEST(tokens_args_copied_up_to_configured_max)
{
    static const size_t sizes[] = { 16, 65537, 300000, 1 << 20 };
    tok_args_copied(1 << 20, sizes, sizeof sizes / sizeof sizes[0]);
}

/* A caller's plain (non-atomic) writes before tg_submit are visible to the
   task, and the task's plain writes are visible once a wait saw it end. */
static int tok_plain_in[64];
static int tok_plain_out[64];

static int tok_plain_fn(const void *args, tg_value *result)
{
    int k = *(const int *)args;
    tok_plain_out[k] = tok_plain_in[k] * 3;
    result->i = tok_plain_in[k];
    return 0;
}

static const tg_op tok_plain_op = { .name = "plain", .fn = tok_plain_fn };

TG_TEST(tokens_memory_ordering_plain_data)
{
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t[64];
    int in_ok = 0, out_ok = 0;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int round = 0; round < 20; round++) {
        for (int k = 0; k < 64; k++) {
            tok_plain_in[k] = round * 100 + k;
            REQUIRE(tg_submit(s, &tok_plain_op, &k, sizeof k, &t[k]) == TG_OK);
        }
        for (int k = 0; k < 64; k++) {
            tg_value v = { 0 };
            tg_state st = TG_CREATED;
            /* Observe the end in different ways. */
            if (k % 3 == 0) {
                CHECK_RC(tg_wait(s, t[k], TH_LONG_NS, &v), TG_OK);
            } else if (k % 3 == 1) {
                CHECK(TH_WAIT_UNTIL(tg_poll(s, t[k], &st) == TG_OK &&
                                        th_is_terminal(st),
                                    10000));
                CHECK_RC(tg_wait(s, t[k], 0, &v), TG_OK);
            } else {
                size_t idx = 99;
                CHECK_RC(tg_wait_any(s, &t[k], 1, TH_LONG_NS, &idx), TG_OK);
                CHECK_RC(tg_wait(s, t[k], 0, &v), TG_OK);
            }
            if (v.i == round * 100 + k) in_ok++;
            if (tok_plain_out[k] == (round * 100 + k) * 3) out_ok++;
            CHECK_RC(tg_release(s, t[k]), TG_OK);
        }
    }
    CHECK_EQ(in_ok, 20 * 64);
    CHECK_EQ(out_ok, 20 * 64);
    tg_destroy(s);
}

/* ------------------------------------------------------ detached tokens */

static atomic_int tok_detached_ran;
static atomic_llong tok_detached_sum;

static int tok_detached_fn(const void *args, tg_value *result)
{
    int x = *(const int *)args;
    atomic_fetch_add(&tok_detached_sum, x);
    atomic_fetch_add(&tok_detached_ran, 1);
    result->i = x;
    return 0;
}

static const tg_op tok_detached_op = { .name = "detached",
                                       .fn = tok_detached_fn };

TG_TEST(tokens_detached_release_themselves)
{
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    struct tg_stats st;
    int ok = 0;
    long long want = 0;

    atomic_store(&tok_detached_ran, 0);
    atomic_store(&tok_detached_sum, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 5000; i++) {
        if (tg_submit(s, &tok_detached_op, &i, sizeof i, NULL) == TG_OK) ok++;
        want += i;
    }
    CHECK_EQ(ok, 5000);
    CHECK(TH_WAIT_UNTIL(atomic_load(&tok_detached_ran) == 5000, 30000));
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 10000));
    CHECK_EQ(atomic_load(&tok_detached_ran), 5000);
    CHECK_EQ(atomic_load(&tok_detached_sum), want);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.slots_in_use, 0);
    CHECK_EQ(st.submitted, 5000);
    CHECK(TH_WAIT_UNTIL(th_stat_live(s) == 0, 5000));
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.completed, 5000);
    /* Slots go back for reuse: three more waves of 5000, each submitted once
       the last has ended, make 20000 tokens; without reuse they would need
       five chunks of 4096 slots, with it two at most. */
    for (int round = 0; round < 3; round++) {
        int wave_ok = 0;
        for (int i = 0; i < 5000; i++)
            if (tg_submit(s, &tok_detached_op, &i, sizeof i, NULL) == TG_OK) wave_ok++;
        CHECK_EQ(wave_ok, 5000);
        CHECK(TH_WAIT_UNTIL(atomic_load(&tok_detached_ran) == 5000 * (round + 2), 30000));
        CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 10000));
    }
    CHECK_EQ(atomic_load(&tok_detached_sum), 4 * want);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.submitted, 20000);
    CHECK(st.slots_allocated <= 8192);
    if (st.slots_allocated > 8192)
        th_note("%llu slots allocated for 20000 tokens, at most 5000 live",
                (unsigned long long)st.slots_allocated);
    tg_destroy(s);
}

/* ------------------------------------------------ a million held handles */

static int tok_triple_fn(const void *args, tg_value *result)
{
    result->i = (int64_t)*(const int32_t *)args * 3;
    return 0;
}

static const tg_op tok_triple_op = { .name = "triple", .fn = tok_triple_fn };

/* 1,000,000 handles by default. Sanitizer runs, which set TG_STRESS_TOKENS
   (about 50,000), hold that many instead; TG_MANY_HANDLES overrides both. */
TG_TEST(tokens_million_unreleased_handles)
{
    long n = th_env_long("TG_MANY_HANDLES",
                         th_env_long("TG_STRESS_TOKENS", 1000000));
    tg_scheduler *s = NULL;
    tg_token *t = calloc((size_t)n, sizeof *t);
    struct tg_stats st;
    long ok = 0, results_ok = 0, released = 0;

    REQUIRE(t != NULL);
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    for (long i = 0; i < n; i++) {
        int32_t x = (int32_t)i;
        if (tg_submit(s, &tok_triple_op, &x, sizeof x, &t[i]) == TG_OK) ok++;
    }
    CHECK_EQ(ok, n);
    CHECK_RC(tg_wait_all(s, t, (size_t)n, 300 * TH_SEC), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.slots_in_use, n);
    CHECK(st.slots_allocated >= (uint64_t)n);
    CHECK(TH_WAIT_UNTIL(th_stat_live(s) == 0, 10000));
    for (long i = 0; i < n; i++) {
        tg_value v = { 0 };
        if (tg_wait(s, t[i], 0, &v) == TG_OK && v.i == (int64_t)i * 3)
            results_ok++;
    }
    CHECK_EQ(results_ok, n);
    for (long i = 0; i < n; i++)
        if (tg_release(s, t[i]) == TG_OK) released++;
    CHECK_EQ(released, n);
    CHECK_RC(tg_release(s, t[n / 2]), TG_ESTALE);
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 5000));
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
    free(t);
}

/* ------------------------------------------------------------ max_tokens */

TG_TEST(tokens_max_tokens_reject)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .max_tokens = 8,
                      .full_policy = TG_FULL_REJECT };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token t[8], extra;
    int ok = 0;

    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &t[0]) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    for (int i = 1; i < 8; i++)
        if (tg_submit(s, &th_nop_op, NULL, 0, &t[i]) == TG_OK) ok++;
    CHECK_EQ(ok, 7);
    CHECK_EQ(th_stat_slots_in_use(s), 8);

    /* The 9th token at once is refused, kept or detached. */
    extra.bits = 0xdeadbeef;
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &extra), TG_EBUSY);
    CHECK_EQ(extra.bits, 0);
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, NULL), TG_EBUSY);
    CHECK_EQ(th_stat_slots_in_use(s), 8);

    /* Ended but unreleased tokens still count. */
    th_gate_open(&g);
    CHECK_RC(tg_wait_all(s, t, 8, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &extra), TG_EBUSY);

    /* One release makes room for exactly one. */
    CHECK_RC(tg_release(s, t[3]), TG_OK);
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &t[3]), TG_OK);
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &extra), TG_EBUSY);
    CHECK_RC(tg_wait(s, t[3], TH_LONG_NS, NULL), TG_OK);

    for (int i = 0; i < 8; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    /* Detached tokens free their slots when they end. */
    for (int round = 0; round < 4; round++) {
        int accepted = 0;
        for (int i = 0; i < 8; i++)
            if (tg_submit(s, &th_nop_op, NULL, 0, NULL) == TG_OK) accepted++;
        CHECK(accepted >= 1);
        CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 10000));
    }
    tg_destroy(s);
}

typedef struct tok_blocked_submitter {
    tg_scheduler *s;
    atomic_int started;
    atomic_int done;
    int rc;
    tg_token t;
} tok_blocked_submitter;

static void *tok_blocked_submit_main(void *arg)
{
    tok_blocked_submitter *b = arg;
    atomic_store(&b->started, 1);
    b->rc = tg_submit(b->s, &th_nop_op, NULL, 0, &b->t);
    atomic_store(&b->done, 1);
    return NULL;
}

static int tok_done_count(tok_blocked_submitter *b, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += atomic_load(&b[i].done);
    return k;
}

static int tok_started_count(tok_blocked_submitter *b, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += atomic_load(&b[i].started);
    return k;
}

TG_TEST(tokens_max_tokens_block)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .max_tokens = 8,
                      .full_policy = TG_FULL_BLOCK };
    tg_scheduler *s = NULL;
    tg_token t[8];
    tok_blocked_submitter b[3];
    pthread_t th[3];
    int started = 0, ok_rcs = 0, waited_ok = 0;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 8; i++)
        REQUIRE(tg_submit(s, &th_nop_op, NULL, 0, &t[i]) == TG_OK);
    CHECK_RC(tg_wait_all(s, t, 8, TH_LONG_NS), TG_OK);

    for (int i = 0; i < 3; i++) {
        b[i].s = s;
        atomic_init(&b[i].started, 0);
        atomic_init(&b[i].done, 0);
        b[i].rc = 12345;
        b[i].t = TG_TOKEN_NONE;
        if (pthread_create(&th[i], NULL, tok_blocked_submit_main, &b[i]) == 0)
            started++;
    }
    REQUIRE(started == 3);
    CHECK(TH_WAIT_UNTIL(tok_started_count(b, 3) == 3, 10000));   /* all submitting */
    th_sleep_ms(50);
    /* Every slot is held: no submitter may get through. */
    CHECK_EQ(tok_done_count(b, 3), 0);
    CHECK(th_stat_slots_in_use(s) <= 8);

    /* Each release lets exactly one submitter through. */
    for (int r = 0; r < 3; r++) {
        CHECK_RC(tg_release(s, t[r]), TG_OK);
        CHECK(TH_WAIT_UNTIL(tok_done_count(b, 3) >= r + 1, 10000));
        th_sleep_ms(20);
        CHECK_EQ(tok_done_count(b, 3), r + 1);
        CHECK(th_stat_slots_in_use(s) <= 8);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        if (b[i].rc == TG_OK) ok_rcs++;
        if (tg_wait(s, b[i].t, TH_LONG_NS, NULL) == TG_OK) waited_ok++;
        tg_release(s, b[i].t);
    }
    CHECK_EQ(ok_rcs, 3);
    CHECK_EQ(waited_ok, 3);
    for (int i = 3; i < 8; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}
