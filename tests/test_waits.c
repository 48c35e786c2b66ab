/* test_waits.c - waits inside tasks on any graph, and blocking that hands
   the core to a spare worker: a chain of waits on earlier tokens, stencils
   and random DAGs submitted from outside and from inside tasks, waits that
   can only sleep (with the spares bounded), many waiters on one dedupe
   leader or on paused children, recursion under a tiny max_tokens, cycles
   through a task's own stack, storage tiers as real concurrency, blocking
   sections, and the idle scheduler afterwards. */
#include "harness.h"

#include <sched.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static void wt_spin_ms(int ms)
{
    int64_t end = th_now_ns() + ms * TH_MS;
    while (th_now_ns() < end) {
    }
}

static tg_scheduler *wt_create(unsigned workers, unsigned spares)
{
    tg_config cfg = { .workers = workers, .no_pin = 1, .max_spare_workers = spares };
    tg_scheduler *s = NULL;
    if (tg_create(&cfg, &s) != TG_OK) return NULL;
    return s;
}

/* Shuts down and checks what an idle scheduler shows: no token live, no
   spare running, every spare parked. */
static void wt_finish(tg_scheduler *s)
{
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    struct tg_stats st;
    CHECK(TH_WAIT_UNTIL((tg_stats(s, &st), st.spares_running == 0), 5000));
    CHECK_EQ(st.live, 0);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, TH_LONG_NS), TG_OK);
    tg_destroy(s);
}

/* ------------------------------------------------------ the A/B/C chain */

/* A spins 20 ms; B, submitted once A runs, waits for A; C, submitted once
   B runs, waits for B. A helping wait that ran C beneath B deadlocked. */
typedef struct wt_chain {
    tg_scheduler *s;
    tg_token a, b;
    atomic_int a_running, b_running;
} wt_chain;

static int wt_chain_a(const void *args, tg_value *result)
{
    wt_chain *c = *(wt_chain *const *)args;
    atomic_store(&c->a_running, 1);
    wt_spin_ms(20);
    result->i = 1;
    return 0;
}

static int wt_chain_wait(const void *args, tg_value *result, int is_b)
{
    wt_chain *c = *(wt_chain *const *)args;
    if (is_b) atomic_store(&c->b_running, 1);
    tg_value v = { 0 };
    int rc = tg_wait(c->s, is_b ? c->a : c->b, -1, &v);
    result->i = v.i + 1;
    return rc == TG_OK ? 0 : 1;
}

static int wt_chain_b(const void *args, tg_value *result) { return wt_chain_wait(args, result, 1); }
static int wt_chain_c(const void *args, tg_value *result) { return wt_chain_wait(args, result, 0); }

static void wt_chain_run(unsigned workers)
{
    static const tg_op op_a = { .name = "chain_a", .fn = wt_chain_a };
    static const tg_op op_b = { .name = "chain_b", .fn = wt_chain_b };
    static const tg_op op_c = { .name = "chain_c", .fn = wt_chain_c };
    tg_scheduler *s = wt_create(workers, 0);
    REQUIRE(s);
    wt_chain c = { .s = s };
    wt_chain *cp = &c;
    tg_token tc;
    CHECK_RC(tg_submit(s, &op_a, &cp, sizeof cp, &c.a), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&c.a_running), 30000));
    CHECK_RC(tg_submit(s, &op_b, &cp, sizeof cp, &c.b), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&c.b_running), 30000));
    CHECK_RC(tg_submit(s, &op_c, &cp, sizeof cp, &tc), TG_OK);
    tg_value v = { 0 };
    CHECK_RC(tg_wait(s, tc, TH_LONG_NS, &v), TG_OK);
    CHECK_EQ(v.i, 3);
    tg_release(s, c.a);
    tg_release(s, c.b);
    tg_release(s, tc);
    wt_finish(s);
}

TG_TEST(waits_chain_on_earlier_tokens_1_worker) { wt_chain_run(1); }
TG_TEST(waits_chain_on_earlier_tokens_2_workers) { wt_chain_run(2); }
TG_TEST(waits_chain_on_earlier_tokens_3_workers) { wt_chain_run(3); }

/* ------------------------------------- a token a wait ran out of turn */

/* A's wait runs B, queued in the core's mailbox, beneath itself; B's
   mailbox entry stays behind A. Once B ended and its handle is released,
   its slot is free at once: the entry left in the mailbox holds nothing
   (it used to keep the slot until the core got to it, after A). */
typedef struct wt_out_of_turn {
    tg_scheduler *s;
    tg_token b;
    atomic_int a_running, b_ready, a_waited, go;
    int a_rc;
} wt_out_of_turn;

static int wt_out_a(const void *args, tg_value *result)
{
    wt_out_of_turn *o = *(wt_out_of_turn *const *)args;
    (void)result;
    atomic_store(&o->a_running, 1);
    while (!atomic_load(&o->b_ready)) sched_yield();
    o->a_rc = tg_wait(o->s, o->b, -1, NULL);
    atomic_store(&o->a_waited, 1);
    while (!atomic_load(&o->go)) sched_yield();
    return 0;
}

static int wt_out_b(const void *args, tg_value *result)
{
    (void)args;
    result->i = 7;
    return 0;
}

TG_TEST(waits_token_run_out_of_turn_frees_its_slot_at_release)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .max_tokens = 2, .full_policy = TG_FULL_REJECT };
    tg_scheduler *s = NULL;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    static const tg_op a_op = { .name = "out_a", .fn = wt_out_a };
    static const tg_op b_op = { .name = "out_b", .fn = wt_out_b };
    wt_out_of_turn o = { .s = s, .b = TG_TOKEN_NONE };
    wt_out_of_turn *op = &o;
    tg_token a, c;
    tg_value v;
    struct tg_stats st;
    CHECK_RC(tg_submit(s, &a_op, &op, sizeof op, &a), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&o.a_running), 5000));
    CHECK_RC(tg_submit(s, &b_op, NULL, 0, &o.b), TG_OK);
    atomic_store(&o.b_ready, 1);
    CHECK_RC(tg_wait(s, o.b, TH_LONG_NS, &v), TG_OK);   /* run beneath A's wait */
    CHECK_EQ(v.i, 7);
    CHECK(TH_WAIT_UNTIL(atomic_load(&o.a_waited), 5000));
    CHECK_EQ(o.a_rc, TG_OK);
    CHECK_RC(tg_release(s, o.b), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.slots_in_use, 1);                      /* A's alone */
    CHECK_RC(tg_submit(s, &b_op, NULL, 0, &c), TG_OK);   /* the room B left */
    atomic_store(&o.go, 1);
    CHECK_RC(tg_wait(s, a, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(s, c, TH_LONG_NS, &v), TG_OK);
    CHECK_EQ(v.i, 7);
    CHECK_RC(tg_release(s, a), TG_OK);
    CHECK_RC(tg_release(s, c), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.slots_in_use, 0);
    wt_finish(s);
}

/* -------------------------------------------------------------- stencil */

/* W points by T steps: token (t, i) waits with tg_wait_all for its
   neighbours (t-1, i-1..i+1) and returns their sum plus i + 1. */
typedef struct wt_stencil {
    tg_scheduler *s;
    int w, steps;
    tg_token *h;           /* steps * w handles */
    atomic_int errors, last_error;
} wt_stencil;

typedef struct wt_point { wt_stencil *st; int t, i; } wt_point;

static int wt_point_fn(const void *args, tg_value *result)
{
    const wt_point *p = args;
    wt_stencil *st = p->st;
    uint64_t sum = (uint64_t)p->i + 1;
    if (p->t > 0) {
        int lo = p->i > 0 ? p->i - 1 : 0, hi = p->i + 1 < st->w ? p->i + 1 : st->w - 1;
        const tg_token *prev = &st->h[(size_t)(p->t - 1) * st->w + lo];
        int rc = tg_wait_all(st->s, prev, (size_t)(hi - lo + 1), -1);
        if (rc != TG_OK) {
            atomic_store(&st->last_error, rc);
            atomic_fetch_add(&st->errors, 1);
            return 1;
        }
        for (int j = 0; j <= hi - lo; j++) {
            tg_value v;
            if (tg_wait(st->s, prev[j], 0, &v) != TG_OK) atomic_fetch_add(&st->errors, 1);
            sum += v.u;
        }
    }
    result->u = sum;
    return 0;
}

static const tg_op wt_point_op = { .name = "stencil_point", .fn = wt_point_fn };

static int wt_stencil_submit_all(wt_stencil *st)
{
    for (int t = 0; t < st->steps; t++)
        for (int i = 0; i < st->w; i++) {
            wt_point p = { st, t, i };
            if (tg_submit(st->s, &wt_point_op, &p, sizeof p, &st->h[(size_t)t * st->w + i]) != TG_OK)
                return 1;
        }
    return 0;
}

/* The root token: submits every step from inside, waits for the last. */
static int wt_stencil_root(const void *args, tg_value *result)
{
    wt_stencil *st = *(wt_stencil *const *)args;
    if (wt_stencil_submit_all(st)) return 1;
    result->u = 0;
    return tg_wait_all(st->s, &st->h[(size_t)(st->steps - 1) * st->w], (size_t)st->w, -1) == TG_OK ? 0 : 1;
}

static void wt_stencil_run(unsigned workers, int w, int steps, int from_root)
{
    static const tg_op root_op = { .name = "stencil_root", .fn = wt_stencil_root };
    tg_scheduler *s = wt_create(workers, 0);
    REQUIRE(s);
    wt_stencil st = { .s = s, .w = w, .steps = steps };
    st.h = calloc((size_t)w * steps, sizeof *st.h);
    uint64_t *want = calloc((size_t)w * steps, sizeof *want);
    REQUIRE(st.h && want);
    for (int t = 0; t < steps; t++)
        for (int i = 0; i < w; i++) {
            uint64_t v = (uint64_t)i + 1;
            if (t > 0)
                for (int j = i > 0 ? i - 1 : 0; j <= (i + 1 < w ? i + 1 : w - 1); j++)
                    v += want[(size_t)(t - 1) * w + j];
            want[(size_t)t * w + i] = v;
        }
    if (from_root) {
        wt_stencil *sp = &st;
        tg_token root;
        CHECK_RC(tg_submit(s, &root_op, &sp, sizeof sp, &root), TG_OK);
        CHECK_RC(tg_wait(s, root, TH_LONG_NS, NULL), TG_OK);
        tg_release(s, root);
    } else {
        CHECK_EQ(wt_stencil_submit_all(&st), 0);
    }
    CHECK_RC(tg_wait_all(s, st.h, (size_t)w * steps, TH_LONG_NS), TG_OK);
    int wrong = 0;
    for (size_t k = 0; k < (size_t)w * steps; k++) {
        tg_value v = { 0 };
        if (tg_wait(s, st.h[k], 0, &v) != TG_OK || v.u != want[k]) wrong++;
        tg_release(s, st.h[k]);
    }
    CHECK_EQ(wrong, 0);
    if (atomic_load(&st.errors)) th_note("stencil %d x %d: last error %d", w, steps, atomic_load(&st.last_error));
    CHECK_EQ(atomic_load(&st.errors), 0);
    if (atomic_load(&st.errors))
        th_note("W %d, %d steps, from %s: last error %s", w, steps, from_root ? "a root" : "outside",
                tg_strerror(atomic_load(&st.last_error)));
    free(st.h);
    free(want);
    wt_finish(s);
}

static void wt_stencils(unsigned workers)
{
    static const int widths[] = { 1, 2, 3, 8 };
    for (int k = 0; k < 4; k++) {
        wt_stencil_run(workers, widths[k], 1000, 0);
        wt_stencil_run(workers, widths[k], 1000, 1);
    }
}

TG_TEST(waits_stencil_1_worker) { wt_stencils(1); }
TG_TEST(waits_stencil_2_workers) { wt_stencils(2); }
TG_TEST(waits_stencil_3_workers) { wt_stencils(3); }

/* ---------------------------------------------------------- random DAGs */

/* N tokens; token k waits for up to 4 random earlier ones and returns a
   hash of k plus their values. A third of them are submitted from inside
   a launcher token, which first waits for the launchers of its inside
   dependencies (so their handles exist): waits on waits, across cores. */
#define WT_DAG_MAX_DEPS 4

typedef struct wt_dag {
    tg_scheduler *s;
    int n;
    int (*deps)[WT_DAG_MAX_DEPS];
    int *ndeps;
    unsigned char *inside;
    tg_token *h, *launcher;
    uint64_t *want;
    atomic_int errors;
} wt_dag;

typedef struct wt_dag_arg { wt_dag *d; int k; } wt_dag_arg;

static uint64_t wt_mix(uint64_t x)
{
    x ^= x >> 31; x *= 0x9e3779b97f4a7c15ull; x ^= x >> 29;
    return x;
}

static int wt_dag_node(const void *args, tg_value *result)
{
    const wt_dag_arg *a = args;
    wt_dag *d = a->d;
    tg_token deps[WT_DAG_MAX_DEPS];
    int n = d->ndeps[a->k];
    for (int j = 0; j < n; j++) deps[j] = d->h[d->deps[a->k][j]];
    uint64_t v = wt_mix((uint64_t)a->k);
    if (n && tg_wait_all(d->s, deps, (size_t)n, -1) != TG_OK) {
        atomic_fetch_add(&d->errors, 1);
        return 1;
    }
    for (int j = 0; j < n; j++) {
        tg_value x = { 0 };
        if (tg_wait(d->s, deps[j], 0, &x) != TG_OK) atomic_fetch_add(&d->errors, 1);
        v += x.u;
    }
    result->u = v;
    return 0;
}

static const tg_op wt_dag_node_op = { .name = "dag_node", .fn = wt_dag_node };

static int wt_dag_launch(const void *args, tg_value *result)
{
    const wt_dag_arg *a = args;
    wt_dag *d = a->d;
    (void)result;
    for (int j = 0; j < d->ndeps[a->k]; j++) {
        int dep = d->deps[a->k][j];
        if (d->inside[dep] && tg_wait(d->s, d->launcher[dep], -1, NULL) != TG_OK) {
            atomic_fetch_add(&d->errors, 1);
            return 1;
        }
    }
    wt_dag_arg c = { d, a->k };
    if (tg_submit(d->s, &wt_dag_node_op, &c, sizeof c, &d->h[a->k]) != TG_OK) {
        atomic_fetch_add(&d->errors, 1);
        return 1;
    }
    return 0;
}

static const tg_op wt_dag_launch_op = { .name = "dag_launch", .fn = wt_dag_launch };

/* One DAG of seed `seed`; the number of tokens whose value was wrong. */
static int wt_dag_run(tg_scheduler *s, wt_dag *d, uint64_t seed)
{
    uint64_t r = seed * 0x2545f4914f6cdd1dull + 1;
    for (int k = 0; k < d->n; k++) {
        d->ndeps[k] = k ? (int)(th_rand(&r) % (WT_DAG_MAX_DEPS + 1)) : 0;
        for (int j = 0; j < d->ndeps[k]; j++) d->deps[k][j] = (int)(th_rand(&r) % (uint64_t)k);
        d->inside[k] = th_rand(&r) % 3 == 0;
        uint64_t v = wt_mix((uint64_t)k);
        for (int j = 0; j < d->ndeps[k]; j++) v += d->want[d->deps[k][j]];
        d->want[k] = v;
    }
    for (int k = 0; k < d->n; k++) {
        wt_dag_arg a = { d, k };
        if (d->inside[k]) {
            if (tg_submit(s, &wt_dag_launch_op, &a, sizeof a, &d->launcher[k]) != TG_OK) return d->n;
            continue;
        }
        for (int j = 0; j < d->ndeps[k]; j++) {
            int dep = d->deps[k][j];
            if (d->inside[dep] && tg_wait(s, d->launcher[dep], TH_LONG_NS, NULL) != TG_OK) return d->n;
        }
        if (tg_submit(s, &wt_dag_node_op, &a, sizeof a, &d->h[k]) != TG_OK) return d->n;
    }
    int wrong = 0;
    for (int k = 0; k < d->n; k++)
        if (d->inside[k] && tg_wait(s, d->launcher[k], TH_LONG_NS, NULL) != TG_OK) return d->n;
    for (int k = 0; k < d->n; k++) {
        tg_value v = { 0 };
        if (tg_wait(s, d->h[k], TH_LONG_NS, &v) != TG_OK || v.u != d->want[k]) wrong++;
    }
    for (int k = 0; k < d->n; k++) {
        tg_release(s, d->h[k]);
        if (d->inside[k]) tg_release(s, d->launcher[k]);
    }
    return wrong;
}

static void wt_dags(unsigned workers)
{
    long seeds = th_env_long("TG_DAG_SEEDS", 100);
    tg_scheduler *s = wt_create(workers, 0);
    REQUIRE(s);
    wt_dag d = { .s = s, .n = (int)th_env_long("TG_DAG_TOKENS", 10000) };
    d.deps = calloc((size_t)d.n, sizeof *d.deps);
    d.ndeps = calloc((size_t)d.n, sizeof *d.ndeps);
    d.inside = calloc((size_t)d.n, 1);
    d.h = calloc((size_t)d.n, sizeof *d.h);
    d.launcher = calloc((size_t)d.n, sizeof *d.launcher);
    d.want = calloc((size_t)d.n, sizeof *d.want);
    REQUIRE(d.deps && d.ndeps && d.inside && d.h && d.launcher && d.want);
    int bad_seeds = 0;
    int64_t t0 = th_now_ns();
    for (long seed = 1; seed <= seeds; seed++) {
        int wrong = wt_dag_run(s, &d, (uint64_t)seed);
        if (wrong) {
            th_note("seed %ld: %d tokens wrong (replay: TG_DAG_SEEDS=%ld)", seed, wrong, seed);
            bad_seeds++;
        }
    }
    CHECK_EQ(bad_seeds, 0);
    CHECK_EQ(atomic_load(&d.errors), 0);
    struct tg_stats st;
    tg_stats(s, &st);
    th_note("%ld DAGs of %d tokens on %u workers: %.0f ms, %llu tokens completed, %llu hand-offs, "
            "spares peak %u", seeds, d.n, workers, (double)(th_now_ns() - t0) / 1e6,
            (unsigned long long)st.completed, (unsigned long long)st.handoffs, st.spares_peak);
    CHECK(st.completed >= (uint64_t)seeds * (uint64_t)d.n);
    free(d.deps); free(d.ndeps); free(d.inside); free(d.h); free(d.launcher); free(d.want);
    wt_finish(s);
}

TG_TEST(waits_random_dags_1_worker) { wt_dags(1); }
TG_TEST(waits_random_dags_2_workers) { wt_dags(2); }
TG_TEST(waits_random_dags_3_workers) { wt_dags(3); }

/* ------------------------------------------------------------ the spares */

/* 100 tasks wait for a token held at a gate, with max_spare_workers 4:
   never a fifth spare. Past the limit a wait keeps its core (the tasks
   behind it wait in the queues); all complete once the gate opens. */
typedef struct wt_hold { tg_scheduler *s; tg_token gate; atomic_int waiting, done; } wt_hold;

static int wt_hold_waiter(const void *args, tg_value *result)
{
    wt_hold *h = *(wt_hold *const *)args;
    atomic_fetch_add(&h->waiting, 1);
    tg_value v = { 0 };
    int rc = tg_wait(h->s, h->gate, -1, &v);
    atomic_fetch_add(&h->done, 1);
    result->i = v.i;
    return rc == TG_OK ? 0 : 1;
}

TG_TEST(waits_spares_are_bounded)
{
    static const tg_op gate_op = { .name = "hold_gate", .fn = th_gate_fn };
    static const tg_op waiter_op = { .name = "hold_waiter", .fn = wt_hold_waiter };
    tg_scheduler *s = wt_create(2, 4);
    REQUIRE(s);
    th_gate g;
    th_gate_init(&g, 0);
    th_gate *gp = &g;
    wt_hold h = { .s = s };
    wt_hold *hp = &h;
    CHECK_RC(tg_submit(s, &gate_op, &gp, sizeof gp, &h.gate), TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    tg_token w[100];
    for (int i = 0; i < 100; i++) CHECK_RC(tg_submit(s, &waiter_op, &hp, sizeof hp, &w[i]), TG_OK);
    /* one core holds the gate; the other serves waiters until its owner
       can hand it to no spare: 1 + 4 waiters, the rest queued */
    CHECK(TH_WAIT_UNTIL(atomic_load(&h.waiting) >= 5, 30000));
    th_sleep_ms(50);
    struct tg_stats st;
    tg_stats(s, &st);
    CHECK_EQ(st.spares_peak, 4);
    CHECK_EQ(st.spares_alive, 4);
    CHECK_EQ(atomic_load(&h.waiting), 5);
    CHECK_EQ(atomic_load(&h.done), 0);
    th_gate_open(&g);
    CHECK_RC(tg_wait_all(s, w, 100, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&h.done), 100);
    tg_stats(s, &st);
    CHECK(st.spares_peak <= 4);
    for (int i = 0; i < 100; i++) tg_release(s, w[i]);
    tg_release(s, h.gate);
    wt_finish(s);
}

/* The same with one worker and no gate token on a core: 100 tasks each
   wait for a child they submitted, past the spare limit too (the wait
   takes its own child from the queue, so it needs no spare). */
typedef struct wt_parent { tg_scheduler *s; int n; } wt_parent;

static int wt_leaf(const void *args, tg_value *result)
{
    result->i = *(const int *)args;
    return 0;
}

static int wt_parent_fn(const void *args, tg_value *result)
{
    static const tg_op leaf_op = { .name = "leaf", .fn = wt_leaf };
    const wt_parent *p = args;
    tg_token c;
    if (tg_submit(p->s, &leaf_op, &p->n, sizeof p->n, &c) != TG_OK) return 1;
    tg_value v = { 0 };
    int rc = tg_wait(p->s, c, -1, &v);
    tg_release(p->s, c);
    result->i = v.i * 2;
    return rc == TG_OK ? 0 : 1;
}

TG_TEST(waits_past_the_spare_limit_take_their_children)
{
    static const tg_op parent_op = { .name = "parent", .fn = wt_parent_fn };
    tg_scheduler *s = wt_create(1, 1);
    REQUIRE(s);
    tg_token t[100];
    for (int i = 0; i < 100; i++) {
        wt_parent p = { s, i };
        CHECK_RC(tg_submit(s, &parent_op, &p, sizeof p, &t[i]), TG_OK);
    }
    int wrong = 0;
    for (int i = 0; i < 100; i++) {
        tg_value v = { 0 };
        if (tg_wait(s, t[i], TH_LONG_NS, &v) != TG_OK || v.i != 2 * i) wrong++;
        tg_release(s, t[i]);
    }
    CHECK_EQ(wrong, 0);
    wt_finish(s);
}

/* ------------------------------------------------------- nesting depth */

/* Many tasks wait for one dedupe leader: each joins it as a follower and
   waits. Followers never run beneath a wait, so nothing nests. */
typedef struct wt_many { tg_scheduler *s; atomic_int ran, ok; } wt_many;

static int wt_slow_leader(const void *args, tg_value *result)
{
    (void)args;
    tg_blocking_begin();   /* its core serves more followers meanwhile */
    th_sleep_ms(20);
    tg_blocking_end();
    result->i = 42;
    return 0;
}

static const tg_op wt_leader_op = { .name = "slow_leader", .fn = wt_slow_leader, .flags = TG_OP_DEDUPE };

static int wt_follow(const void *args, tg_value *result)
{
    wt_many *m = *(wt_many *const *)args;
    int key = 7;
    tg_token t;
    (void)result;
    atomic_fetch_add(&m->ran, 1);
    if (tg_submit(m->s, &wt_leader_op, &key, sizeof key, &t) != TG_OK) return 1;
    tg_value v = { 0 };
    if (tg_wait(m->s, t, -1, &v) == TG_OK && v.i == 42) atomic_fetch_add(&m->ok, 1);
    tg_release(m->s, t);
    return 0;
}

/* n tasks of follow_op, each joining the dedupe key: every one ran and
   saw the leader's result; the scheduler's stats in *st. */
static void wt_run_followers(unsigned workers, unsigned spares, const tg_op *follow_op, int n,
                             struct tg_stats *st)
{
    memset(st, 0, sizeof *st);
    tg_scheduler *s = wt_create(workers, spares);
    REQUIRE(s);
    wt_many m = { .s = s };
    wt_many *mp = &m;
    for (int i = 0; i < n; i++) CHECK_RC(tg_submit(s, follow_op, &mp, sizeof mp, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&m.ran), n);
    CHECK_EQ(atomic_load(&m.ok), n);
    tg_stats(s, st);
    wt_finish(s);
}

static void wt_many_on_leader(unsigned workers)
{
    static const tg_op follow_op = { .name = "follow", .fn = wt_follow };
    int n = (int)th_env_long("TG_WAITERS", 10000);
    struct tg_stats st;
    wt_run_followers(workers, 0, &follow_op, n, &st);
    CHECK_EQ(st.completed, (uint64_t)n * 2);   /* the tasks, and their leaders or followers */
    CHECK(st.dedupe_joined > 0);
}

TG_TEST(waits_many_on_one_dedupe_leader_1_worker) { wt_many_on_leader(1); }
TG_TEST(waits_many_on_one_dedupe_leader_2_workers) { wt_many_on_leader(2); }

/* The same with tg_wait_any and only 2 spares: every thread soon waits on
   a dedupe token, and the leader one of them submitted sits in a queue.
   A task's wait_any runs a queued member instead of sleeping, so the
   waiter that leads runs its leader (it used to sleep: every core's owner
   asleep, the leader never ran). */
static int wt_follow_any(const void *args, tg_value *result)
{
    wt_many *m = *(wt_many *const *)args;
    int key = 7;
    tg_token t;
    size_t which = 99;
    (void)result;
    atomic_fetch_add(&m->ran, 1);
    if (tg_submit(m->s, &wt_leader_op, &key, sizeof key, &t) != TG_OK) return 1;
    tg_value v = { 0 };
    if (tg_wait_any(m->s, &t, 1, -1, &which) == TG_OK && which == 0 && tg_wait(m->s, t, 0, &v) == TG_OK &&
        v.i == 42)
        atomic_fetch_add(&m->ok, 1);
    tg_release(m->s, t);
    return 0;
}

TG_TEST(waits_any_on_dedupe_tokens_past_the_spare_limit)
{
    static const tg_op follow_op = { .name = "follow_any", .fn = wt_follow_any };
    struct tg_stats st;
    wt_run_followers(2, 2, &follow_op, (int)th_env_long("TG_WAITERS", 10000) / 5, &st);
    CHECK(st.spares_peak <= 2);
}

/* Past the spare limit, a wait on a dedupe follower whose leader is
   queued behind cores whose owners all sleep gets TG_EDEADLK (nothing can
   move), whether the waiting thread kept its core or handed it on; it
   used to hang. The leader, of a paused op, is resumed once both waiters
   sleep; once a wait gave up, it runs. */
typedef struct wt_stuck {
    tg_scheduler *s;
    atomic_int waiting, edeadlk, ok, other;
} wt_stuck;

static int wt_paused_leader_fn(const void *args, tg_value *result)
{
    (void)args;
    result->i = 42;
    return 0;
}

static const tg_op wt_paused_leader = { .name = "paused_leader", .fn = wt_paused_leader_fn,
                                        .flags = TG_OP_DEDUPE };

static int wt_stuck_waiter(const void *args, tg_value *result)
{
    wt_stuck *k = *(wt_stuck *const *)args;
    int key = 3;
    tg_token t;
    (void)result;
    if (tg_submit(k->s, &wt_paused_leader, &key, sizeof key, &t) != TG_OK) return 1;
    atomic_fetch_add(&k->waiting, 1);
    int rc = tg_wait(k->s, t, -1, NULL);
    atomic_fetch_add(rc == TG_EDEADLK ? &k->edeadlk : rc == TG_OK ? &k->ok : &k->other, 1);
    tg_release(k->s, t);
    return 0;
}

TG_TEST(waits_on_a_follower_of_a_stuck_leader_are_edeadlk)
{
    static const tg_op waiter_op = { .name = "stuck_waiter", .fn = wt_stuck_waiter };
    tg_scheduler *s = wt_create(1, 1);
    REQUIRE(s);
    wt_stuck k = { .s = s };
    wt_stuck *kp = &k;
    int key = 3;
    tg_token lead;
    tg_value v;
    int other_key = 4;   /* the op must be known to be paused: one token first */
    CHECK_RC(tg_submit(s, &wt_paused_leader, &other_key, sizeof other_key, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_op_pause(s, "paused_leader"), TG_OK);
    CHECK_RC(tg_submit(s, &wt_paused_leader, &key, sizeof key, &lead), TG_OK);
    for (int i = 0; i < 2; i++) CHECK_RC(tg_submit(s, &waiter_op, &kp, sizeof kp, NULL), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&k.waiting) == 2, 5000));
    th_sleep_ms(20);   /* both asleep in their waits: one coreless, one holding the core */
    CHECK_RC(tg_op_resume(s, "paused_leader"), TG_OK);
    CHECK_RC(tg_wait(s, lead, TH_LONG_NS, &v), TG_OK);
    CHECK_EQ(v.i, 42);
    CHECK_RC(tg_release(s, lead), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    /* the first to see the stall gives up; its thread then runs the leader,
       and the other may still see it end */
    CHECK(atomic_load(&k.edeadlk) >= 1);
    CHECK_EQ(atomic_load(&k.edeadlk) + atomic_load(&k.ok), 2);
    CHECK_EQ(atomic_load(&k.other), 0);
    wt_finish(s);
}

/* Many tasks each wait for a child of a paused op; the op is resumed once
   every core is taken. Each waiter sleeps (its child is on the held list),
   and past the spare limit keeps its core; after the resume the children
   run from the queues or are taken by the waits themselves. */
static int wt_child(const void *args, tg_value *result)
{
    result->i = *(const int *)args + 1;
    return 0;
}

static const tg_op wt_child_op = { .name = "paused_child", .fn = wt_child };

typedef struct wt_pw { tg_scheduler *s; atomic_int *started, *ok; int i; } wt_pw;
static atomic_int wt_pw_bad_rc;

static int wt_paused_waiter(const void *args, tg_value *result)
{
    const wt_pw *a = args;
    tg_token c;
    (void)result;
    atomic_fetch_add(a->started, 1);
    if (tg_submit(a->s, &wt_child_op, &a->i, sizeof a->i, &c) != TG_OK) return 1;
    tg_value v = { 0 };
    int rc = tg_wait(a->s, c, -1, &v);
    if (rc == TG_OK && v.i == a->i + 1) atomic_fetch_add(a->ok, 1);
    else atomic_store(&wt_pw_bad_rc, rc ? rc : 1);
    tg_release(a->s, c);
    return 0;
}

static void wt_many_on_paused(unsigned workers)
{
    static const tg_op waiter_op = { .name = "paused_waiter", .fn = wt_paused_waiter };
    int n = (int)th_env_long("TG_WAITERS", 10000);
    /* room for every waiter: this thread must not block submitting them
       while every worker waits for the pause to end */
    tg_config cfg = { .workers = workers, .no_pin = 1, .mailbox_capacity = 16384 };
    tg_scheduler *s = NULL;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    atomic_int started = 0, ok = 0;
    /* the op must be known to be paused: submit one child first */
    int zero = 0;
    CHECK_RC(tg_submit(s, &wt_child_op, &zero, sizeof zero, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_op_pause(s, "paused_child"), TG_OK);
    for (int i = 0; i < n; i++) {
        wt_pw a = { s, &started, &ok, i };
        CHECK_RC(tg_submit(s, &waiter_op, &a, sizeof a, NULL), TG_OK);
    }
    struct tg_stats st;
    /* every thread there may be is waiting (or all the waiters started) */
    CHECK(TH_WAIT_UNTIL(atomic_load(&started) == n ||
                        (tg_stats(s, &st), st.spares_alive == 256 &&
                         atomic_load(&started) >= (int)(256 + workers)), 60000));
    th_sleep_ms(20);
    CHECK_RC(tg_op_resume(s, "paused_child"), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&started), n);
    CHECK_EQ(atomic_load(&ok), n);
    CHECK_EQ(atomic_load(&wt_pw_bad_rc), 0);
    wt_finish(s);
}

TG_TEST(waits_many_on_paused_children_1_worker) { wt_many_on_paused(1); }
TG_TEST(waits_many_on_paused_children_2_workers) { wt_many_on_paused(2); }

/* A chain of 20,000 tokens each waiting for the one submitted before it,
   all from inside one root on one worker: the waits run them beneath each
   other up to the nesting bound, then hand the core to spares. */
typedef struct wt_link { tg_scheduler *s; tg_token prev; } wt_link;

static int wt_link_fn(const void *args, tg_value *result)
{
    const wt_link *l = args;
    tg_value v = { 0 };
    if (l->prev.bits && tg_wait(l->s, l->prev, -1, &v) != TG_OK) return 1;
    result->i = v.i + 1;
    return 0;
}

static int wt_chain_root(const void *args, tg_value *result)
{
    static const tg_op link_op = { .name = "link", .fn = wt_link_fn };
    tg_scheduler *s = *(tg_scheduler *const *)args;
    int n = (int)th_env_long("TG_CHAIN_LINKS", 20000);
    tg_token *h = calloc((size_t)n, sizeof *h);
    if (!h) return 1;
    for (int i = 0; i < n; i++) {
        wt_link l = { s, i ? h[i - 1] : TG_TOKEN_NONE };
        if (tg_submit(s, &link_op, &l, sizeof l, &h[i]) != TG_OK) return 1;
    }
    tg_value v = { 0 };
    int rc = tg_wait(s, h[n - 1], -1, &v);
    for (int i = 0; i < n; i++) {
        tg_wait(s, h[i], -1, NULL);   /* ended: the last ended after all */
        tg_release(s, h[i]);
    }
    free(h);
    result->i = v.i;
    return rc == TG_OK ? 0 : 1;
}

TG_TEST(waits_long_chain_from_inside_is_bounded)
{
    static const tg_op root_op = { .name = "chain_root", .fn = wt_chain_root };
    tg_scheduler *s = wt_create(1, 0);
    REQUIRE(s);
    tg_token t;
    CHECK_RC(tg_submit(s, &root_op, &s, sizeof s, &t), TG_OK);
    tg_value v = { 0 };
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_OK);
    CHECK_EQ(v.i, th_env_long("TG_CHAIN_LINKS", 20000));
    tg_release(s, t);
    struct tg_stats st;
    tg_stats(s, &st);
    th_note("hand-offs %llu, spares peak %u", (unsigned long long)st.handoffs, st.spares_peak);
    CHECK(st.handoffs > 0);
    wt_finish(s);
}

/* ----------------------------------------------- recursion, tiny limits */

typedef struct wt_fib { tg_scheduler *s; int n; } wt_fib;

static int wt_fib_fn(const void *args, tg_value *result);
static const tg_op wt_fib_op = { .name = "fib_tiny", .fn = wt_fib_fn };

static int wt_fib_fn(const void *args, tg_value *result)
{
    const wt_fib *a = args;
    if (a->n < 2) {
        result->i = a->n;
        return 0;
    }
    tg_token k[2];
    int made = 0, bad = 0;
    for (; made < 2; made++) {
        wt_fib c = { a->s, a->n - 1 - made };
        int rc = tg_submit(a->s, &wt_fib_op, &c, sizeof c, &k[made]);
        if (rc != TG_OK) {
            bad = rc;
            break;
        }
    }
    int64_t sum = 0;
    for (int i = 0; i < made; i++) {
        tg_value v = { 0 };
        if (tg_wait(a->s, k[i], -1, &v) != TG_OK) bad = 1;
        sum += v.i;
        tg_release(a->s, k[i]);
    }
    result->i = sum;
    return bad ? 1 : 0;
}

static void wt_fib_tiny(int policy)
{
    int completed = 0, refused = 0, wrong = 0;
    for (unsigned mt = 2; mt <= 64; mt++) {
        tg_config cfg = { .workers = 2, .no_pin = 1, .max_tokens = mt, .full_policy = policy };
        tg_scheduler *s = NULL;
        REQUIRE(tg_create(&cfg, &s) == TG_OK);
        wt_fib a = { s, 20 };
        tg_token t;
        CHECK_RC(tg_submit(s, &wt_fib_op, &a, sizeof a, &t), TG_OK);
        tg_value v = { 0 };
        int rc = tg_wait(s, t, TH_LONG_NS, &v);
        CHECK(rc == TG_OK || rc == TG_EFAILED);
        if (rc == TG_OK) {
            completed++;
            if (v.i != 6765) wrong++;
        } else if (rc == TG_EFAILED) {
            refused++;
        }
        tg_release(s, t);
        CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
        CHECK_RC(tg_shutdown(s, TG_DRAIN, TH_LONG_NS), TG_OK);
        tg_destroy(s);
    }
    CHECK_EQ(wrong, 0);
    CHECK_EQ(completed + refused, 63);
    th_note("%s: %d of 63 limits completed, %d refused (TG_EDEADLK / TG_EBUSY inside)",
            policy == TG_FULL_BLOCK ? "block" : "reject", completed, refused);
}

TG_TEST(waits_recursion_tiny_max_tokens_block) { wt_fib_tiny(TG_FULL_BLOCK); }
TG_TEST(waits_recursion_tiny_max_tokens_reject) { wt_fib_tiny(TG_FULL_REJECT); }

/* The submit that could never get a slot returns TG_EDEADLK. */
static atomic_int wt_deadlk_seen;

static int wt_hog(const void *args, tg_value *result)
{
    tg_scheduler *s = *(tg_scheduler *const *)args;
    tg_token t;
    (void)result;
    int rc = tg_submit(s, &wt_fib_op, &(wt_fib){ s, 1 }, sizeof(wt_fib), &t);
    if (rc == TG_EDEADLK) atomic_fetch_add(&wt_deadlk_seen, 1);
    if (rc == TG_OK) tg_release(s, t);
    return 0;
}

TG_TEST(waits_submit_that_cannot_progress_is_edeadlk)
{
    static const tg_op hog_op = { .name = "hog", .fn = wt_hog };
    tg_config cfg = { .workers = 1, .no_pin = 1, .max_tokens = 1 };
    tg_scheduler *s = NULL;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    tg_token t;
    CHECK_RC(tg_submit(s, &hog_op, &s, sizeof s, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_EQ(atomic_load(&wt_deadlk_seen), 1);
    tg_release(s, t);
    wt_finish(s);
}

/* ------------------------------------------------------------- cycles */

/* A waits for its child B; B (run beneath A's wait, one worker) waits for
   A, a function on its own thread's stack: TG_EDEADLK, not a hang. */
typedef struct wt_cycle { tg_scheduler *s; tg_token a; atomic_int b_rc; } wt_cycle;

static int wt_cycle_b(const void *args, tg_value *result)
{
    wt_cycle *c = *(wt_cycle *const *)args;
    (void)result;
    atomic_store(&c->b_rc, tg_wait(c->s, c->a, -1, NULL));
    return 0;
}

static int wt_cycle_a(const void *args, tg_value *result)
{
    static const tg_op b_op = { .name = "cycle_b", .fn = wt_cycle_b };
    wt_cycle *c = *(wt_cycle *const *)args;
    tg_token b;
    (void)result;
    c->a = tg_self();
    if (tg_submit(c->s, &b_op, &c, sizeof c, &b) != TG_OK) return 1;
    int rc = tg_wait(c->s, b, -1, NULL);
    tg_release(c->s, b);
    return rc == TG_OK ? 0 : 1;
}

TG_TEST(waits_cycle_through_own_stack_is_edeadlk)
{
    static const tg_op a_op = { .name = "cycle_a", .fn = wt_cycle_a };
    tg_scheduler *s = wt_create(1, 0);
    REQUIRE(s);
    wt_cycle c = { .s = s };
    atomic_init(&c.b_rc, 1);
    wt_cycle *cp = &c;
    tg_token a;
    CHECK_RC(tg_submit(s, &a_op, &cp, sizeof cp, &a), TG_OK);
    CHECK_RC(tg_wait(s, a, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(atomic_load(&c.b_rc), TG_EDEADLK);
    tg_release(s, a);
    wt_finish(s);
}

/* -------------------------------------------------- tiers and blocking */

static atomic_int wt_running, wt_peak;

static void wt_enter(void)
{
    int now = atomic_fetch_add(&wt_running, 1) + 1;
    int peak = atomic_load(&wt_peak);
    while (now > peak && !atomic_compare_exchange_weak(&wt_peak, &peak, now)) {
    }
}

static int wt_slow_io(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    wt_enter();
    th_sleep_ms(10);
    atomic_fetch_sub(&wt_running, 1);
    return 0;
}

static atomic_long wt_cpu_done;

static int wt_cpu(const void *args, tg_value *result)
{
    (void)args;
    wt_spin_ms(1);
    result->i = 1;
    atomic_fetch_add(&wt_cpu_done, 1);
    return 0;
}

/* 100 SLOW tokens that block 10 ms each on 2 workers run 10 at a time,
   never more, while CPU tokens keep running beside them. */
TG_TEST(waits_slow_tier_runs_its_cap_at_once)
{
    static const tg_op io_op = { .name = "slow_io", .fn = wt_slow_io, .io_tier = TG_IO_SLOW };
    static const tg_op cpu_op = { .name = "cpu_1ms", .fn = wt_cpu };
    tg_scheduler *s = wt_create(2, 0);
    REQUIRE(s);
    atomic_store(&wt_running, 0);
    atomic_store(&wt_peak, 0);
    atomic_store(&wt_cpu_done, 0);
    int64_t t0 = th_now_ns();
    for (int i = 0; i < 100; i++) CHECK_RC(tg_submit(s, &io_op, NULL, 0, NULL), TG_OK);
    for (int i = 0; i < 200; i++) CHECK_RC(tg_submit(s, &cpu_op, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    int64_t t1 = th_now_ns();
    CHECK_EQ(atomic_load(&wt_peak), 10);
    CHECK_EQ(atomic_load(&wt_cpu_done), 200);
    struct tg_op_stats os;
    CHECK_RC(tg_op_stats(s, "slow_io", &os), TG_OK);
    CHECK(os.blocked_ns >= 100 * 9 * TH_MS);   /* each slept 10 ms, blocked */
    th_note("100 SLOW tokens of 10 ms and 200 CPU tokens of 1 ms on 2 workers: %.1f ms, tier peak %d",
            (double)(t1 - t0) / 1e6, atomic_load(&wt_peak));
    wt_finish(s);
}

/* Four tokens sleep 50 ms inside tg_blocking_begin/end on one worker:
   they overlap, and other tokens run meanwhile. */
static atomic_llong wt_cpu_inside;

static int wt_sleeper(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    if (tg_blocking_begin() != TG_OK) return 1;
    wt_enter();
    th_sleep_ms(50);
    atomic_fetch_sub(&wt_running, 1);
    return tg_blocking_end() == TG_OK ? 0 : 1;
}

/* Counts itself when it runs while a sleeper sleeps. */
static int wt_short(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    if (atomic_load(&wt_running) > 0) atomic_fetch_add(&wt_cpu_inside, 1);
    return 0;
}

TG_TEST(waits_blocking_section_hands_the_core_on)
{
    static const tg_op sleep_op = { .name = "sleeper", .fn = wt_sleeper };
    static const tg_op short_op = { .name = "short", .fn = wt_short };
    tg_scheduler *s = wt_create(1, 0);
    REQUIRE(s);
    atomic_store(&wt_running, 0);
    atomic_store(&wt_peak, 0);
    atomic_store(&wt_cpu_inside, 0);
    tg_token t[4];
    int64_t t0 = th_now_ns();
    for (int i = 0; i < 4; i++) CHECK_RC(tg_submit(s, &sleep_op, NULL, 0, &t[i]), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&wt_peak) >= 1, 30000));
    for (int i = 0; i < 20; i++) CHECK_RC(tg_submit(s, &short_op, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_wait_all(s, t, 4, TH_LONG_NS), TG_OK);
    int64_t t1 = th_now_ns();
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&wt_peak), 4);
    CHECK(atomic_load(&wt_cpu_inside) > 0);
    for (int i = 0; i < 4; i++) {
        tg_token_info info;
        CHECK_RC(tg_info(s, t[i], &info), TG_OK);
        CHECK(info.blocked_ns >= 45 * TH_MS);
        CHECK(info.blocked_ns <= info.ended_ns - info.started_ns + TH_MS);
        tg_release(s, t[i]);
    }
    th_note("4 sleepers of 50 ms on 1 worker: %.1f ms; %lld short tokens ran during the sleeps",
            (double)(t1 - t0) / 1e6, (long long)atomic_load(&wt_cpu_inside));
    wt_finish(s);
}

TG_TEST(waits_blocking_calls_outside_a_task_do_nothing)
{
    CHECK_RC(tg_blocking_begin(), TG_OK);
    CHECK_RC(tg_blocking_end(), TG_OK);
    CHECK_RC(tg_blocking_end(), TG_OK);
}

static int wt_unbalanced(const void *args, tg_value *result)
{
    (void)args;
    result->i = tg_blocking_end();            /* no begin: TG_EINVAL */
    /* left open: it ends with the function */
    return tg_blocking_begin() == TG_OK ? 0 : 1;
}

TG_TEST(waits_blocking_end_without_begin_is_einval)
{
    static const tg_op op = { .name = "unbalanced", .fn = wt_unbalanced };
    tg_scheduler *s = wt_create(1, 0);
    REQUIRE(s);
    for (int round = 0; round < 3; round++) {
        tg_token t;
        CHECK_RC(tg_submit(s, &op, NULL, 0, &t), TG_OK);
        tg_value v = { 0 };
        CHECK_RC(tg_wait(s, t, TH_LONG_NS, &v), TG_OK);
        CHECK_EQ(v.i, TG_EINVAL);
        tg_release(s, t);
    }
    wt_finish(s);
}

/* After all of the above kinds of blocking, an idle scheduler uses no CPU. */
static int64_t wt_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * TH_SEC + ts.tv_nsec;
}

TG_TEST(waits_idle_after_blocking_uses_no_cpu)
{
    static const tg_op io_op = { .name = "slow_io", .fn = wt_slow_io, .io_tier = TG_IO_SLOW };
    static const tg_op sleep_op = { .name = "sleeper", .fn = wt_sleeper };
    tg_scheduler *s = wt_create(2, 0);
    REQUIRE(s);
    atomic_store(&wt_running, 0);
    for (int i = 0; i < 30; i++) CHECK_RC(tg_submit(s, &io_op, NULL, 0, NULL), TG_OK);
    for (int i = 0; i < 4; i++) CHECK_RC(tg_submit(s, &sleep_op, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    th_sleep_ms(100);   /* the idle spins end */
    struct tg_stats st;
    tg_stats(s, &st);
    CHECK(st.spares_alive > 0);
    CHECK_EQ(st.spares_running, 0);
    CHECK_EQ(st.live, 0);
    CHECK_EQ(st.tier_running[TG_IO_SLOW], 0);
    int64_t c0 = wt_cpu_ns();
    th_sleep_ms(300);
    int64_t used = wt_cpu_ns() - c0;
    th_note("CPU used by an idle scheduler with %u spares in 300 ms: %.2f ms", st.spares_alive, (double)used / 1e6);
    CHECK(used < 10 * TH_MS);
    wt_finish(s);
}

/* ------------------------------------------- timed waits, waits for any */

/* A submits child B and waits for it with a timeout; B waits for X, X
   (on another thread) waits for A. The only cycle runs through A's timed
   edge: A gets TG_ETIMEDOUT at its timeout, returns, and X and B end. A
   wait that ran B beneath itself could never return (B waits X waits A).
   any: A waits instead for either B or C, a token that ends by itself
   after 100 ms. */
static tg_token wt_ta, wt_tb, wt_tx, wt_tc;
static atomic_int wt_a_waiting, wt_x_waiting, wt_any_mode;
static atomic_int wt_a_rc, wt_b_rc, wt_x_rc;

static int wt_x_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_blocking_begin();   /* the core goes on to A meanwhile (1 worker) */
    while (!atomic_load(&wt_a_waiting)) th_sleep_us(50);
    tg_blocking_end();
    atomic_store(&wt_x_waiting, 1);
    atomic_store(&wt_x_rc, tg_wait(tg_current_scheduler(), wt_ta, -1, NULL));
    result->i = 0;
    return 0;
}

static int wt_b_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_blocking_begin();
    while (!atomic_load(&wt_x_waiting)) th_sleep_us(50);
    tg_blocking_end();
    atomic_store(&wt_b_rc, tg_wait(tg_current_scheduler(), wt_tx, -1, NULL));
    result->i = 0;
    return 0;
}

static int wt_c_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_blocking_begin();
    th_sleep_ms(100);
    tg_blocking_end();
    result->i = 0;
    return 0;
}

static const tg_op wt_x_op = { .name = "wt_x", .fn = wt_x_fn };
static const tg_op wt_b_op = { .name = "wt_b", .fn = wt_b_fn };
static const tg_op wt_c_op = { .name = "wt_c", .fn = wt_c_fn };

static int wt_a_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_scheduler *s = tg_current_scheduler();
    if (tg_submit(s, &wt_b_op, NULL, 0, &wt_tb) != TG_OK) return 1;
    atomic_store(&wt_a_waiting, 1);
    if (atomic_load(&wt_any_mode)) {
        tg_token set[2] = { wt_tb, wt_tc };
        size_t which = 9;
        atomic_store(&wt_a_rc, tg_wait_any(s, set, 2, -1, &which));
        if (which != 1) atomic_store(&wt_a_rc, 100);
    } else {
        atomic_store(&wt_a_rc, tg_wait(s, wt_tb, 100 * TH_MS, NULL));
    }
    result->i = 0;
    return 0;
}

static const tg_op wt_a_op = { .name = "wt_a", .fn = wt_a_fn, .weight = TG_HEAVY };

static void wt_timed_cycle(unsigned workers, int any)
{
    tg_scheduler *s = wt_create(workers, 16);
    REQUIRE(s);
    atomic_store(&wt_a_waiting, 0);
    atomic_store(&wt_x_waiting, 0);
    atomic_store(&wt_any_mode, any);
    atomic_store(&wt_a_rc, 99);
    atomic_store(&wt_b_rc, 99);
    atomic_store(&wt_x_rc, 99);
    if (any) REQUIRE(tg_submit(s, &wt_c_op, NULL, 0, &wt_tc) == TG_OK);
    REQUIRE(tg_submit(s, &wt_x_op, NULL, 0, &wt_tx) == TG_OK);
    REQUIRE(tg_submit(s, &wt_a_op, NULL, 0, &wt_ta) == TG_OK);
    CHECK_RC(tg_wait(s, wt_ta, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(s, wt_tx, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(s, wt_tb, TH_LONG_NS, NULL), TG_OK);
    CHECK_EQ(atomic_load(&wt_a_rc), any ? TG_OK : TG_ETIMEDOUT);
    CHECK_EQ(atomic_load(&wt_x_rc), TG_OK);
    CHECK_EQ(atomic_load(&wt_b_rc), TG_OK);
    tg_release(s, wt_ta);
    tg_release(s, wt_tb);
    tg_release(s, wt_tx);
    if (any) tg_release(s, wt_tc);
    wt_finish(s);
}

TG_TEST(waits_timed_wait_in_a_cycle_times_out_1_worker) { wt_timed_cycle(1, 0); }
TG_TEST(waits_timed_wait_in_a_cycle_times_out_2_workers) { wt_timed_cycle(2, 0); }
TG_TEST(waits_any_whose_other_member_ends_returns_1_worker) { wt_timed_cycle(1, 1); }
TG_TEST(waits_any_whose_other_member_ends_returns_2_workers) { wt_timed_cycle(2, 1); }

/* A timed wait on a queued child of its own core returns at its timeout,
   not after the child's run. */
static int wt_long_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_blocking_begin();
    th_sleep_ms(400);
    tg_blocking_end();
    result->i = 0;
    return 0;
}

static const tg_op wt_long_op = { .name = "wt_long", .fn = wt_long_fn };

static int wt_timed_parent_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_scheduler *s = tg_current_scheduler();
    tg_token child;
    if (tg_submit(s, &wt_long_op, NULL, 0, &child) != TG_OK) return 1;
    int64_t t0 = th_now_ns();
    int rc = tg_wait(s, child, 30 * TH_MS, NULL);
    int64_t took = th_now_ns() - t0;
    int rc2 = tg_wait_release(s, child, -1, NULL);
    result->i = rc == TG_ETIMEDOUT && took < 300 * TH_MS && rc2 == TG_OK;
    return 0;
}

TG_TEST(waits_timed_wait_returns_at_its_timeout)
{
    static const tg_op op = { .name = "wt_timed_parent", .fn = wt_timed_parent_fn };
    for (unsigned workers = 1; workers <= 2; workers++) {
        tg_scheduler *s = wt_create(workers, 16);
        REQUIRE(s);
        for (int i = 0; i < 3; i++) {
            tg_token t;
            REQUIRE(tg_submit(s, &op, NULL, 0, &t) == TG_OK);
            tg_value v;
            CHECK_RC(tg_wait_release(s, t, TH_LONG_NS, &v), TG_OK);
            CHECK_EQ(v.i, 1);
        }
        wt_finish(s);
    }
}

/* Tokens of a tier that wait for tokens of the same tier, more of them
   than its cap: the children are set aside at the cap while every
   running token of the tier waits. No hang: TG_EDEADLK for such waits
   (the documented stall), and everything ends. */
static int wt_tier_leaf_fn(const void *args, tg_value *result)
{
    (void)args;
    result->i = 5;
    return 0;
}

static const tg_op wt_tier_leaf_op = { .name = "wt_tier_leaf", .fn = wt_tier_leaf_fn, .io_tier = TG_IO_SLOW };
static atomic_int wt_tier_deadlk, wt_tier_ok;

static int wt_tier_top_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_scheduler *s = tg_current_scheduler();
    tg_token t;
    if (tg_submit(s, &wt_tier_leaf_op, NULL, 0, &t) != TG_OK) return 1;
    tg_value v;
    int rc = tg_wait(s, t, -1, &v);
    if (rc == TG_EDEADLK) atomic_fetch_add(&wt_tier_deadlk, 1);
    else if (rc == TG_OK && v.i == 5) atomic_fetch_add(&wt_tier_ok, 1);
    if (rc != TG_OK) tg_kill(s, t);
    tg_release(s, t);
    result->i = 0;
    return 0;
}

static const tg_op wt_tier_top_op = { .name = "wt_tier_top", .fn = wt_tier_top_fn, .io_tier = TG_IO_SLOW };

TG_TEST(waits_tier_tokens_waiting_on_their_tier_do_not_hang)
{
    for (unsigned workers = 1; workers <= 2; workers++) {
        tg_config cfg = { .workers = workers, .no_pin = 1, .tier_caps = { 0, 2, 2, 2, 2 } };
        tg_scheduler *s = NULL;
        REQUIRE(tg_create(&cfg, &s) == TG_OK);
        atomic_store(&wt_tier_deadlk, 0);
        atomic_store(&wt_tier_ok, 0);
        tg_token t[4];
        for (int i = 0; i < 4; i++) REQUIRE(tg_submit(s, &wt_tier_top_op, NULL, 0, &t[i]) == TG_OK);
        CHECK_RC(tg_gather_release(s, t, 4, TH_LONG_NS, NULL, NULL), TG_OK);
        CHECK_EQ(atomic_load(&wt_tier_deadlk) + atomic_load(&wt_tier_ok), 4);
        CHECK(atomic_load(&wt_tier_deadlk) >= 1);   /* with the cap full, some wait had to give up */
        wt_finish(s);
    }
}
