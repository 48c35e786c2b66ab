/* test_errors.c - error codes and their texts, and every kind of bad input
   (NULL pointers, bad ops, oversized arguments, stale and forged handles,
   bad config values) getting its documented code instead of a crash. */
#include "harness.h"

#include <limits.h>

static int errors_fail_fn(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    return 3;
}

static const tg_op errors_fail_op = { .name = "fail3", .fn = errors_fail_fn };

/* A token that has ended: submitted, waited for, handle still held. */
static int errors_ended_token(tg_scheduler *s, tg_token *t)
{
    int rc = tg_submit(s, &th_nop_op, NULL, 0, t);
    if (rc != TG_OK) return rc;
    return tg_wait(s, *t, TH_LONG_NS, NULL);
}

TG_TEST(errors_strerror_names_every_code)
{
    static const struct { int code; const char *name, *message; } codes[] = {
#define ERRORS_ROW(name, value, message) { name, #name, message },
        TG_ERROR_LIST(ERRORS_ROW)
#undef ERRORS_ROW
    };
    size_t n = sizeof codes / sizeof codes[0];

    CHECK_EQ(TG_OK, 0);
    for (size_t i = 0; i < n; i++) {
        const char *text = tg_strerror(codes[i].code);
        REQUIRE(text != NULL);
        CHECK(text[0] != '\0');
        /* It names the code: its message (or its name) is in the text. */
        CHECK(strstr(text, codes[i].message) != NULL ||
              strstr(text, codes[i].name) != NULL);
        if (i > 0) CHECK(codes[i].code < 0);
        for (size_t j = 0; j < i; j++) {
            CHECK(codes[i].code != codes[j].code);
            CHECK(strcmp(text, tg_strerror(codes[j].code)) != 0);
        }
    }
}

/* The last (most negative) code of TG_ERROR_LIST. */
static int errors_last_listed(void)
{
    int last = 0;
#define ERRORS_MIN(name, value, message) if ((value) < last) last = (value);
    TG_ERROR_LIST(ERRORS_MIN)
#undef ERRORS_MIN
    return last;
}

/* 1 if code is in TG_ERROR_LIST. */
static int errors_is_listed(int code)
{
    int listed = 0;
#define ERRORS_LISTED(name, value, message) if ((value) == code) listed = 1;
    TG_ERROR_LIST(ERRORS_LISTED)
#undef ERRORS_LISTED
    return listed;
}

/* 1 if text names a listed code: its full text, its name or its message. */
static int errors_names_a_code(const char *text)
{
    int named = 0;
#define ERRORS_NAMED(name, value, message)                                     \
    if (strcmp(text, tg_strerror(value)) == 0 || strstr(text, #name) != NULL ||  \
        strstr(text, message) != NULL)                                        \
        named = 1;
    TG_ERROR_LIST(ERRORS_NAMED)
#undef ERRORS_NAMED
    return named;
}

TG_TEST(errors_strerror_unknown_code)
{
    const int last = errors_last_listed();
    const char *unknown_text = tg_strerror(INT_MIN);
    const int unknown[] = { 1, 2, 42, last - 1, last - 2, last - 100, -1000,
                            INT_MIN, INT_MAX, TG__ERROR_LAST - 1 };

    REQUIRE(unknown_text != NULL);
    CHECK(strstr(unknown_text, "unknown") != NULL);
    CHECK(!errors_names_a_code(unknown_text));

    /* The codes run without a gap from -1 down to the last listed one, and
       each has a name of its own: none reads as the unknown text. */
    for (int code = -1; code >= last; code--) {
        const char *text = tg_strerror(code);
        REQUIRE(text != NULL);
        CHECK(errors_is_listed(code));
        CHECK(strcmp(text, unknown_text) != 0);
        CHECK(strstr(text, "unknown") == NULL);
    }

    /* The enum's end marker is the last listed code or past it: a code past
       the marker (TG__ERROR_LAST - 1 above) must be unknown. */
    CHECK(TG__ERROR_LAST <= last);
    if (TG__ERROR_LAST > last)
        th_note("TG__ERROR_LAST is %d, but the list ends at %d", TG__ERROR_LAST, last);

    /* Past the last code, and positive codes: one text, naming no code. */
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *text = tg_strerror(unknown[i]);
        REQUIRE(text != NULL);
        CHECK(text[0] != '\0');
        CHECK(strcmp(text, unknown_text) == 0);
        CHECK(!errors_names_a_code(text));
        if (strcmp(text, unknown_text) != 0)
            th_note("code %d reads \"%s\", not the unknown text", unknown[i], text);
    }
}

TG_TEST(errors_state_names)
{
    const char *names[8];
    for (int i = 0; i < 8; i++) {
        names[i] = tg_state_name((tg_state)i);
        REQUIRE(names[i] != NULL);
        CHECK(strcmp(names[i], "unknown") != 0);
        for (int j = 0; j < i; j++) CHECK(strcmp(names[i], names[j]) != 0);
    }
    CHECK(strcmp(tg_state_name(TG_COMPLETED), "completed") == 0);
    REQUIRE(tg_state_name((tg_state)8) != NULL);
    CHECK(strcmp(tg_state_name((tg_state)8), "unknown") == 0);
    CHECK(strcmp(tg_state_name((tg_state)-1), "unknown") == 0);
    CHECK(strcmp(tg_state_name((tg_state)1000), "unknown") == 0);
}

TG_TEST(errors_null_scheduler)
{
    tg_token t = { 12345 };
    tg_token ts[2] = { { 1 }, { 2 } };
    tg_state st;
    tg_value v;
    tg_token_info info;
    struct tg_stats stats;
    size_t index = 99;
    int x = 1;

    CHECK_RC(tg_create(NULL, NULL), TG_EINVAL);
    CHECK_RC(tg_submit(NULL, &th_nop_op, &x, sizeof x, &t), TG_EINVAL);
    CHECK_EQ(t.bits, 0);
    CHECK_RC(tg_poll(NULL, ts[0], &st), TG_EINVAL);
    CHECK_RC(tg_wait(NULL, ts[0], 0, &v), TG_EINVAL);
    CHECK_RC(tg_wait(NULL, ts[0], -1, NULL), TG_EINVAL);
    CHECK_RC(tg_wait_all(NULL, ts, 2, 0), TG_EINVAL);
    CHECK_RC(tg_wait_any(NULL, ts, 2, 0, &index), TG_EINVAL);
    CHECK_RC(tg_release(NULL, ts[0]), TG_EINVAL);
    CHECK_RC(tg_kill(NULL, ts[0]), TG_EINVAL);
    CHECK_RC(tg_info(NULL, ts[0], &info), TG_EINVAL);
    CHECK_RC(tg_stats(NULL, &stats), TG_EINVAL);
    CHECK_RC(tg_shutdown(NULL, TG_DRAIN, 0), TG_EINVAL);
    CHECK(tg_completion_fd(NULL) < 0);
    CHECK_EQ(tg_completions(NULL, ts, 2), 0);
    CHECK_EQ(tg_worker_count(NULL), 0);
    tg_destroy(NULL); /* must be a no-op (a crash fails this test) */
}

TG_TEST(errors_null_out_pointers)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t;
    size_t index = 77;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(errors_ended_token(s, &t) == TG_OK);
    CHECK_RC(tg_poll(s, t, NULL), TG_EINVAL);
    CHECK_RC(tg_info(s, t, NULL), TG_EINVAL);
    CHECK_RC(tg_stats(s, NULL), TG_EINVAL);
    CHECK_RC(tg_wait(s, t, 0, NULL), TG_OK); /* result may be NULL */
    CHECK_RC(tg_wait_all(s, NULL, 1, 0), TG_EINVAL);
    CHECK_RC(tg_wait_all(s, NULL, 0, 0), TG_OK);
    CHECK_RC(tg_wait_any(s, NULL, 1, 0, &index), TG_EINVAL);
    CHECK_RC(tg_wait_any(s, &t, 1, 0, NULL), TG_EINVAL);
    CHECK_RC(tg_wait_any(s, &t, 0, 0, &index), TG_EINVAL);
    CHECK_EQ(tg_completions(s, NULL, 4), 0);
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);
}

TG_TEST(errors_bad_ops)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t;
    int x = 5;
    tg_op no_name = { .name = NULL, .fn = th_nop_fn };
    tg_op no_fn = { .name = "no_fn", .fn = NULL };
    tg_op weight7 = { .name = "w7", .fn = th_nop_fn, .weight = (tg_weight)7 };
    tg_op weight3 = { .name = "w3", .fn = th_nop_fn, .weight = (tg_weight)3 };
    tg_op weight_neg = { .name = "wneg", .fn = th_nop_fn,
                         .weight = (tg_weight)-1 };

    REQUIRE(tg_create(&cfg, &s) == TG_OK);

    t.bits = 0xdeadbeef;
    CHECK_RC(tg_submit(s, NULL, &x, sizeof x, &t), TG_EINVAL);
    CHECK_EQ(t.bits, 0);
    t.bits = 0xdeadbeef;
    CHECK_RC(tg_submit(s, &no_name, &x, sizeof x, &t), TG_EINVAL);
    CHECK_EQ(t.bits, 0);
    t.bits = 0xdeadbeef;
    CHECK_RC(tg_submit(s, &no_fn, &x, sizeof x, &t), TG_EINVAL);
    CHECK_EQ(t.bits, 0);
    t.bits = 0xdeadbeef;
    CHECK_RC(tg_submit(s, &weight7, &x, sizeof x, &t), TG_EINVAL);
    CHECK_EQ(t.bits, 0);
    CHECK_RC(tg_submit(s, &weight3, &x, sizeof x, &t), TG_EINVAL);
    CHECK_RC(tg_submit(s, &weight_neg, &x, sizeof x, &t), TG_EINVAL);
    t.bits = 0xdeadbeef;
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 1, &t), TG_EINVAL);
    CHECK_EQ(t.bits, 0);
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 100000, NULL), TG_EINVAL);

    /* None of the refused submissions holds a slot. */
    CHECK_EQ(th_stat_slots_in_use(s), 0);

    /* NULL args with size 0 is fine; so is each valid weight. */
    for (int w = TG_MEDIUM; w <= TG_HEAVY; w++) {
        tg_op ok_op = { .name = "ok", .fn = th_nop_fn, .weight = (tg_weight)w };
        tg_value v = { 0 };
        CHECK_RC(tg_submit(s, &ok_op, NULL, 0, &t), TG_OK);
        CHECK(t.bits != 0);
        CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_OK);
        CHECK_EQ(v.i, 7);
        CHECK_RC(tg_release(s, t), TG_OK);
    }
    tg_destroy(s);
}

TG_TEST(errors_args_too_big)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .max_args_size = 64 };
    tg_scheduler *s = NULL;
    tg_token t;
    static unsigned char buf[65536 + 1];

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    t.bits = 0xdeadbeef;
    CHECK_RC(tg_submit(s, &th_nop_op, buf, 65, &t), TG_E2BIG);
    CHECK_EQ(t.bits, 0);
    CHECK_RC(tg_submit(s, &th_nop_op, buf, 1000, NULL), TG_E2BIG);
    CHECK_RC(tg_submit(s, &th_nop_op, buf, 64, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);

    /* The default limit is 65,536 bytes. */
    s = NULL;
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &th_nop_op, buf, sizeof buf, &t), TG_E2BIG);
    CHECK_EQ(t.bits, 0);
    CHECK_RC(tg_submit(s, &th_nop_op, buf, 65536, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, t), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

/* Every call that takes a handle, on a handle that must be refused with
   one of the codes in `allowed` (a zero-terminated list). Counts mismatches. */
static int errors_handle_refused(tg_scheduler *s, tg_token t, const int *allowed,
                                 int *bad_rc)
{
    int rcs[7];
    tg_state st;
    tg_value v;
    tg_token_info info;
    size_t index;
    int bad = 0;

    rcs[0] = tg_poll(s, t, &st);
    rcs[1] = tg_wait(s, t, 0, &v);
    rcs[2] = tg_info(s, t, &info);
    rcs[3] = tg_kill(s, t);
    rcs[4] = tg_wait_all(s, &t, 1, 0);
    rcs[5] = tg_wait_any(s, &t, 1, 0, &index);
    rcs[6] = tg_release(s, t);
    for (int i = 0; i < 7; i++) {
        int ok = 0;
        for (const int *a = allowed; *a; a++)
            if (rcs[i] == *a) ok = 1;
        if (!ok) {
            bad++;
            *bad_rc = rcs[i];
        }
    }
    return bad;
}

TG_TEST(errors_stale_handle)
{
    static const int stale_only[] = { TG_ESTALE, 0 };
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t, ts[2];
    tg_state st;
    tg_value v;
    tg_token_info info;
    size_t index;
    int bad_rc = 0;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(errors_ended_token(s, &t) == TG_OK);
    CHECK_RC(tg_release(s, t), TG_OK);

    CHECK_RC(tg_release(s, t), TG_ESTALE); /* double release */
    CHECK_RC(tg_poll(s, t, &st), TG_ESTALE);
    CHECK_RC(tg_wait(s, t, 0, &v), TG_ESTALE);
    CHECK_RC(tg_wait(s, t, 10 * TH_MS, &v), TG_ESTALE);
    CHECK_RC(tg_wait(s, t, -1, &v), TG_ESTALE);
    CHECK_RC(tg_info(s, t, &info), TG_ESTALE);
    CHECK_RC(tg_kill(s, t), TG_ESTALE);
    CHECK_RC(tg_wait_all(s, &t, 1, -1), TG_ESTALE);
    CHECK_RC(tg_wait_any(s, &t, 1, -1, &index), TG_ESTALE);
    CHECK_EQ(errors_handle_refused(s, t, stale_only, &bad_rc), 0);

    /* A stale handle among good ones is reported. */
    REQUIRE(errors_ended_token(s, &ts[0]) == TG_OK);
    ts[1] = t;
    CHECK_RC(tg_wait_all(s, ts, 2, -1), TG_ESTALE);
    ts[1] = ts[0];
    ts[0] = t;
    CHECK_RC(tg_wait_any(s, ts, 2, -1, &index), TG_ESTALE);
    CHECK_RC(tg_release(s, ts[1]), TG_OK);
    CHECK_RC(tg_release(s, ts[1]), TG_ESTALE);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

/* With max_tokens = 1 there is one slot, so the next token must reuse the
   released token's slot: the old handle has to stay stale. */
TG_TEST(errors_stale_handle_after_slot_reuse)
{
    static const int stale_only[] = { TG_ESTALE, 0 };
    tg_config cfg = { .workers = 1, .no_pin = 1, .max_tokens = 1,
                      .full_policy = TG_FULL_REJECT };
    tg_scheduler *s = NULL;
    tg_token old_t, new_t, third;
    tg_state st = TG_CREATED;
    tg_value v = { 0 };
    int bad_rc = 0;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(errors_ended_token(s, &old_t) == TG_OK);
    /* The only slot is taken by an ended, unreleased token. */
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &third), TG_EBUSY);
    CHECK_RC(tg_release(s, old_t), TG_OK);

    for (int round = 0; round < 3; round++) {
        REQUIRE(tg_submit(s, &th_nop_op, NULL, 0, &new_t) == TG_OK);
        CHECK(new_t.bits != old_t.bits);
        CHECK_RC(tg_wait(s, new_t, TH_LONG_NS, &v), TG_OK);
        CHECK_EQ(v.i, 7);

        /* The old handle is refused, read-only calls first... */
        CHECK_RC(tg_poll(s, old_t, &st), TG_ESTALE);
        CHECK_RC(tg_wait(s, old_t, 0, &v), TG_ESTALE);
        CHECK_RC(tg_wait(s, old_t, -1, &v), TG_ESTALE);
        /* ...and neither kill nor release through it touches the new token. */
        CHECK_RC(tg_kill(s, old_t), TG_ESTALE);
        CHECK_RC(tg_release(s, old_t), TG_ESTALE);
        CHECK_EQ(errors_handle_refused(s, old_t, stale_only, &bad_rc), 0);

        CHECK_RC(tg_poll(s, new_t, &st), TG_OK);
        CHECK_EQ(st, TG_COMPLETED);
        CHECK_EQ(th_stat_slots_in_use(s), 1);
        CHECK_RC(tg_release(s, new_t), TG_OK);
        old_t = new_t;
    }

    /* A token released while still live keeps its slot until it ends; its
       handle is stale at once. */
    {
        th_gate g;
        tg_token gated;
        th_gate_init(&g, 0);
        REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gated) == TG_OK);
        CHECK(th_gate_wait_entered(&g, 1));
        CHECK_RC(tg_release(s, gated), TG_OK);
        CHECK_RC(tg_poll(s, gated, &st), TG_ESTALE);
        CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &new_t), TG_EBUSY);
        th_gate_open(&g);
        CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 10000));
        CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &new_t), TG_OK);
        CHECK(new_t.bits != gated.bits);
        CHECK_RC(tg_wait(s, new_t, TH_LONG_NS, NULL), TG_OK);
        CHECK_RC(tg_poll(s, gated, &st), TG_ESTALE);
        CHECK_RC(tg_kill(s, gated), TG_ESTALE);
        CHECK_RC(tg_release(s, new_t), TG_OK);
    }
    tg_destroy(s);
}

/* Forged handles: random bits, bit flips of a real handle, extreme values.
   None may crash, and none may be taken for a token. */
TG_TEST(errors_forged_handles)
{
    static const int refused[] = { TG_ESTALE, TG_EINVAL, 0 };
    tg_config cfg = { .workers = 2, .no_pin = 1, .max_tokens = 8 };
    tg_scheduler *s = NULL;
    tg_token real, forged;
    tg_state st;
    uint64_t rng = 0x1234567887654321ull;
    int bad = 0, bad_rc = 0, flips_accepted = 0;
    static const uint64_t extremes[] = {
        0, 1, 2, 7, 8, 9, 0xFFull, 0xFFFFFFFFull, 0x100000000ull,
        0xFFFFFFFF00000000ull, 0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull,
        0xFFFFFFFFFFFFFFFFull, 0x0000000100000001ull, 0x00000001FFFFFFFFull,
        (uint64_t)TG_MAX_TOKENS, (uint64_t)TG_MAX_TOKENS + 1,
        ((uint64_t)1 << 32) | TG_MAX_TOKENS };

    REQUIRE(tg_create(&cfg, &s) == TG_OK);

    /* With no handle held, no value can be a live handle. */
    for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++) {
        forged.bits = extremes[i];
        bad += errors_handle_refused(s, forged, refused, &bad_rc);
    }
    for (int i = 0; i < 20000; i++) {
        forged.bits = th_rand(&rng);
        if (i & 1) forged.bits &= 0xFFFFFFFFull;   /* small values too */
        if ((i & 3) == 2) forged.bits >>= 40;
        bad += errors_handle_refused(s, forged, refused, &bad_rc);
    }
    CHECK_EQ(bad, 0);
    if (bad) th_note("a forged handle got %d (%s)", bad_rc, tg_strerror(bad_rc));

    /* One real handle held: every single-bit change of it is forged. The
       read-only calls are used, so an accepted flip harms nothing. */
    REQUIRE(errors_ended_token(s, &real) == TG_OK);
    for (int bit = 0; bit < 64; bit++) {
        tg_token_info info;
        forged.bits = real.bits ^ ((uint64_t)1 << bit);
        if (tg_poll(s, forged, &st) == TG_OK) flips_accepted++;
        else if (tg_info(s, forged, &info) == TG_OK) flips_accepted++;
    }
    CHECK_EQ(flips_accepted, 0);
    CHECK_RC(tg_poll(s, real, &st), TG_OK);
    CHECK_EQ(st, TG_COMPLETED);
    CHECK_RC(tg_release(s, real), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

TG_TEST(errors_released_token_every_call)
{
    static const int stale_only[] = { TG_ESTALE, 0 };
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t;
    tg_value v;
    int bad_rc = 0;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    /* A failed token, then released. */
    REQUIRE(tg_submit(s, &errors_fail_op, NULL, 0, &t) == TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_EFAILED);
    CHECK_RC(tg_release(s, t), TG_OK);
    CHECK_EQ(errors_handle_refused(s, t, stale_only, &bad_rc), 0);

    /* A killed token, then released. */
    {
        th_gate g;
        tg_token gate_t, victim;
        th_gate_init(&g, 0);
        REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
        REQUIRE(tg_submit(s, &th_nop_op, NULL, 0, &victim) == TG_OK);
        CHECK_RC(tg_kill(s, victim), TG_OK);
        CHECK_RC(tg_wait(s, victim, TH_LONG_NS, NULL), TG_EKILLED);
        CHECK_RC(tg_release(s, victim), TG_OK);
        CHECK_EQ(errors_handle_refused(s, victim, stale_only, &bad_rc), 0);
        th_gate_open(&g);
        CHECK_RC(tg_wait(s, gate_t, TH_LONG_NS, NULL), TG_OK);
        CHECK_RC(tg_release(s, gate_t), TG_OK);
    }
    tg_destroy(s);
}

TG_TEST(errors_bad_config_values)
{
    struct { const char *what; tg_config cfg; } bad[] = {
        { "workers 257", { .workers = TG_MAX_WORKERS + 1 } },
        { "workers UINT_MAX", { .workers = UINT_MAX } },
        { "mailbox_capacity 1", { .workers = 1, .mailbox_capacity = 1 } },
        { "mailbox_capacity 2^24+1",
          { .workers = 1, .mailbox_capacity = (1u << 24) + 1 } },
        { "mailbox_capacity UINT_MAX",
          { .workers = 1, .mailbox_capacity = UINT_MAX } },
        { "max_tokens 2^28+1", { .workers = 1, .max_tokens = TG_MAX_TOKENS + 1 } },
        { "max_tokens UINT_MAX", { .workers = 1, .max_tokens = UINT_MAX } },
        { "full_policy 2", { .workers = 1, .full_policy = 2 } },
        { "full_policy -1", { .workers = 1, .full_policy = -1 } },
        { "max_args_size 2^30+1",
          { .workers = 1, .max_args_size = ((size_t)1 << 30) + 1 } },
        { "max_args_size SIZE_MAX", { .workers = 1, .max_args_size = SIZE_MAX } },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tg_scheduler *s = NULL;
        int rc = tg_create(&bad[i].cfg, &s);
        CHECK_RC(rc, TG_EINVAL);
        if (rc != TG_EINVAL) th_note("config %s accepted", bad[i].what);
        if (rc == TG_OK) tg_destroy(s);
    }
}

static void *errors_alloc(size_t size, void *user)
{
    (void)user;
    return malloc(size);
}

static void errors_free(void *ptr, size_t size, void *user)
{
    (void)size;
    (void)user;
    free(ptr);
}

TG_TEST(errors_half_an_allocator)
{
    tg_config only_alloc = { .workers = 1, .no_pin = 1,
                             .allocator = { .alloc = errors_alloc } };
    tg_config only_free = { .workers = 1, .no_pin = 1,
                            .allocator = { .free = errors_free } };
    tg_config both = { .workers = 1, .no_pin = 1,
                       .allocator = { .alloc = errors_alloc,
                                      .free = errors_free } };
    tg_scheduler *s = NULL;
    int rc;

    rc = tg_create(&only_alloc, &s);
    CHECK_RC(rc, TG_EINVAL);
    if (rc == TG_OK) tg_destroy(s);
    s = NULL;
    rc = tg_create(&only_free, &s);
    CHECK_RC(rc, TG_EINVAL);
    if (rc == TG_OK) tg_destroy(s);
    s = NULL;
    rc = tg_create(&both, &s);
    CHECK_RC(rc, TG_OK);
    if (rc == TG_OK) tg_destroy(s);
}

/* Boundary values that are valid must be accepted. */
TG_TEST(errors_config_edges_accepted)
{
    tg_config cfgs[] = {
        { .workers = 1, .no_pin = 1, .mailbox_capacity = 2 },
        { .workers = 1, .no_pin = 1, .mailbox_capacity = 3 },
        { .workers = 1, .no_pin = 1, .max_tokens = 1 },
        { .workers = 1, .no_pin = 1, .max_tokens = TG_MAX_TOKENS },
        { .workers = 1, .no_pin = 1, .max_args_size = (size_t)1 << 30 },
        { .workers = 1, .no_pin = 1, .full_policy = TG_FULL_REJECT },
        { .workers = 2, .no_pin = 1, .strict_routing = 1 },
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        tg_scheduler *s = NULL;
        tg_token t;
        tg_value v = { 0 };
        int rc = tg_create(&cfgs[i], &s);
        CHECK_RC(rc, TG_OK);
        if (rc != TG_OK) {
            th_note("config #%zu refused", i);
            continue;
        }
        CHECK_EQ(tg_worker_count(s), cfgs[i].workers);
        CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &t), TG_OK);
        CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_OK);
        CHECK_EQ(v.i, 7);
        CHECK_RC(tg_release(s, t), TG_OK);
        tg_destroy(s);
    }
}

TG_TEST(errors_bad_shutdown_mode)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token t;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_shutdown(s, 7, 0), TG_EINVAL);
    CHECK_RC(tg_shutdown(s, -1, 0), TG_EINVAL);
    /* The refused call changed nothing: submissions still work. */
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);
}
