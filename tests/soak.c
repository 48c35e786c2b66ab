/* soak.c - the fault-injection soak: TG_SOAK_TOKENS tokens (make test runs
   a small number per build; `make soak` runs 5,000,000) from 4 threads with
   random weights, sticky keys, domain leads with children, runs that fail
   at random (some recover on retry), random kills, deadlines, dedupe joins
   and tiers, while a control thread pauses and resumes ops and the whole
   scheduler. Half-way through, the scheduler is shut down (DRAIN in one
   round, CANCEL in the other). Afterwards every submission the test saw
   accepted must have ended in exactly one terminal state, seen by its
   waiter, and the scheduler's counts must equal the test's own tally; no
   slot, pin, domain or tier place may be left. */
#include "harness.h"

#include <pthread.h>

enum { SK_OK, SK_FAILED, SK_KILLED, SK_TIMEOUT, SK_STATES };

typedef struct sk_tally {
    atomic_llong submitted;        /* tg_submit returned TG_OK */
    atomic_llong ended[SK_STATES]; /* outcomes seen by the waiters */
    atomic_llong refused;          /* TG_ESHUTDOWN (after the shutdown began) */
    atomic_llong early_refusals;   /* TG_ESHUTDOWN before it began: a failure */
    atomic_llong bad_results;      /* TG_OK with a result other than the key */
    atomic_llong odd;              /* any other result: a failure */
} sk_tally;

static sk_tally sk;
static tg_scheduler *sk_s;
static atomic_int sk_in_fn;        /* functions running now */
static atomic_int sk_stop_control;
static atomic_int sk_shutdown_began; /* set just before tg_shutdown is called */

/* Every op's function returns its key as the result (dedupe followers
   share their leader's, of equal arguments and so of the same key). */
static void sk_count_wait(int rc, const tg_value *v, int key)
{
    if (rc == TG_OK && v->u != (uint64_t)key) atomic_fetch_add(&sk.bad_results, 1);
    switch (rc) {
    case TG_OK: atomic_fetch_add(&sk.ended[SK_OK], 1); break;
    case TG_EFAILED: atomic_fetch_add(&sk.ended[SK_FAILED], 1); break;
    case TG_EKILLED: atomic_fetch_add(&sk.ended[SK_KILLED], 1); break;
    case TG_EDEADLINE: atomic_fetch_add(&sk.ended[SK_TIMEOUT], 1); break;
    default: atomic_fetch_add(&sk.odd, 1); break;
    }
}

static int sk_count_submit(int rc)
{
    if (rc == TG_OK) { atomic_fetch_add(&sk.submitted, 1); return 1; }
    if (rc == TG_ESHUTDOWN) {
        atomic_fetch_add(&sk.refused, 1);
        if (!atomic_load(&sk_shutdown_began)) atomic_fetch_add(&sk.early_refusals, 1);
    } else {
        atomic_fetch_add(&sk.odd, 1);
    }
    return 0;
}

typedef struct sk_args {
    uint64_t seed;    /* drives this run's behaviour */
    int key;
} sk_args;

/* Fails 10% of the runs (a fresh draw per run: a retry may succeed),
   sleeps now and then past a 2 ms deadline, stops when asked. */
static int sk_work(const void *args, tg_value *result)
{
    const sk_args *a = args;
    atomic_fetch_add(&sk_in_fn, 1);
    uint64_t r = a->seed ^ (uint64_t)th_now_ns();
    r = th_rand(&r);
    int rc = 0;
    if (r % 10 == 0) rc = 1 + (int)(r % 7);
    else if (r % 97 == 1) {
        int64_t end = th_now_ns() + 3 * TH_MS;
        while (!tg_should_stop() && th_now_ns() < end) th_sleep_us(200);
    }
    result->u = (uint64_t)a->key;
    atomic_fetch_sub(&sk_in_fn, 1);
    return rc;
}

static int sk_lead(const void *args, tg_value *result);

static const char *const sk_calls[] = { "store.read", "cache.get", NULL };
static const tg_op sk_ops[] = {
    { .name = "plain_m", .fn = sk_work, .weight = TG_MEDIUM },
    { .name = "plain_l", .fn = sk_work, .weight = TG_LIGHT },
    { .name = "heavy_retry", .fn = sk_work, .weight = TG_HEAVY, .max_retries = 2 },
    { .name = "sticky", .fn = sk_work, .sticky_anchor = "acct", .max_retries = 1 },
    { .name = "deadline", .fn = sk_work, .timeout_ns = 2000000 },
    { .name = "dedupe", .fn = sk_work, .flags = TG_OP_DEDUPE },
    { .name = "tiered", .fn = sk_work, .io_tier = TG_IO_SLOW },
    { .name = "lead", .fn = sk_lead, .external_calls = sk_calls, .weight = TG_HEAVY },
};
#define SK_OPS ((int)(sizeof sk_ops / sizeof sk_ops[0]))

/* A domain lead: two children of random plain ops, awaited, tallied. */
static int sk_lead(const void *args, tg_value *result)
{
    const sk_args *a = args;
    atomic_fetch_add(&sk_in_fn, 1);
    tg_token kids[2];
    int n = 0;
    for (int i = 0; i < 2; i++) {
        sk_args c = { a->seed * 31 + (uint64_t)i, a->key };
        if (sk_count_submit(tg_submit(sk_s, &sk_ops[i], &c, sizeof c, &kids[n]))) n++;
    }
    for (int i = 0; i < n; i++) {
        tg_value v = { 0 };
        int rc = tg_wait(sk_s, kids[i], TH_LONG_NS, &v);
        sk_count_wait(rc, &v, a->key);
        if (tg_release(sk_s, kids[i]) != TG_OK) atomic_fetch_add(&sk.odd, 1);
    }
    result->u = (uint64_t)a->key;
    atomic_fetch_sub(&sk_in_fn, 1);
    return 0;
}

#define SK_WINDOW 64

typedef struct sk_thread {
    long tokens;
    uint64_t seed;
} sk_thread;

static atomic_long sk_issued;      /* submissions attempted, all threads */
static long sk_half;
static atomic_int sk_shutdown_go;

static void *sk_submitter(void *p)
{
    sk_thread *t = p;
    tg_token window[SK_WINDOW];
    int keys[SK_WINDOW];
    int head = 0, count = 0;
    for (long i = 0; i < t->tokens; i++) {
        if (count == SK_WINDOW) {
            tg_value v = { 0 };
            int rc = tg_wait(sk_s, window[head], TH_LONG_NS, &v);
            sk_count_wait(rc, &v, keys[head]);
            if (tg_release(sk_s, window[head]) != TG_OK) atomic_fetch_add(&sk.odd, 1);
            head = (head + 1) % SK_WINDOW;
            count--;
        }
        uint64_t r = th_rand(&t->seed);
        int op = (int)(r % SK_OPS);
        sk_args a = { r, (int)((r >> 8) % 16) };
        if (op == 5) a.seed = (r >> 16) % 8;         /* dedupe: few distinct args */
        tg_token h;
        if (sk_count_submit(tg_submit_timeout(sk_s, &sk_ops[op], &a, sizeof a, &h, -1))) {
            window[(head + count) % SK_WINDOW] = h;
            keys[(head + count) % SK_WINDOW] = a.key;
            count++;
            if ((r >> 24) % 20 == 0) {               /* kill a random outstanding one */
                int k = (int)((r >> 32) % (uint64_t)count);
                int rc = tg_kill(sk_s, window[(head + k) % SK_WINDOW]);
                if (rc != TG_OK) atomic_fetch_add(&sk.odd, 1);
            }
        }
        if (atomic_fetch_add(&sk_issued, 1) + 1 == sk_half) atomic_store(&sk_shutdown_go, 1);
    }
    while (count) {
        tg_value v = { 0 };
        int rc = tg_wait(sk_s, window[head], TH_LONG_NS, &v);
        sk_count_wait(rc, &v, keys[head]);
        if (tg_release(sk_s, window[head]) != TG_OK) atomic_fetch_add(&sk.odd, 1);
        head = (head + 1) % SK_WINDOW;
        count--;
    }
    return NULL;
}

/* Pauses and resumes random ops, now and then everything, ~every 200 us. */
static void *sk_control(void *p)
{
    uint64_t seed = 77;
    (void)p;
    while (!atomic_load(&sk_stop_control)) {
        uint64_t r = th_rand(&seed);
        const char *name = sk_ops[r % SK_OPS].name;
        int global = (r >> 8) % 10 == 0;
        int rc = global ? tg_pause(sk_s) : tg_op_pause(sk_s, name);
        th_sleep_us(100 + (long)((r >> 16) % 200));
        int rc2 = global ? tg_resume(sk_s) : tg_op_resume(sk_s, name);
        /* before an op's first submission: TG_ENOOP; after the shutdown
           began: TG_ESHUTDOWN */
        if ((rc != TG_OK && rc != TG_ENOOP && rc != TG_ESHUTDOWN) ||
            (rc2 != TG_OK && rc2 != TG_ENOOP && rc2 != TG_ESHUTDOWN))
            atomic_fetch_add(&sk.odd, 1);
        th_sleep_us(100);
    }
    return NULL;
}

static void sk_round(long total, int mode)
{
    tg_config cfg = { .workers = 3, .max_tokens = 4096, .mailbox_capacity = 256 };
    cfg.tier_caps[TG_IO_SLOW] = 1;
    pthread_t th[4], ctl;
    sk_thread t[4];
    struct tg_stats st;
    memset(&sk, 0, sizeof sk);
    atomic_store(&sk_in_fn, 0);
    atomic_store(&sk_stop_control, 0);
    atomic_store(&sk_issued, 0);
    atomic_store(&sk_shutdown_go, 0);
    atomic_store(&sk_shutdown_began, 0);
    sk_half = total / 2;
    REQUIRE(tg_create(&cfg, &sk_s) == TG_OK);
    REQUIRE(pthread_create(&ctl, NULL, sk_control, NULL) == 0);
    for (int i = 0; i < 4; i++) {
        t[i].tokens = total / 4;
        t[i].seed = 1000 + (uint64_t)i * 7919 + (uint64_t)mode;
        REQUIRE(pthread_create(&th[i], NULL, sk_submitter, &t[i]) == 0);
    }
    CHECK(TH_WAIT_UNTIL(atomic_load(&sk_shutdown_go), 600000));
    atomic_store(&sk_shutdown_began, 1);
    CHECK_RC(tg_shutdown(sk_s, mode, 60 * TH_SEC), TG_OK);
    {
        /* from now on an outside submission is refused, whatever the timing
           of the submitters */
        sk_args late = { 1, 1 };
        tg_token h = { 12345 };
        CHECK_RC(tg_submit(sk_s, &sk_ops[0], &late, sizeof late, &h), TG_ESHUTDOWN);
        CHECK_EQ(h.bits, 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    atomic_store(&sk_stop_control, 1);
    pthread_join(ctl, NULL);
    /* functions that ended late (deadline) may still be returning */
    CHECK(TH_WAIT_UNTIL(atomic_load(&sk_in_fn) == 0, 60000));
    CHECK_RC(tg_stats(sk_s, &st), TG_OK);

    long long ended = 0;
    for (int k = 0; k < SK_STATES; k++) ended += atomic_load(&sk.ended[k]);
    th_note("soak %s: %lld submitted, %lld refused after shutdown; ended: %lld completed, "
            "%lld failed, %lld killed, %lld timed out; scheduler: %llu submitted, %llu completed, "
            "%llu failed, %llu killed, %llu timed out, %llu dedupe joins",
            mode == TG_DRAIN ? "DRAIN" : "CANCEL", (long long)atomic_load(&sk.submitted),
            (long long)atomic_load(&sk.refused), (long long)atomic_load(&sk.ended[SK_OK]),
            (long long)atomic_load(&sk.ended[SK_FAILED]), (long long)atomic_load(&sk.ended[SK_KILLED]),
            (long long)atomic_load(&sk.ended[SK_TIMEOUT]), (unsigned long long)st.submitted,
            (unsigned long long)st.completed, (unsigned long long)st.failed,
            (unsigned long long)st.killed, (unsigned long long)st.timed_out,
            (unsigned long long)st.dedupe_joined);
    CHECK_EQ(atomic_load(&sk.odd), 0);
    CHECK_EQ(atomic_load(&sk.early_refusals), 0);
    CHECK_EQ(atomic_load(&sk.bad_results), 0);
    CHECK_EQ(ended, atomic_load(&sk.submitted));                 /* every waiter returned */
    CHECK_EQ(st.submitted, atomic_load(&sk.submitted));
    CHECK_EQ(st.completed, atomic_load(&sk.ended[SK_OK]));
    CHECK_EQ(st.failed, atomic_load(&sk.ended[SK_FAILED]));
    CHECK_EQ(st.killed, atomic_load(&sk.ended[SK_KILLED]));
    CHECK_EQ(st.timed_out, atomic_load(&sk.ended[SK_TIMEOUT]));
    CHECK_EQ(st.completed + st.failed + st.killed + st.timed_out, st.submitted);
    CHECK_EQ(st.live, 0);
    CHECK_EQ(st.slots_in_use, 0);
    CHECK_EQ(st.sticky_keys, 0);
    CHECK_EQ(st.domains_open, 0);
    CHECK_EQ(st.domains_kept, 0);
    CHECK_EQ(st.tier_running[TG_IO_SLOW], 0);
    CHECK_EQ(st.tier_waiting[TG_IO_SLOW], 0);
    CHECK(atomic_load(&sk.submitted) > 0);
    tg_destroy(sk_s);
    sk_s = NULL;
}

TG_TEST(soak_drain_then_cancel)
{
    long total = th_env_long("TG_SOAK_TOKENS", 40000);
    sk_round(total, TG_DRAIN);
    sk_round(total, TG_CANCEL);
}
