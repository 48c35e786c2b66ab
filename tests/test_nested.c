/* test_nested.c - tasks that submit tasks and wait for them: recursive fib
   with one token per call on 1, 2 and 3 workers, and fan-out under a tiny
   mailbox, none of which may deadlock. */
#include "harness.h"

typedef struct nest_fib_args {
    tg_scheduler *s;
    int n;
} nest_fib_args;

static atomic_int nest_errors;
static atomic_int nest_tokens;

static int nest_fib_fn(const void *args, tg_value *result);

static const tg_op nest_fib_ops[3] = {
    [TG_MEDIUM] = { .name = "fib_m", .fn = nest_fib_fn, .weight = TG_MEDIUM },
    [TG_LIGHT] = { .name = "fib_l", .fn = nest_fib_fn, .weight = TG_LIGHT },
    [TG_HEAVY] = { .name = "fib_h", .fn = nest_fib_fn, .weight = TG_HEAVY },
};

/* fib(n) for n >= 2: one child token per call with n >= 2, both awaited.
   Weights vary with n so that every range takes part. */
static int nest_fib_fn(const void *args, tg_value *result)
{
    const nest_fib_args *a = args;
    tg_token kids[2];
    int64_t part[2];

    atomic_fetch_add(&nest_tokens, 1);
    for (int k = 0; k < 2; k++) {
        int m = a->n - 1 - k;
        kids[k] = TG_TOKEN_NONE;
        part[k] = m;
        if (m >= 2) {
            nest_fib_args c = { a->s, m };
            if (tg_submit(a->s, &nest_fib_ops[m % 3], &c, sizeof c, &kids[k]) !=
                TG_OK) {
                atomic_fetch_add(&nest_errors, 1);
                part[k] = 0;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        tg_value v = { 0 };
        if (kids[k].bits == 0) continue;
        if (tg_wait(a->s, kids[k], -1, &v) != TG_OK)
            atomic_fetch_add(&nest_errors, 1);
        part[k] = v.i;
        if (tg_release(a->s, kids[k]) != TG_OK) atomic_fetch_add(&nest_errors, 1);
    }
    result->i = part[0] + part[1];
    return 0;
}

static void nest_fib(unsigned workers, int strict, int n, int64_t want,
                     int want_tokens)
{
    tg_config cfg = { .workers = workers, .no_pin = 1,
                      .strict_routing = strict };
    tg_scheduler *s = NULL;
    nest_fib_args a;
    tg_token t;
    tg_value v = { 0 };

    atomic_store(&nest_errors, 0);
    atomic_store(&nest_tokens, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    a.s = s;
    a.n = n;
    REQUIRE(tg_submit(s, &nest_fib_ops[TG_HEAVY], &a, sizeof a, &t) == TG_OK);
    CHECK_RC(tg_wait(s, t, 120 * TH_SEC, &v), TG_OK);
    CHECK_EQ(v.i, want);
    CHECK_EQ(atomic_load(&nest_errors), 0);
    CHECK_EQ(atomic_load(&nest_tokens), want_tokens);
    CHECK_RC(tg_release(s, t), TG_OK);
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 10000));
    tg_destroy(s);
}

/* fib(22) = 17711; calls with n >= 2: fib(23) - 1 = 28656. */
TG_TEST(nested_fib22_on_1_worker)
{
    nest_fib(1, 0, 22, 17711, 28656);
}

TG_TEST(nested_fib22_on_2_workers)
{
    nest_fib(2, 0, 22, 17711, 28656);
}

TG_TEST(nested_fib22_on_3_workers)
{
    nest_fib(3, 0, 22, 17711, 28656);
}

TG_TEST(nested_fib18_strict_routing_3_workers)
{
    /* fib(18) = 2584; calls with n >= 2: fib(19) - 1 = 4180. */
    nest_fib(3, 1, 18, 2584, 4180);
}

TG_TEST(nested_fib_more_workers_than_cpus)
{
    unsigned w = th_affinity_cpus() * 2 + 1;
    if (w > 16) w = 16;
    nest_fib(w, 0, 18, 2584, 4180);
}

/* Fan-out under pressure: 16 parents, each submitting 100 children and
   waiting for all of them, on 2 workers whose mailboxes hold 2 tokens. The
   children that do not fit must be waited for without deadlock. */
typedef struct nest_fan_args {
    tg_scheduler *s;
    int base;
    int mode; /* 0: tg_wait each, 1: tg_wait_all, 2: tg_wait_any loop */
} nest_fan_args;

static int nest_leaf_fn(const void *args, tg_value *result)
{
    result->i = *(const int *)args;
    return 0;
}

static const tg_op nest_leaf_ops[3] = {
    [TG_MEDIUM] = { .name = "leaf_m", .fn = nest_leaf_fn, .weight = TG_MEDIUM },
    [TG_LIGHT] = { .name = "leaf_l", .fn = nest_leaf_fn, .weight = TG_LIGHT },
    [TG_HEAVY] = { .name = "leaf_h", .fn = nest_leaf_fn, .weight = TG_HEAVY },
};

static int nest_fan_fn(const void *args, tg_value *result)
{
    const nest_fan_args *a = args;
    tg_token kids[100];
    int live[100];
    int64_t sum = 0;

    for (int i = 0; i < 100; i++) {
        int x = a->base + i;
        live[i] = 0;
        if (tg_submit(a->s, &nest_leaf_ops[i % 3], &x, sizeof x, &kids[i]) ==
            TG_OK)
            live[i] = 1;
        else
            atomic_fetch_add(&nest_errors, 1);
    }
    if (a->mode == 1 && tg_wait_all(a->s, kids, 100, -1) != TG_OK)
        atomic_fetch_add(&nest_errors, 1);
    if (a->mode == 2) {
        /* Collect with wait_any, moving finished ones out of the array. */
        tg_token rest[100];
        int idx[100], n = 0;
        for (int i = 0; i < 100; i++)
            if (live[i]) { rest[n] = kids[i]; idx[n] = i; n++; }
        while (n > 0) {
            size_t k = 0;
            tg_value v = { 0 };
            if (tg_wait_any(a->s, rest, (size_t)n, -1, &k) != TG_OK ||
                k >= (size_t)n) {
                atomic_fetch_add(&nest_errors, 1);
                break;
            }
            if (tg_wait(a->s, rest[k], 0, &v) != TG_OK)
                atomic_fetch_add(&nest_errors, 1);
            sum += v.i;
            tg_release(a->s, rest[k]);
            live[idx[k]] = 0;
            rest[k] = rest[n - 1];
            idx[k] = idx[n - 1];
            n--;
        }
    }
    for (int i = 0; i < 100; i++) {
        tg_value v = { 0 };
        if (!live[i]) continue;
        if (tg_wait(a->s, kids[i], -1, &v) != TG_OK)
            atomic_fetch_add(&nest_errors, 1);
        sum += v.i;
        tg_release(a->s, kids[i]);
    }
    result->i = sum;
    return 0;
}

static const tg_op nest_fan_op = { .name = "fan", .fn = nest_fan_fn,
                                   .weight = TG_HEAVY };

static void nest_fan_out(unsigned workers, int strict)
{
    tg_config cfg = { .workers = workers, .no_pin = 1, .mailbox_capacity = 2,
                      .strict_routing = strict };
    tg_scheduler *s = NULL;
    tg_token t[16];
    int sums_ok = 0, submitted = 0;

    atomic_store(&nest_errors, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 16; i++) {
        nest_fan_args a = { s, i * 1000, i % 3 };
        if (tg_submit(s, &nest_fan_op, &a, sizeof a, &t[i]) == TG_OK)
            submitted++;
        else
            t[i] = TG_TOKEN_NONE;
    }
    CHECK_EQ(submitted, 16);
    for (int i = 0; i < 16; i++) {
        tg_value v = { 0 };
        int64_t want = 100LL * i * 1000 + 4950;
        if (t[i].bits == 0) continue;
        if (tg_wait(s, t[i], 120 * TH_SEC, &v) == TG_OK && v.i == want)
            sums_ok++;
        tg_release(s, t[i]);
    }
    CHECK_EQ(sums_ok, 16);
    CHECK_EQ(atomic_load(&nest_errors), 0);
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 10000));
    tg_destroy(s);
}

TG_TEST(nested_fan_out_tiny_mailbox_2_workers)
{
    nest_fan_out(2, 0);
}

TG_TEST(nested_fan_out_tiny_mailbox_1_worker)
{
    nest_fan_out(1, 0);
}

TG_TEST(nested_fan_out_tiny_mailbox_strict_3_workers)
{
    nest_fan_out(3, 1);
}
