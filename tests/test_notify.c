/* test_notify.c - the completion fd: readable when a TG_OP_NOTIFY token
   submitted with a handle ends; tg_completions hands back exactly those
   handles, each once, in completion order; other tokens are not reported. */
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

static atomic_int nt_ran;

static atomic_int nt_task_us; /* how long each task takes */

static int nt_fn(const void *args, tg_value *result)
{
    int x = *(const int *)args;
    int us = atomic_load(&nt_task_us);
    if (us > 0) th_sleep_us(us);
    atomic_fetch_add(&nt_ran, 1);
    result->i = x;
    return x < 0 ? 1 : 0; /* negative arguments fail */
}

static const tg_op nt_notify_op = { .name = "nt_notify", .fn = nt_fn,
                                    .flags = TG_OP_NOTIFY };
static const tg_op nt_plain_op = { .name = "nt_plain", .fn = nt_fn };

/* Waits up to ms for fd to be readable. The fd is never read here:
   tg_completions resets it. */
static int nt_wait_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static int nt_readable_now(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TG_TEST(notify_fd_properties_and_single_token)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, t, out[4];
    int fd, flags, fdflags, x = 17;

    th_gate_init(&g, 0);
    atomic_store(&nt_task_us, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    fd = tg_completion_fd(s);
    REQUIRE(fd >= 0);
    CHECK_EQ(tg_completion_fd(s), fd); /* one fd per scheduler */
    flags = fcntl(fd, F_GETFL);
    fdflags = fcntl(fd, F_GETFD);
    CHECK(flags >= 0 && (flags & O_NONBLOCK));
    CHECK(fdflags >= 0 && (fdflags & FD_CLOEXEC));
    CHECK(!nt_readable_now(fd));
    CHECK_EQ(tg_completions(s, out, 4), 0);
    CHECK_EQ(tg_completions(s, out, 0), 0);

    /* Not readable while the token waits behind a gate. */
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    REQUIRE(tg_submit(s, &nt_notify_op, &x, sizeof x, &t) == TG_OK);
    th_sleep_ms(10);
    CHECK(!nt_readable_now(fd));
    CHECK_EQ(tg_completions(s, out, 4), 0);

    th_gate_open(&g);
    CHECK(nt_wait_readable(fd, 10000));
    CHECK_EQ(tg_completions(s, out, 4), 1);
    CHECK_EQ(out[0].bits, t.bits);
    {
        /* The handle came back terminal, and still needs its release. */
        tg_state st = TG_CREATED;
        tg_value v = { 0 };
        CHECK_RC(tg_poll(s, out[0], &st), TG_OK);
        CHECK_EQ(st, TG_COMPLETED);
        CHECK_RC(tg_wait(s, out[0], 0, &v), TG_OK);
        CHECK_EQ(v.i, 17);
    }
    /* Drained: tg_completions reset the fd. */
    CHECK(!nt_readable_now(fd));
    CHECK_EQ(tg_completions(s, out, 4), 0);
    CHECK_RC(tg_release(s, t), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK); /* gate op has no NOTIFY */
    CHECK_EQ(tg_completions(s, out, 4), 0);

    /* Two reports, taken one at a time: readable while one remains. The one
       worker runs a plain sentinel after both, so by the sentinel's end
       both have ended and been reported. */
    {
        tg_token two[2], sentinel;
        int ys[2] = { 1, 2 }, z = 3;
        for (int i = 0; i < 2; i++)
            REQUIRE(tg_submit(s, &nt_notify_op, &ys[i], sizeof ys[i],
                              &two[i]) == TG_OK);
        REQUIRE(tg_submit(s, &nt_plain_op, &z, sizeof z, &sentinel) == TG_OK);
        CHECK_RC(tg_wait(s, sentinel, TH_LONG_NS, NULL), TG_OK);
        CHECK_RC(tg_release(s, sentinel), TG_OK);
        CHECK_RC(tg_wait_all(s, two, 2, TH_LONG_NS), TG_OK);
        CHECK(TH_WAIT_UNTIL(nt_readable_now(fd), 10000));
        CHECK_EQ(tg_completions(s, out, 1), 1);
        CHECK(nt_readable_now(fd));
        CHECK_EQ(tg_completions(s, out + 1, 1), 1);
        CHECK(!nt_readable_now(fd));
        CHECK((out[0].bits == two[0].bits && out[1].bits == two[1].bits) ||
              (out[0].bits == two[1].bits && out[1].bits == two[0].bits));
        for (int i = 0; i < 2; i++) CHECK_RC(tg_release(s, two[i]), TG_OK);
    }
    tg_destroy(s);
}

typedef struct nt_submitter {
    tg_scheduler *s;
    int base, count;
    tg_token *kept;          /* notify tokens with handles */
    tg_token *plain;         /* non-notify tokens with handles */
    atomic_int errors;
    atomic_int done;
} nt_submitter;

static void *nt_submit_main(void *arg)
{
    nt_submitter *m = arg;
    for (int i = 0; i < m->count; i++) {
        int x = m->base + i;
        int fail = (i % 7 == 3) ? -x - 1 : x; /* some fail, still reported */
        if (tg_submit(m->s, &nt_notify_op, &fail, sizeof fail, &m->kept[i]) !=
            TG_OK)
            atomic_fetch_add(&m->errors, 1);
        if (tg_submit(m->s, &nt_notify_op, &x, sizeof x, NULL) != TG_OK)
            atomic_fetch_add(&m->errors, 1);
        if (tg_submit(m->s, &nt_plain_op, &x, sizeof x, &m->plain[i]) != TG_OK)
            atomic_fetch_add(&m->errors, 1);
        if (i % 20 == 19) th_sleep_us(300); /* completions trickle in */
    }
    atomic_store(&m->done, 1);
    return NULL;
}

static int nt_all_done(nt_submitter *m, int n)
{
    for (int i = 0; i < n; i++)
        if (!atomic_load(&m[i].done)) return 0;
    return 1;
}

static int nt_find(const tg_token *t, int n, uint64_t bits)
{
    for (int i = 0; i < n; i++)
        if (t[i].bits == bits) return i;
    return -1;
}

/* 4 threads submit 4 x 200 notify tokens with handles (some failing), as
   many detached notify tokens and as many plain tokens; meanwhile an event
   loop on the fd drains in small batches and must collect exactly the 800
   notify handles, each once. */
TG_TEST(notify_completions_exact_from_event_loop)
{
    enum { THREADS = 4, PER = 200, KEPT = THREADS * PER };
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    static tg_token kept[KEPT], plain[KEPT];
    static int seen[KEPT];
    static tg_token pending[KEPT];
    int pending_n = 0;
    nt_submitter m[THREADS];
    pthread_t th[THREADS];
    tg_token batch[37];
    int fd, got = 0, foreign = 0, twice = 0, not_terminal = 0, errors = 0;
    int64_t end;

    memset(seen, 0, sizeof seen);
    atomic_store(&nt_ran, 0);
    atomic_store(&nt_task_us, 20);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    fd = tg_completion_fd(s);
    REQUIRE(fd >= 0);
    for (int i = 0; i < KEPT; i++) kept[i] = plain[i] = TG_TOKEN_NONE;
    for (int i = 0; i < THREADS; i++) {
        m[i].s = s;
        m[i].base = i * PER;
        m[i].count = PER;
        m[i].kept = &kept[i * PER];
        m[i].plain = &plain[i * PER];
        atomic_init(&m[i].errors, 0);
        atomic_init(&m[i].done, 0);
        REQUIRE(pthread_create(&th[i], NULL, nt_submit_main, &m[i]) == 0);
    }

    /* The event loop, while the submitters run: poll, drain in small
       batches, until all arrived. A handle is only known to the loop once
       its submitter returned it, so unknown handles are looked up again
       after the submitters are done. */
    end = th_now_ns() + 30 * TH_SEC;
    while (got < KEPT && th_now_ns() < end) {
        size_t n;
        nt_wait_readable(fd, 100);
        while ((n = tg_completions(s, batch, 37)) > 0) {
            for (size_t k = 0; k < n; k++) {
                tg_state st = TG_CREATED;
                if (tg_poll(s, batch[k], &st) != TG_OK || !th_is_terminal(st))
                    not_terminal++;
                if (pending_n < KEPT) pending[pending_n++] = batch[k];
                else foreign++;
            }
        }
        if (pending_n > 0 && nt_all_done(m, THREADS)) {
            for (int k = 0; k < pending_n; k++) {
                int idx = nt_find(kept, KEPT, pending[k].bits);
                if (idx < 0) {
                    foreign++;
                    continue;
                }
                if (seen[idx]++) twice++;
                else got++;
            }
            pending_n = 0;
        }
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        errors += atomic_load(&m[i].errors);
    }
    CHECK_EQ(errors, 0);
    CHECK_EQ(got, KEPT);
    CHECK_EQ(foreign, 0);
    CHECK_EQ(twice, 0);
    CHECK_EQ(not_terminal, 0);

    /* Once everything ended, nothing more is reported: not the detached
       notify tokens, not the plain ones. */
    CHECK(TH_WAIT_UNTIL(atomic_load(&nt_ran) == 3 * KEPT, 30000));
    CHECK(TH_WAIT_UNTIL(th_stat_live(s) == 0, 10000));
    th_sleep_ms(10);
    CHECK_EQ(tg_completions(s, batch, 37), 0);
    for (int i = 0; i < KEPT; i++) {
        CHECK_RC(tg_wait(s, plain[i], 0, NULL), TG_OK);
        tg_release(s, kept[i]);
        tg_release(s, plain[i]);
    }
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 5000));
    tg_destroy(s);
}

/* One worker: completion order is run order, so ended_ns never goes back.
   Killed and failed notify tokens are reported too. The tokens end in two
   waves (a second gate sits between them); the first wave is only partly
   drained before the second ends, and nothing may be lost or reordered. */
TG_TEST(notify_completion_order_and_outcomes)
{
    tg_config cfg = { .workers = 1, .no_pin = 1 };
    tg_scheduler *s = NULL;
    th_gate g1, g2;
    tg_token gate1, gate2, t[50], out[64];
    size_t n = 0;
    int fd, in_order = 1, killed = 0, failed = 0, completed = 0, distinct = 1;
    int64_t last = 0, end;

    th_gate_init(&g1, 0);
    th_gate_init(&g2, 0);
    atomic_store(&nt_task_us, 100);
    atomic_store(&nt_ran, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    fd = tg_completion_fd(s);
    REQUIRE(fd >= 0);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g1, &gate1) == TG_OK);
    CHECK(th_gate_wait_entered(&g1, 1));
    for (int i = 0; i < 50; i++) {
        int x = (i % 5 == 1) ? -1 : i;
        if (i == 20)
            REQUIRE(th_submit_gate(s, &th_gate_op, &g2, &gate2) == TG_OK);
        REQUIRE(tg_submit(s, &nt_notify_op, &x, sizeof x, &t[i]) == TG_OK);
    }
    for (int i = 0; i < 50; i += 10) CHECK_RC(tg_kill(s, t[i]), TG_OK);

    /* First wave: the 5 killed ones and 18 that run. Take 3 of them. */
    th_gate_open(&g1);
    CHECK(th_gate_wait_entered(&g2, 1));
    CHECK(nt_wait_readable(fd, 10000));
    n += tg_completions(s, out + n, 3);
    CHECK_EQ(n, 3);
    /* Second wave, then drain the rest 3 at a time. */
    th_gate_open(&g2);
    CHECK(TH_WAIT_UNTIL(atomic_load(&nt_ran) == 45, 20000));
    end = th_now_ns() + 30 * TH_SEC;
    while (n < 50 && th_now_ns() < end) {
        nt_wait_readable(fd, 100);
        n += tg_completions(s, out + n, 64 - n < 3 ? 64 - n : 3);
    }
    CHECK_EQ(n, 50);
    for (size_t k = 0; k < n; k++) {
        tg_token_info info;
        for (size_t j = 0; j < k; j++)
            if (out[j].bits == out[k].bits) distinct = 0;
        if (tg_info(s, out[k], &info) != TG_OK) {
            in_order = 0;
            continue;
        }
        if (info.ended_ns < last) in_order = 0;
        last = info.ended_ns;
        if (info.state == TG_KILLED) killed++;
        else if (info.state == TG_FAILED) failed++;
        else if (info.state == TG_COMPLETED) completed++;
    }
    CHECK(distinct);
    CHECK(in_order);
    CHECK_EQ(killed, 5);
    CHECK_EQ(failed, 10);
    CHECK_EQ(completed, 35);
    for (int i = 0; i < 50; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    CHECK_RC(tg_wait(s, gate1, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(s, gate2, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, gate1), TG_OK);
    CHECK_RC(tg_release(s, gate2), TG_OK);
    CHECK_EQ(tg_completions(s, out, 64), 0);
    tg_destroy(s);
}

/* tg_completions is safe from several threads: two drainers share the
   reports, and together they see every handle exactly once. */
typedef struct nt_drainer {
    tg_scheduler *s;
    atomic_int *stop;
    tg_token got[1000];
    int n;
    atomic_int published; /* n, for the test to watch */
    int overflow;
} nt_drainer;

static void *nt_drain_main(void *arg)
{
    nt_drainer *d = arg;
    int fd = tg_completion_fd(d->s);
    for (;;) {
        tg_token batch[5];
        size_t n;
        int stopping = atomic_load(d->stop);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        poll(&p, 1, 5);
        while ((n = tg_completions(d->s, batch, 5)) > 0) {
            for (size_t k = 0; k < n; k++) {
                if (d->n < 1000) d->got[d->n++] = batch[k];
                else d->overflow++;
            }
            atomic_store(&d->published, d->n);
        }
        if (stopping) break;
    }
    return NULL;
}

TG_TEST(notify_completions_from_two_threads)
{
    enum { N = 1000 };
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    tg_scheduler *s = NULL;
    static tg_token t[N];
    static nt_drainer d[2];
    static int seen[N];
    pthread_t th[2];
    atomic_int stop;
    int submitted = 0, total = 0, unknown = 0, twice = 0;

    atomic_init(&stop, 0);
    atomic_store(&nt_task_us, 0);
    memset(seen, 0, sizeof seen);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 2; i++) {
        d[i].s = s;
        d[i].stop = &stop;
        d[i].n = 0;
        atomic_init(&d[i].published, 0);
        d[i].overflow = 0;
        REQUIRE(pthread_create(&th[i], NULL, nt_drain_main, &d[i]) == 0);
    }
    for (int i = 0; i < N; i++) {
        if (tg_submit(s, &nt_notify_op, &i, sizeof i, &t[i]) == TG_OK) submitted++;
        if (i % 100 == 99) th_sleep_us(500);
    }
    CHECK_EQ(submitted, N);
    CHECK_RC(tg_wait_all(s, t, N, TH_LONG_NS), TG_OK);
    /* Every token ended; let the drainers take the last reports. */
    CHECK(TH_WAIT_UNTIL(atomic_load(&d[0].published) +
                                atomic_load(&d[1].published) >= N,
                        10000));
    th_sleep_ms(10);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(d[i].overflow, 0);
        for (int k = 0; k < d[i].n; k++) {
            int idx = nt_find(t, N, d[i].got[k].bits);
            if (idx < 0) unknown++;
            else if (seen[idx]++) twice++;
            else total++;
        }
    }
    CHECK_EQ(total, N);
    CHECK_EQ(unknown, 0);
    CHECK_EQ(twice, 0);
    for (int i = 0; i < N; i++) tg_release(s, t[i]);
    tg_destroy(s);
}
