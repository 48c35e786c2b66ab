/* test_operation.c - TG_OPERATION declares name_op and a typed name_submit,
   with tags or without. */
#include "harness.h"

#include <poll.h>

static int op_square(const int *args, tg_value *result)
{
    result->i = (int64_t)*args * *args;
    return 0;
}
TG_OPERATION(op_square, int, .weight = TG_HEAVY)

typedef struct op_pair {
    int64_t a;
    double b;
    char tag[20];
} op_pair;

static int op_combine(const op_pair *args, tg_value *result)
{
    if (args->tag[0] != 'p') return 2;
    result->f = (double)args->a + args->b;
    return 0;
}
TG_OPERATION(op_combine, op_pair)

/* Submits a pair through the typed submit from a stack frame of its own,
   which the caller then overwrites (op_scribble_stack): the token must
   hold its own copy of the arguments, not a pointer into that frame. */
static __attribute__((noinline)) int op_submit_pair_from_frame(tg_scheduler *s, tg_token *out)
{
    op_pair p = { 40, 2.5, "pair" };
    return op_combine_submit(s, p, out);
}

static __attribute__((noinline)) void op_scribble_stack(void)
{
    volatile unsigned char junk[16384];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = 'x';
}

static atomic_int op_notified_runs;

static int op_note(const int *args, tg_value *result)
{
    atomic_fetch_add(&op_notified_runs, 1);
    result->i = -*args;
    return *args == 13 ? 13 : 0;
}
TG_OPERATION(op_note, int, .weight = TG_LIGHT, .flags = TG_OP_NOTIFY)

TG_TEST(operation_declares_op_fields)
{
    CHECK(strcmp(op_square_op.name, "op_square") == 0);
    CHECK_EQ(op_square_op.weight, TG_HEAVY);
    CHECK(op_square_op.fn != NULL);
    CHECK_EQ(op_square_op.flags, 0);

    CHECK(strcmp(op_combine_op.name, "op_combine") == 0);
    CHECK_EQ(op_combine_op.weight, TG_MEDIUM); /* no tags: the defaults */
    CHECK(op_combine_op.fn != NULL);
    CHECK_EQ(op_combine_op.flags, 0);
    CHECK_EQ(op_combine_op.max_retries, 0);
    CHECK_EQ(op_combine_op.timeout_ns, 0);
    CHECK(op_combine_op.sticky_anchor == NULL);
    CHECK(op_combine_op.external_calls == NULL);

    CHECK(strcmp(op_note_op.name, "op_note") == 0);
    CHECK_EQ(op_note_op.weight, TG_LIGHT);
    CHECK_EQ(op_note_op.flags, TG_OP_NOTIFY);
}

TG_TEST(operation_typed_submit_and_results)
{
    tg_config cfg = { .workers = 3, .no_pin = 1 };
    tg_scheduler *s = NULL;
    tg_token sq[10], comb, bad;
    tg_token_info info;
    tg_value v = { 0 };
    op_pair p = { 40, 2.5, "pair" };
    int squares_ok = 0;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 10; i++)
        REQUIRE(op_square_submit(s, i - 3, &sq[i]) == TG_OK);
    for (int i = 0; i < 10; i++) {
        if (tg_wait(s, sq[i], TH_LONG_NS, &v) == TG_OK &&
            v.i == (int64_t)(i - 3) * (i - 3))
            squares_ok++;
    }
    CHECK_EQ(squares_ok, 10);
    CHECK_RC(tg_info(s, sq[4], &info), TG_OK);
    CHECK(info.op != NULL && strcmp(info.op, "op_square") == 0);
    CHECK_EQ(info.weight, TG_HEAVY);
    for (int i = 0; i < 10; i++) CHECK_RC(tg_release(s, sq[i]), TG_OK);

    /* The struct is passed by value and copied: with the workers paused,
       the frame the typed submit copied from is overwritten before the
       task can read its arguments. */
    CHECK_RC(tg_pause(s), TG_OK);
    REQUIRE(op_submit_pair_from_frame(s, &comb) == TG_OK);
    op_scribble_stack();
    p.tag[0] = 'x';
    CHECK_RC(tg_resume(s), TG_OK);
    CHECK_RC(tg_wait(s, comb, TH_LONG_NS, &v), TG_OK);
    CHECK(v.f == 42.5);
    CHECK_RC(tg_info(s, comb, &info), TG_OK);
    CHECK(info.op != NULL && strcmp(info.op, "op_combine") == 0);
    CHECK_EQ(info.weight, TG_MEDIUM);
    CHECK_RC(tg_release(s, comb), TG_OK);
    /* A failing typed task reports its code. */
    REQUIRE(op_combine_submit(s, p, &bad) == TG_OK);
    CHECK_RC(tg_wait(s, bad, TH_LONG_NS, NULL), TG_EFAILED);
    CHECK_RC(tg_info(s, bad, &info), TG_OK);
    CHECK_EQ(info.failure_code, 2);
    CHECK_RC(tg_release(s, bad), TG_OK);

    /* Detached through the typed submit. */
    atomic_store(&op_notified_runs, 0);
    CHECK_RC(op_note_submit(s, 5, NULL), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&op_notified_runs) == 1, 10000));
    tg_destroy(s);
}

TG_TEST(operation_tags_reach_the_scheduler)
{
    tg_config cfg = { .workers = 3, .no_pin = 1, .strict_routing = 1 };
    tg_scheduler *s = NULL;
    tg_token t[2], out[4];
    tg_token_info info;
    size_t got = 0;
    int64_t end;

    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(op_note_submit(s, 8, &t[0]) == TG_OK);
    REQUIRE(op_note_submit(s, 13, &t[1]) == TG_OK);
    /* .flags = TG_OP_NOTIFY: both show up on the completion fd. */
    end = th_now_ns() + 20 * TH_SEC;
    while (got < 2 && th_now_ns() < end) {
        struct pollfd p = { .fd = tg_completion_fd(s), .events = POLLIN };
        poll(&p, 1, 100);
        got += tg_completions(s, out + got, 4 - got);
    }
    CHECK_EQ(got, 2);
    CHECK((out[0].bits == t[0].bits && out[1].bits == t[1].bits) ||
          (out[0].bits == t[1].bits && out[1].bits == t[0].bits));
    /* .weight = TG_LIGHT under strict routing on 3 workers: core 2. */
    CHECK_RC(tg_info(s, t[0], &info), TG_OK);
    CHECK_EQ(info.core, 2);
    CHECK_EQ(info.weight, TG_LIGHT);
    CHECK_RC(tg_wait(s, t[1], TH_LONG_NS, NULL), TG_EFAILED);
    CHECK_RC(tg_info(s, t[1], &info), TG_OK);
    CHECK_EQ(info.failure_code, 13);
    CHECK_RC(tg_release(s, t[0]), TG_OK);
    CHECK_RC(tg_release(s, t[1]), TG_OK);
    tg_destroy(s);
}
