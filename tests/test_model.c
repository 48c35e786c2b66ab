/* test_model.c - a black-box, model-based stress test of the public API.

   Written only against README.md, shared/API.md and the declarations of
   tokengate.h (never its implementation). Several threads (2-4) issue random
   sequences of every public call against one scheduler, with random configs
   per round, and check each answer against a model of what the documents
   promise; the test thread checks the totals after joining them.

   Environment:
     TG_MODEL_SEED    the seed (decimal); default: derived from the time. The
                      seed is printed at the start of each test; the same seed
                      gives every thread the same sequence of calls (the
                      interleaving between the threads may differ).
     TG_MODEL_STEPS   calls per round, shared by the threads (default 10000;
                      above 100000 the steps run as more rounds of 100000)
     TG_MODEL_ROUNDS  rounds per test (default 6)
     TG_MODEL_BUDGET  seconds a round may take before the watchdog fails the
                      test (default 60, plus 60 per 100000 steps)
     TG_MODEL_VERBOSE 1: print the checks made per kind and the terminal
                      states seen, per round
     TG_MODEL_TRACE   a path prefix: each thread writes its planned calls to
                      PREFIX.RUN.rROUND.tTHREAD (to compare two replays)

   Threads other than the test thread never call CHECK: every model check
   goes through mck(), which counts passes and failures per kind of
   invariant in atomics and keeps the first messages of each kind; the test
   thread reports them with one CHECK_EQ per kind and round. */
#include "harness.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <unistd.h>

/* ------------------------------------------------------------ parameters */

#define M_MAX_THREADS 4
#define M_NSLOT 12          /* handles a model thread holds at once */
#define M_STALE_RING 16     /* released handles it remembers */
#define M_MAX_OPP 3         /* op pauses a thread holds at once */
#define M_BURST 48          /* tokens submitted just before the shutdown */
#define M_BADLOG 1024
#define M_COMPLOG 1024
#define M_MAGIC 0x4d4f444cu
#define M_STAMP_SLACK_NS (50 * 1000)   /* stamps vs our CLOCK_MONOTONIC reads */
#define M_WAIT_LATE_NS (2 * TH_SEC)    /* a bounded wait may overrun this much */
#define M_DEFAULT_STEPS 10000
#define M_DEFAULT_ROUNDS 6
#define M_MAX_ROUND_STEPS 100000   /* more steps run as more rounds */

/* ------------------------------------------------------------ check kinds */

#define M_KINDS(X)                                                             \
    X(K_RC, "a return code outside the documented set for the call")          \
    X(K_HELD, "a valid, unreleased handle was refused")                       \
    X(K_STALE, "a released handle did not give TG_ESTALE")                    \
    X(K_BAD, "a forged or foreign handle was accepted or gave an undocumented code") \
    X(K_OUT, "*out of tg_submit wrong (not TG_TOKEN_NONE on error, NONE on success)") \
    X(K_ONCE, "a token showed a second terminal state or went live again")    \
    X(K_MONO, "a token's live state moved backwards")                         \
    X(K_RETURNED, "terminal state observed while the function had not returned") \
    X(K_OUTCOME, "terminal state or number of runs differs from what op and args imply") \
    X(K_RESULT, "a COMPLETED result differs from what the function computed") \
    X(K_KILLED, "a token nobody killed ended KILLED")                          \
    X(K_DEADLINE, "TIMEOUT before the deadline, or for an op without one")    \
    X(K_NOTRUN, "a function ran that must not (rejected, killed before start, after its end)") \
    X(K_STOP, "tg_should_stop() was nonzero for a token that then ended normally") \
    X(K_INFO, "tg_info fields (op, weight, core, retries, failure_code, seed)") \
    X(K_STAMPS, "tg_info stamps out of order, against the clock, or changed after the end") \
    X(K_WAIT, "wait semantics (ETIMEDOUT for an ended token, early/late return, wait_all/any)") \
    X(K_CONTROL, "control call code (OK / TG_ENOOP / TG_ESHUTDOWN / TG_EINVAL)") \
    X(K_STATS, "tg_stats snapshot inconsistent (monotonic counters, limits, workers, cpu)") \
    X(K_LIMIT, "more tokens at once than max_tokens, or more running than max_live") \
    X(K_IDLE, "totals at idle or after shutdown disagree with the model")     \
    X(K_OPSTATS, "tg_op_stats / tg_op_names inconsistent")                    \
    X(K_NAMEPTR, "tg_op_names did not return the registry's own copies of the names")     \
    X(K_JSON, "tg_stats_json size query, length or shape")                   \
    X(K_COMPL, "tg_completions reported a wrong, duplicate or missing handle") \
    X(K_SHUTDOWN, "tg_shutdown / tg_destroy contract")                         \
    X(K_BODY, "inside a task: tg_self, tg_current_core, argument copy; outside: defaults") \
    X(K_FOREIGN, "the second scheduler was disturbed by calls made on ours")

enum {
#define M__KENUM(name, text) name,
    M_KINDS(M__KENUM)
#undef M__KENUM
    K_N
};

static const char *const m_kind_name[K_N] = {
#define M__KNAME(name, text) #name,
    M_KINDS(M__KNAME)
#undef M__KNAME
};
static const char *const m_kind_text[K_N] = {
#define M__KTEXT(name, text) text,
    M_KINDS(M__KTEXT)
#undef M__KTEXT
};

/* ------------------------------------------------------------- operations */

typedef struct mround mround;

/* The argument bytes of every model token (copied by tg_submit). */
typedef struct margs {
    uint32_t magic, id, op, spin_ns;
    int32_t code;    /* the non-zero code a failing run returns */
    uint32_t nfail;  /* runs 0..nfail-1 fail, later ones succeed */
    int64_t x;
    mround *R;
} margs;

static int m_body(const void *args, tg_value *result);

enum { OP_PLAIN, OP_LIGHT, OP_FAIL, OP_RETRY, OP_DEADLINE, OP_LIMITED,
       OP_STOP, OP_NOTIFY, OP_NOTIFY_DL, M_NOPS };

static const tg_op m_ops[M_NOPS] = {
    [OP_PLAIN] = { .name = "m_plain", .fn = m_body },
    [OP_LIGHT] = { .name = "m_light", .fn = m_body, .weight = TG_LIGHT },
    [OP_FAIL] = { .name = "m_fail", .fn = m_body, .weight = TG_HEAVY },
    [OP_RETRY] = { .name = "m_retry", .fn = m_body, .max_retries = 2 },
    [OP_DEADLINE] = { .name = "m_deadline", .fn = m_body,
                      .timeout_ns = 200 * 1000 },
    [OP_LIMITED] = { .name = "m_limited", .fn = m_body, .max_live = 2 },
    [OP_STOP] = { .name = "m_stop", .fn = m_body, .weight = TG_HEAVY },
    [OP_NOTIFY] = { .name = "m_notify", .fn = m_body, .flags = TG_OP_NOTIFY },
    [OP_NOTIFY_DL] = { .name = "m_notify_dl", .fn = m_body,
                       .flags = TG_OP_NOTIFY, .timeout_ns = TH_MS,
                       .max_live = 3, .max_retries = 1 },
};
/* Bodies of these poll tg_should_stop() while they spin. */
static const int m_stoppable[M_NOPS] = {
    [OP_DEADLINE] = 1, [OP_STOP] = 1, [OP_NOTIFY_DL] = 1 };

/* Never submitted: control calls with it must give TG_ENOOP. */
static const char m_never_name[] = "m_never";

/* Invalid ops: tg_submit must refuse them with TG_EINVAL. */
static const tg_op m_bad_ops[] = {
    { .name = NULL, .fn = m_body },
    { .name = "m_bad_nofn", .fn = NULL },
    { .name = "m_bad_weight", .fn = m_body, .weight = (tg_weight)7 },
    { .name = "m_bad_retries", .fn = m_body, .max_retries = -1 },
    { .name = "m_bad_timeout", .fn = m_body, .timeout_ns = -5 },
    { .name = "m_bad_tier", .fn = m_body, .io_tier = 9 },
};
#define M_NBADOPS ((int)(sizeof m_bad_ops / sizeof m_bad_ops[0]))

/* The op of the second ("foreign") scheduler. */
static int f_body(const void *args, tg_value *result)
{
    (void)args;
    result->i = 42;
    return 0;
}
static const tg_op f_op = { .name = "f_only", .fn = f_body };

static atomic_int m_bad_args;   /* bodies that found their arguments corrupt */
static unsigned char m_big_args[70000];

/* ------------------------------------------------------------ model state */

/* What a body records per token id (shared with the workers). */
typedef struct mrec {
    atomic_int started, returned, last_ret, stop_seen, core, bad;
    atomic_ullong self_bits;
} mrec;

/* The model of one token. Written by its owner thread (or by the test
   thread after joining it); other threads read only op and args, after
   finding the id in the handle map, whose mutex orders them. */
typedef struct mtok {
    int used, owner, op, held, rejected, detached;
    margs a;
    uint64_t bits;
    int64_t t0, t1;          /* CLOCK_MONOTONIC before and after tg_submit */
    unsigned ctl0;           /* drains/kills of its op finished before submit */
    int sd_at_submit;        /* a shutdown had begun when tg_submit returned */
    int killed, released, held_at_end;
    int term, tstate, tstarted, tret_ok, texposed, tsd;
    int last_live;
    int have_prev, have_iterm;
    int64_t prev[5], iterm[5];
    atomic_int ncompl;
} mtok;

enum { SL_EMPTY, SL_HELD, SL_STALE };
typedef struct mslot { int st, id; uint64_t bits; } mslot;

typedef struct mbad { uint64_t bits; int call, rc, kind; long step; } mbad;
typedef struct mcompl { uint64_t bits; int rc, st; long step; } mcompl;

typedef struct mthread {
    mround *R;
    int idx;
    pthread_t th;
    uint64_t rng;
    long nsteps, step;
    int id_next, id_end;
    mslot slot[M_NSLOT];
    uint64_t stale[M_STALE_RING];
    int nstale;
    int gpause;
    long gpause_until;
    int opp_op[M_MAX_OPP];
    long opp_until[M_MAX_OPP];
    int nopp;
    uint64_t callhash;
    FILE *trace;   /* TG_MODEL_TRACE=prefix: one line per planned call */
    int fd;
    int have_last;
    struct tg_stats last, cur;
    mbad bad[M_BADLOG];
    int nbad;
    long bad_overflow;
    mcompl cu[M_COMPLOG];
    int ncu;
    long cu_overflow;
    int burst[M_BURST];
    int nburst;
    atomic_long cur_step;
    atomic_int cur_act;
} mthread;

struct mround {
    uint64_t seed;
    int round;
    const char *test;
    tg_config cfg;
    unsigned workers;
    int nthreads;
    long steps;
    int concurrent_sd, sd_mode;
    int warm;             /* every op submitted once before the threads start */
    int64_t sd_timeout;
    int unbounded_submit_ok;
    int nslot;            /* slots a thread uses: fewer when max_tokens is tiny */
    tg_scheduler *s, *fs;
    int nrec, per_thread;
    mrec *rec;
    mtok *tok;
    int64_t *payload;     /* plain memory written before submit, read by bodies */
    int64_t *plain_out;   /* plain memory written by bodies, read by waiters */
    atomic_uint ctl_started[M_NOPS], ctl_done[M_NOPS];
    atomic_int op_submitted[M_NOPS];
    atomic_ullong ret0[M_NOPS], retnz[M_NOPS];
    atomic_long n_ok;
    atomic_long held_now;        /* handles held: +1 after submit, -1 before release */
    atomic_int lim_running, lim_max;  /* m_limited functions running at once */
    atomic_int sd_started, sd_returned;
    int sd_rc;
    pthread_mutex_t map_lock;
    uint64_t *map_bits;
    int *map_id;
    size_t map_cap;
    uint64_t f_live[8], f_stale[8], d_bits[8], f_issued[16];
    int nf_live, nf_stale, nd, nf_issued;
    atomic_ullong kpass[K_N], kfail[K_N];
    pthread_mutex_t msg_lock;
    char msg[K_N][3][320];
    int nmsg[K_N];
    mthread *thr[M_MAX_THREADS + 1];   /* [nthreads]: the test thread's */
    atomic_int done, phase;
    int64_t budget_ns;
    long collisions;
};

static _Thread_local int tl_thr = -1;
static _Thread_local long tl_step = -1;

/* ------------------------------------------------------------------ utils */

static uint64_t m_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static tg_token m_tk(uint64_t bits)
{
    tg_token t;
    t.bits = bits;
    return t;
}

static const char *m_rcname(int rc)
{
    switch (rc) {
#define M__RCNAME(name, value, message) case value: return #name;
    TG_ERROR_LIST(M__RCNAME)
#undef M__RCNAME
    default: return "(not a TG code)";
    }
}

static const char *m_stname(int st)
{
    return (st >= TG_CREATED && st <= TG_TIMEOUT) ? tg_state_name((tg_state)st)
                                                  : "(bad state)";
}

#define MS(code) (1u << (unsigned)(-(code)))
static int m_in(int rc, unsigned mask)
{
    if (rc > 0 || rc < -31) return 0;
    return (MS(rc) & mask) != 0;
}

__attribute__((format(printf, 4, 5)))
static int mck(mround *R, int kind, int ok, const char *fmt, ...)
{
    if (ok) {
        atomic_fetch_add_explicit(&R->kpass[kind], 1, memory_order_relaxed);
        return 1;
    }
    atomic_fetch_add(&R->kfail[kind], 1);
    pthread_mutex_lock(&R->msg_lock);
    if (R->nmsg[kind] < 3) {
        char *m = R->msg[kind][R->nmsg[kind]++];
        int n = snprintf(m, sizeof R->msg[0][0], "thread %d step %ld: ", tl_thr,
                         tl_step);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m + n, sizeof R->msg[0][0] - (size_t)n, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&R->msg_lock);
    return 0;
}

static void m_hash(mthread *T, uint64_t a, uint64_t b)
{
    if (T->trace) fprintf(T->trace, "%ld %llu %llu\n", T->step,
                          (unsigned long long)a, (unsigned long long)b);
    T->callhash = (T->callhash ^ (a * 0x100000001B3ull + b)) * 0x100000001B3ull;
    T->callhash ^= T->callhash >> 29;
}

/* handle bits -> token id, for handles our scheduler gave out */
static void m_map_put(mround *R, uint64_t bits, int id)
{
    pthread_mutex_lock(&R->map_lock);
    size_t i = (size_t)(m_mix(bits) & (R->map_cap - 1));
    while (R->map_bits[i] != 0 && R->map_bits[i] != bits)
        i = (i + 1) & (R->map_cap - 1);
    R->map_bits[i] = bits;
    R->map_id[i] = id;
    pthread_mutex_unlock(&R->map_lock);
}

static int m_map_get(mround *R, uint64_t bits)
{
    int id = -1;
    if (bits == 0) return -1;
    pthread_mutex_lock(&R->map_lock);
    size_t i = (size_t)(m_mix(bits) & (R->map_cap - 1));
    while (R->map_bits[i] != 0) {
        if (R->map_bits[i] == bits) {
            id = R->map_id[i];
            break;
        }
        i = (i + 1) & (R->map_cap - 1);
    }
    pthread_mutex_unlock(&R->map_lock);
    return id;
}

/* ------------------------------------------------------------------- body */

static int m_body(const void *args, tg_value *result)
{
    margs a;
    memcpy(&a, args, sizeof a);
    if (a.magic != M_MAGIC || !a.R || a.op >= M_NOPS ||
        a.id >= (uint32_t)a.R->nrec) {
        atomic_fetch_add(&m_bad_args, 1);
        result->i = 0;
        return 77;
    }
    mround *R = a.R;
    mrec *r = &R->rec[a.id];
    int run = atomic_fetch_add_explicit(&r->started, 1, memory_order_relaxed);
    tg_token self = tg_self();
    int core = tg_current_core();
    atomic_store_explicit(&r->self_bits, self.bits, memory_order_relaxed);
    atomic_store_explicit(&r->core, core, memory_order_relaxed);
    if (self.bits == 0 || core < 0 || core >= (int)R->workers)
        atomic_fetch_add_explicit(&r->bad, 1, memory_order_relaxed);
    if (a.op == OP_LIMITED) {
        int n = atomic_fetch_add(&R->lim_running, 1) + 1;
        int m = atomic_load(&R->lim_max);
        while (n > m && !atomic_compare_exchange_weak(&R->lim_max, &m, n)) { }
    }
    int stoppable = m_stoppable[a.op];
    int stop = 0;
    if (a.spin_ns) {
        int64_t end = th_now_ns() + a.spin_ns;
        while (th_now_ns() < end)
            if (stoppable && tg_should_stop()) {
                stop = 1;
                break;
            }
    }
    if (stoppable && !stop && tg_should_stop()) stop = 1;
    int64_t v = a.x * 1000003 + (int64_t)a.id * 7 + R->payload[a.id];
    int ret = (uint32_t)run < a.nfail ? a.code : 0;
    result->i = v;
    R->plain_out[a.id] = v;
    if (stop) atomic_store_explicit(&r->stop_seen, 1, memory_order_relaxed);
    atomic_store_explicit(&r->last_ret, ret, memory_order_relaxed);
    if (a.op == OP_LIMITED) atomic_fetch_sub(&R->lim_running, 1);
    atomic_fetch_add_explicit(ret ? &R->retnz[a.op] : &R->ret0[a.op], 1,
                              memory_order_relaxed);
    /* last: a waiter that sees the token end reads this with acquire */
    atomic_fetch_add_explicit(&r->returned, 1, memory_order_release);
    return ret;
}

/* What the op and the arguments imply when nobody interferes. */
static int m_natural(const margs *a)
{
    return a->nfail <= (uint32_t)m_ops[a->op].max_retries ? TG_COMPLETED
                                                           : TG_FAILED;
}

static int m_runs(const margs *a)
{
    uint32_t mr = (uint32_t)m_ops[a->op].max_retries;
    return (int)(a->nfail <= mr ? a->nfail : mr) + 1;
}

static int64_t m_expect(mround *R, const margs *a)
{
    return a->x * 1000003 + (int64_t)a->id * 7 + R->payload[a->id];
}

static void m_make_args(mround *R, int id, int op, uint64_t r1, uint64_t r2,
                        int burst, margs *a)
{
    memset(a, 0, sizeof *a);
    a->magic = M_MAGIC;
    a->id = (uint32_t)id;
    a->op = (uint32_t)op;
    a->R = R;
    a->x = (int32_t)(uint32_t)r1;
    uint32_t sp = (uint32_t)((r2 >> 40) & 0xFFFFFF);
    if ((r2 >> 16) & 1)
        a->spin_ns = 0;
    else if (op == OP_STOP)
        a->spin_ns = sp % (burst ? 2000001u : 300001u);
    else if (op == OP_DEADLINE)   /* some run past their 200 us deadline */
        a->spin_ns = sp % 400001u;
    else
        a->spin_ns = sp % 50001u;
    a->code = 1 + (int32_t)((r2 >> 20) % 100);
    switch (op) {
    case OP_FAIL: a->nfail = 1u << 30; break;
    case OP_RETRY: a->nfail = (uint32_t)((r2 >> 28) % 5); break;
    case OP_NOTIFY:
    case OP_NOTIFY_DL:
        a->nfail = ((r2 >> 28) % 4 == 0) ? 1 + (uint32_t)((r2 >> 32) % 3) : 0;
        break;
    default: a->nfail = 0; break;
    }
}

/* ------------------------------------------------------- the model checks */

static int m_rc_state(int rc)
{
    switch (rc) {
    case TG_OK: return TG_COMPLETED;
    case TG_EFAILED: return TG_FAILED;
    case TG_EKILLED: return TG_KILLED;
    case TG_EDEADLINE: return TG_TIMEOUT;
    default: return -1;
    }
}

/* The first time the model sees token id terminal. */
static void m_first_terminal(mthread *T, int id, int st, const char *via,
                             const tg_value *v)
{
    mround *R = T->R;
    mtok *t = &R->tok[id];
    mrec *rc = &R->rec[id];
    int ret = atomic_load_explicit(&rc->returned, memory_order_acquire);
    int sta = atomic_load_explicit(&rc->started, memory_order_relaxed);
    int64_t now = th_now_ns();
    const tg_op *op = &m_ops[t->op];
    t->term = 1;
    t->tstate = st;
    t->tstarted = sta;
    t->tret_ok = (ret == sta);
    t->texposed = t->killed ||
                  atomic_load(&R->ctl_started[t->op]) > t->ctl0;
    t->tsd = atomic_load(&R->sd_started);
    int nat = m_natural(&t->a);
    switch (st) {
    case TG_COMPLETED:
    case TG_FAILED:
        mck(R, K_OUTCOME, st == nat,
            "token %d (%s, nfail %u, max_retries %d): %s saw %s, expected %s",
            id, op->name, t->a.nfail, op->max_retries, via, m_stname(st),
            m_stname(nat));
        if (t->tret_ok)
            mck(R, K_OUTCOME, sta == m_runs(&t->a),
                "token %d (%s, nfail %u): ended %s after %d runs, expected %d",
                id, op->name, t->a.nfail, m_stname(st), sta, m_runs(&t->a));
        if (st == TG_COMPLETED && t->tret_ok && sta > 0) {
            int64_t e = m_expect(R, &t->a);
            if (v)
                mck(R, K_RESULT, v->i == e,
                    "token %d (%s): tg_wait result %lld, function computed %lld",
                    id, op->name, (long long)v->i, (long long)e);
            mck(R, K_RESULT, R->plain_out[id] == e,
                "token %d (%s): function's own write %lld, expected %lld", id,
                op->name, (long long)R->plain_out[id], (long long)e);
        }
        if (t->tret_ok)
            mck(R, K_STOP, !atomic_load_explicit(&rc->stop_seen,
                                                 memory_order_relaxed),
                "token %d (%s) saw tg_should_stop() nonzero yet ended %s", id,
                op->name, m_stname(st));
        break;
    case TG_KILLED:
        if (!t->tsd)
            mck(R, K_KILLED, t->texposed,
                "token %d (%s) ended KILLED (seen by %s) but nobody killed it: "
                "no tg_kill, no drain/kill of its op, no shutdown", id,
                op->name, via);
        break;
    case TG_TIMEOUT:
        mck(R, K_DEADLINE, op->timeout_ns > 0,
            "token %d (%s, no timeout_ns) ended TIMEOUT", id, op->name);
        if (op->timeout_ns > 0)
            mck(R, K_DEADLINE, now - t->t0 >= op->timeout_ns,
                "token %d (%s) seen TIMEOUT %lld ns after tg_submit began, its "
                "timeout_ns is %lld", id, op->name, (long long)(now - t->t0),
                (long long)op->timeout_ns);
        break;
    default: break;
    }
    /* the memory-ordering contract: the function returned before anyone
       sees the end (TIMEOUT excepted; a shutdown is judged at the end) */
    if (st != TG_TIMEOUT && !t->tsd)
        mck(R, K_RETURNED, ret == sta,
            "token %d (%s): %s saw %s while its function had started %d times "
            "and returned %d times", id, op->name, via, m_stname(st), sta, ret);
    if (t->held && t->tret_ok && sta > 0) {
        uint64_t sb = atomic_load_explicit(&rc->self_bits, memory_order_relaxed);
        mck(R, K_BODY, sb == t->bits,
            "token %d: tg_self() inside its function gave %016" PRIx64
            ", its handle is %016" PRIx64, id, sb, t->bits);
    }
}

/* Any observation of a state of token id held by T. */
static void m_observe(mthread *T, int id, int st, const char *via,
                      const tg_value *v)
{
    mround *R = T->R;
    mtok *t = &R->tok[id];
    if (!mck(R, K_RC, st >= TG_CREATED && st <= TG_TIMEOUT,
             "token %d: %s gave state %d", id, via, st))
        return;
    if (t->term) {
        mck(R, K_ONCE, st == t->tstate,
            "token %d (%s): %s shows %s after it was seen %s", id,
            m_ops[t->op].name, via, m_stname(st), m_stname(t->tstate));
        return;
    }
    if (!th_is_terminal((tg_state)st)) {
        if (m_ops[t->op].max_retries == 0)
            mck(R, K_MONO, st >= t->last_live,
                "token %d (%s): %s shows %s after %s", id, m_ops[t->op].name,
                via, m_stname(st), m_stname(t->last_live));
        if (st > t->last_live) t->last_live = st;
        return;
    }
    m_first_terminal(T, id, st, via, v);
}

static void m_check_info(mthread *T, int id, const tg_token_info *in,
                         int64_t t_after)
{
    mround *R = T->R;
    mtok *t = &R->tok[id];
    const tg_op *op = &m_ops[t->op];
    int st = (int)in->state;
    int term = (st >= TG_COMPLETED && st <= TG_TIMEOUT);
    int64_t s[5] = { in->created_ns, in->waiting_ns, in->admitted_ns,
                     in->started_ns, in->ended_ns };
    static const char *const sn[5] = { "created", "waiting", "admitted",
                                       "started", "ended" };

    mck(R, K_INFO, in->op && strcmp(in->op, op->name) == 0,
        "token %d: tg_info op \"%s\", expected \"%s\"", id,
        in->op ? in->op : "(null)", op->name);
    mck(R, K_INFO, in->weight == op->weight,
        "token %d (%s): tg_info weight %d, op's %d", id, op->name,
        (int)in->weight, (int)op->weight);
    mck(R, K_INFO, in->core >= -1 && in->core < (int)R->workers,
        "token %d: tg_info core %d with %u workers", id, in->core, R->workers);
    mck(R, K_INFO, in->retries >= 0 && in->retries <= op->max_retries,
        "token %d (%s): tg_info retries %d, max_retries %d", id, op->name,
        in->retries, op->max_retries);
    mck(R, K_INFO, in->seed[0] == '\0',
        "token %d: seed \"%.16s...\" outside any domain", id, in->seed);

    mck(R, K_STAMPS, s[0] != 0, "token %d: created_ns is 0", id);
    mck(R, K_STAMPS, (s[4] != 0) == term,
        "token %d (%s): ended_ns %lld with state %s", id, op->name,
        (long long)s[4], m_stname(st));
    {
        int64_t prev = 0;
        int pi = -1;
        for (int i = 0; i < 5; i++) {
            if (s[i] == 0) continue;
            if (pi >= 0)
                mck(R, K_STAMPS, s[i] >= prev,
                    "token %d (%s, state %s, retries %d): %s_ns %lld < %s_ns "
                    "%lld", id, op->name, m_stname(st), in->retries, sn[i],
                    (long long)s[i], sn[pi], (long long)prev);
            prev = s[i];
            pi = i;
        }
    }
    /* stamps are "within about a microsecond of CLOCK_MONOTONIC" (they
       come through the CPU's counter, re-anchored every millisecond):
       created_ns lies inside the tg_submit call that made it, give or take
       that (2 us here) */
    mck(R, K_STAMPS, s[0] + 2000 >= t->t0,
        "token %d: created_ns is %lld ns behind CLOCK_MONOTONIC read just "
        "before its tg_submit", id, (long long)(t->t0 - s[0]));
    mck(R, K_STAMPS, s[0] <= t->t1 + M_STAMP_SLACK_NS,
        "token %d: created_ns is %lld ns after its tg_submit returned", id,
        (long long)(s[0] - t->t1));
    if (s[4])
        mck(R, K_STAMPS, s[4] <= t_after + M_STAMP_SLACK_NS,
            "token %d: ended_ns %lld is after the tg_info call returned (%lld)",
            id, (long long)s[4], (long long)t_after);
    if (st == TG_EXECUTING)
        mck(R, K_STAMPS, s[3] != 0,
            "token %d (%s, retries %d): tg_info says EXECUTING with started_ns 0",
            id, op->name, in->retries);
    if (st == TG_COMPLETED || st == TG_FAILED) {
        mck(R, K_STAMPS, s[3] != 0, "token %d: %s with started_ns 0", id,
            m_stname(st));
        mck(R, K_INFO, in->core >= 0, "token %d: %s with core -1", id,
            m_stname(st));
    }
    if (t->have_prev)
        for (int i = 0; i < 5; i++)
            if (t->prev[i] != 0)
                mck(R, K_STAMPS, s[i] >= t->prev[i],
                    "token %d (%s): %s_ns went from %lld to %lld", id, op->name,
                    sn[i], (long long)t->prev[i], (long long)s[i]);
    memcpy(t->prev, s, sizeof s);
    t->have_prev = 1;
    if (term) {
        if (t->have_iterm)
            mck(R, K_STAMPS, memcmp(t->iterm, s, sizeof s) == 0,
                "token %d (%s): stamps changed after it ended (ended_ns %lld "
                "-> %lld, started_ns %lld -> %lld)", id, op->name,
                (long long)t->iterm[4], (long long)s[4],
                (long long)t->iterm[3], (long long)s[3]);
        else {
            memcpy(t->iterm, s, sizeof s);
            t->have_iterm = 1;
        }
        if (st == TG_FAILED) {
            mck(R, K_INFO, in->failure_code == t->a.code &&
                               in->retries == op->max_retries,
                "token %d (%s): FAILED with failure_code %d retries %d, "
                "expected %d and %d", id, op->name, in->failure_code,
                in->retries, t->a.code, op->max_retries);
        } else if (st == TG_COMPLETED) {
            int ef = t->a.nfail ? t->a.code : 0;
            mck(R, K_INFO, in->failure_code == ef &&
                               in->retries == (int)t->a.nfail,
                "token %d (%s, nfail %u): COMPLETED with failure_code %d "
                "retries %d, expected %d and %u", id, op->name, t->a.nfail,
                in->failure_code, in->retries, ef, t->a.nfail);
        } else if (st == TG_TIMEOUT && op->timeout_ns > 0) {
            mck(R, K_STAMPS, s[4] >= s[0] + op->timeout_ns - M_STAMP_SLACK_NS,
                "token %d (%s): TIMEOUT with ended_ns - created_ns = %lld < "
                "timeout_ns %lld", id, op->name, (long long)(s[4] - s[0]),
                (long long)op->timeout_ns);
        }
        if (st == TG_COMPLETED || st == TG_FAILED) {
            mrec *r = &R->rec[id];
            int ret = atomic_load_explicit(&r->returned, memory_order_acquire);
            int sta = atomic_load_explicit(&r->started, memory_order_relaxed);
            if (ret == 1 && sta == 1)
                mck(R, K_INFO, atomic_load_explicit(&r->core,
                                                    memory_order_relaxed) ==
                                   in->core,
                    "token %d (%s): tg_info core %d, its function ran on core "
                    "%d", id, op->name, in->core,
                    atomic_load_explicit(&r->core, memory_order_relaxed));
        }
    }
    m_observe(T, id, st, "tg_info", NULL);
}

/* ------------------------------------------------------- thread helpers */

static int m_unbounded_ok(mthread *T) { return T->gpause == 0 && T->nopp == 0; }

/* May a tg_submit (or a negative submit timeout) wait for room unbounded? */
static int m_plain_submit_ok(mthread *T)
{
    return T->R->cfg.full_policy == TG_FULL_REJECT ||
           (T->R->unbounded_submit_ok && m_unbounded_ok(T));
}

static int64_t m_pick_timeout(uint64_t r, int allow_forever)
{
    unsigned c = (unsigned)(r % 10);
    if (c < 3) return 0;
    if (c < 8 || !allow_forever) return 1000 + (int64_t)((r >> 8) % 300000);
    return -1;
}

/* Checks a call's code for a slot that holds no valid handle. */
static void m_check_invalid(mthread *T, const mslot *sl, int rc,
                            const char *call)
{
    mround *R = T->R;
    if (sl->st == SL_STALE)
        mck(R, K_STALE, rc == TG_ESTALE,
            "%s with a released handle %016" PRIx64 " gave %s", call, sl->bits,
            m_rcname(rc));
    else
        mck(R, K_RC, rc == TG_EINVAL || rc == TG_ESTALE,
            "%s with TG_TOKEN_NONE gave %s", call, m_rcname(rc));
}

/* After a submit with a handle returned TG_OK: the handles held at once
   (an undercount of the tokens that exist) never pass max_tokens. */
static void m_held_inc(mround *R)
{
    long n = atomic_fetch_add(&R->held_now, 1) + 1;
    if (R->cfg.max_tokens)
        mck(R, K_LIMIT, n <= (long)R->cfg.max_tokens,
            "%ld handles held at once (each taken after its tg_submit returned, "
            "given back before tg_release), max_tokens %u", n, R->cfg.max_tokens);
}

static void m_push_stale(mthread *T, uint64_t bits)
{
    T->stale[T->nstale % M_STALE_RING] = bits;
    T->nstale++;
}

static void m_poll_slot(mthread *T, int k, const char *why)
{
    mround *R = T->R;
    mslot *sl = &T->slot[k];
    tg_state st = (tg_state)99;
    m_hash(T, 101, (uint64_t)k);
    int rc = tg_poll(R->s, m_tk(sl->bits), &st);
    if (sl->st == SL_HELD) {
        if (mck(R, K_HELD, rc == TG_OK, "tg_poll (%s) of held token %d gave %s",
                why, sl->id, m_rcname(rc)))
            m_observe(T, sl->id, (int)st, "tg_poll", NULL);
    } else {
        m_check_invalid(T, sl, rc, "tg_poll");
    }
}

static void m_release_slot(mthread *T, int k)
{
    mround *R = T->R;
    mslot *sl = &T->slot[k];
    m_hash(T, 102, (uint64_t)k);
    if (sl->st == SL_HELD) atomic_fetch_sub(&R->held_now, 1);
    int rc = tg_release(R->s, m_tk(sl->bits));
    if (sl->st == SL_HELD) {
        if (mck(R, K_HELD, rc == TG_OK, "tg_release of held token %d gave %s",
                sl->id, m_rcname(rc))) {
            R->tok[sl->id].released = 1;
            sl->st = SL_STALE;
            m_push_stale(T, sl->bits);
        }
    } else {
        m_check_invalid(T, sl, rc, "tg_release");
    }
}

static void m_ck_ctl(mthread *T, int rc, int which, int sub_before,
                     int sd_ret_before, const char *what)
{
    /* which: op index, -1 the never-submitted name, -2 a NULL name, -3 a
       global call (tg_pause / tg_resume) */
    mround *R = T->R;
    int sd_after = atomic_load(&R->sd_started);
    unsigned m;
    if (which == -2)
        m = MS(TG_EINVAL) | MS(TG_ENOOP) | MS(TG_ESHUTDOWN);
    else if (sd_ret_before)
        m = MS(TG_ESHUTDOWN) | (which == -1 ? MS(TG_ENOOP) : 0);
    else {
        if (which == -1) m = MS(TG_ENOOP);
        else if (which == -3) m = MS(TG_OK);
        else m = sub_before ? MS(TG_OK) : (MS(TG_OK) | MS(TG_ENOOP));
        if (sd_after) m |= MS(TG_ESHUTDOWN);
    }
    mck(R, K_CONTROL, m_in(rc, m),
        "%s gave %s (op submitted before: %d, shutdown began: %d, returned "
        "before the call: %d)", what, m_rcname(rc), sub_before, sd_after,
        sd_ret_before);
}

static void m_gresume(mthread *T)
{
    mround *R = T->R;
    int sdr = atomic_load(&R->sd_returned);
    m_hash(T, 103, 0);
    int rc = tg_resume(R->s);
    m_ck_ctl(T, rc, -3, 1, sdr, "tg_resume");
    T->gpause = 0;
}

static void m_op_resume_at(mthread *T, int i)
{
    mround *R = T->R;
    int op = T->opp_op[i];
    if (T->gpause) m_gresume(T);   /* never wait for room while paused */
    int sub = atomic_load(&R->op_submitted[op]);
    int sdr = atomic_load(&R->sd_returned);
    m_hash(T, 104, (uint64_t)op);
    int rc = tg_op_resume(R->s, m_ops[op].name);
    m_ck_ctl(T, rc, op, sub, sdr, "tg_op_resume");
    T->opp_op[i] = T->opp_op[T->nopp - 1];
    T->opp_until[i] = T->opp_until[T->nopp - 1];
    T->nopp--;
}

static void m_resume_due(mthread *T, int all)
{
    if (T->gpause && (all || T->step >= T->gpause_until)) m_gresume(T);
    for (int i = 0; i < T->nopp;) {
        if (all || T->step >= T->opp_until[i])
            m_op_resume_at(T, i);
        else
            i++;
    }
}

/* ---------------------------------------------------------- the actions */

static void m_do_submit(mthread *T, int k, const uint64_t *r, int detached)
{
    mround *R = T->R;
    if (!detached) m_release_slot(T, k);
    int op = (int)(r[2] % M_NOPS);
    int variant = (int)(r[5] % 4);
    int64_t to = -1;
    if ((variant == 0 || variant == 3) && !m_plain_submit_ok(T)) variant = 2;
    if (variant == 1) to = 0;
    else if (variant == 2) to = 1000 + (int64_t)(r[6] % 2000000);
    m_hash(T, detached ? 120 + (uint64_t)variant : 110 + (uint64_t)variant,
           (uint64_t)op);
    if (T->id_next >= T->id_end) return;
    int id = T->id_next++;
    mtok *t = &R->tok[id];
    margs a;
    m_make_args(R, id, op, r[3], r[4], 0, &a);
    R->payload[id] = (int64_t)(r[7] & 0xFFFFFF);
    t->used = 1;
    t->owner = T->idx;
    t->op = op;
    t->a = a;
    t->detached = detached;
    t->ctl0 = atomic_load(&R->ctl_done[op]);
    int sdr = atomic_load(&R->sd_returned);
    tg_token out = m_tk(0xA5A5A5A5A5A5A5A5ull);
    tg_token *outp = detached ? NULL : &out;
    int rc;
    t->t0 = th_now_ns();
    if (variant == 0)
        rc = tg_submit(R->s, &m_ops[op], &a, sizeof a, outp);
    else
        rc = tg_submit_timeout(R->s, &m_ops[op], &a, sizeof a, outp, to);
    t->t1 = th_now_ns();
    int sda = atomic_load(&R->sd_started);
    t->sd_at_submit = sda;
    unsigned m;
    if (sdr)
        m = MS(TG_ESHUTDOWN);
    else {
        m = MS(TG_OK);
        if (R->cfg.full_policy == TG_FULL_REJECT) m |= MS(TG_EBUSY);
        else if (variant == 1 || variant == 2) m |= MS(TG_ETIMEDOUT);
        if (sda) m |= MS(TG_ESHUTDOWN);
    }
    mck(R, K_RC, m_in(rc, m),
        "%s(%s, %s, timeout %lld) gave %s (policy %s, max_tokens %u)",
        variant == 0 ? "tg_submit" : "tg_submit_timeout", m_ops[op].name,
        detached ? "detached" : "held", (long long)to, m_rcname(rc),
        R->cfg.full_policy ? "REJECT" : "BLOCK", R->cfg.max_tokens);
    if (rc == TG_OK) {
        atomic_fetch_add(&R->n_ok, 1);
        atomic_store(&R->op_submitted[op], 1);
        if (!detached) {
            mck(R, K_OUT, out.bits != 0, "tg_submit OK but *out is TG_TOKEN_NONE");
            t->held = 1;
            t->bits = out.bits;
            m_map_put(R, out.bits, id);
            m_held_inc(R);
            T->slot[k].st = SL_HELD;
            T->slot[k].id = id;
            T->slot[k].bits = out.bits;
        }
    } else {
        t->rejected = 1;
        if (!detached)
            mck(R, K_OUT, out.bits == 0,
                "tg_submit gave %s but *out is %016" PRIx64 ", not TG_TOKEN_NONE",
                m_rcname(rc), out.bits);
    }
    if (!detached) m_poll_slot(T, k, "after submit");
}

static void m_do_wait(mthread *T, int k, const uint64_t *r)
{
    mround *R = T->R;
    mslot *sl = &T->slot[k];
    int64_t to = m_pick_timeout(r[2], m_unbounded_ok(T));
    int usev = (int)(r[3] & 1);
    tg_value v;
    v.i = INT64_MIN + 5;
    m_hash(T, 130 + (uint64_t)usev, (uint64_t)k * 3 + (to < 0 ? 2 : to > 0));
    int was_term = sl->st == SL_HELD && R->tok[sl->id].term;
    int64_t t0 = th_now_ns();
    int rc = tg_wait(R->s, m_tk(sl->bits), to, usev ? &v : NULL);
    int64_t el = th_now_ns() - t0;
    if (to >= 0)
        mck(R, K_WAIT, el <= to + M_WAIT_LATE_NS,
            "tg_wait with timeout %lld ns returned after %lld ns", (long long)to,
            (long long)el);
    if (sl->st != SL_HELD) {
        m_check_invalid(T, sl, rc, "tg_wait");
        return;
    }
    unsigned m = MS(TG_OK) | MS(TG_EFAILED) | MS(TG_EKILLED) | MS(TG_EDEADLINE) |
                 (to >= 0 ? MS(TG_ETIMEDOUT) : 0);
    if (!mck(R, K_HELD, m_in(rc, m),
             "tg_wait(held token %d, timeout %lld) gave %s", sl->id,
             (long long)to, m_rcname(rc)))
        return;
    if (rc == TG_ETIMEDOUT) {
        mck(R, K_WAIT, !was_term,
            "tg_wait gave TG_ETIMEDOUT for token %d, already seen %s", sl->id,
            m_stname(R->tok[sl->id].tstate));
        mck(R, K_WAIT, el >= to - 20000,
            "tg_wait gave TG_ETIMEDOUT after %lld ns of a %lld ns timeout",
            (long long)el, (long long)to);
        return;
    }
    m_observe(T, sl->id, m_rc_state(rc), "tg_wait", usev && rc == TG_OK ? &v : NULL);
}

/* Bad handles. kinds: */
enum { BH_STALE, BH_RANDOM, BH_GENFLIP, BH_INDEX, BH_FOREIGN, BH_FOREIGN_STALE,
       BH_DESTROYED, BH_NONE, BH_N };
static const char *const m_bh_name[BH_N] = {
    "stale", "random bits", "generation bits flipped", "index out of range",
    "foreign (live scheduler)", "foreign released", "from a destroyed scheduler",
    "TG_TOKEN_NONE" };

static uint64_t m_bad_bits(mthread *T, int *kind, uint64_t r, int k)
{
    mround *R = T->R;
    uint64_t base = T->slot[k].st == SL_HELD ? T->slot[k].bits : R->f_live[0];
    switch (*kind) {
    case BH_STALE:
        if (T->nstale > 0) {
            int n = T->nstale < M_STALE_RING ? T->nstale : M_STALE_RING;
            return T->stale[(int)(r % (uint64_t)n)];
        }
        *kind = BH_RANDOM;
        /* fall through */
    case BH_RANDOM: return r ? r : 1;
    case BH_GENFLIP: return base ^ (1ull << (32 + (r % 32)));
    case BH_INDEX: return (base & ~0x0FFFFFFFull) | (0x0FFFFFFFull - (r % 4096));
    case BH_FOREIGN: return R->f_live[r % (uint64_t)R->nf_live];
    case BH_FOREIGN_STALE: return R->f_stale[r % (uint64_t)R->nf_stale];
    case BH_DESTROYED: return R->d_bits[r % (uint64_t)R->nd];
    default: return 0;
    }
}

static void m_log_bad(mthread *T, uint64_t bits, int call, int rc, int kind)
{
    if (T->nbad < M_BADLOG) {
        mbad *b = &T->bad[T->nbad++];
        b->bits = bits;
        b->call = call;
        b->rc = rc;
        b->kind = kind;
        b->step = T->step;
    } else {
        T->bad_overflow++;
    }
}

static const char *const m_bad_call[] = { "tg_poll", "tg_wait(0)", "tg_wait(small)",
                                          "tg_release", "tg_kill", "tg_info",
                                          "tg_wait_all", "tg_wait_any" };

static void m_do_bad(mthread *T, int k, const uint64_t *r)
{
    mround *R = T->R;
    int kind = (int)(r[2] % BH_N);
    int planned = kind;   /* a stale handle becomes random bits if none yet */
    uint64_t bits = m_bad_bits(T, &kind, r[3], k);
    int call = (int)(r[4] % 8);
    tg_token h = m_tk(bits);
    tg_state st;
    tg_value v;
    tg_token_info info;
    size_t idx = 0;
    int rc;
    m_hash(T, 140 + (uint64_t)planned, (uint64_t)call);
    switch (call) {
    case 0: rc = tg_poll(R->s, h, &st); break;
    case 1: rc = tg_wait(R->s, h, 0, &v); break;
    case 2: rc = tg_wait(R->s, h, 20000, &v); break;
    case 3: rc = tg_release(R->s, h); break;
    case 4: rc = tg_kill(R->s, h); break;
    case 5: rc = tg_info(R->s, h, &info); break;
    case 6: rc = tg_wait_all(R->s, &h, 1, 20000); break;
    default: rc = tg_wait_any(R->s, &h, 1, 20000, &idx); break;
    }
    if (kind == BH_STALE)
        mck(R, K_STALE, rc == TG_ESTALE,
            "%s with released handle %016" PRIx64 " gave %s", m_bad_call[call],
            bits, m_rcname(rc));
    else if (rc == TG_EINVAL || rc == TG_ESTALE)
        mck(R, K_BAD, 1, "-");
    else
        m_log_bad(T, bits, call, rc, kind);   /* judged after the round */
}

/* An array of 1..4 slot handles, maybe with one bad handle. */
typedef struct marr {
    tg_token t[6];
    int kind[6];   /* -1: held, SL_EMPTY / SL_STALE as -2 / -3, or a BH_ kind */
    int id[6];
    int was_term[6];
    size_t n;
    int any_stale, any_forged, any_empty;
} marr;

static void m_build_arr(mthread *T, const uint64_t *r, marr *A)
{
    mround *R = T->R;
    memset(A, 0, sizeof *A);
    A->n = 1 + (size_t)(r[2] % 4);
    for (size_t i = 0; i < A->n; i++) {
        int k = (int)((r[3] >> (8 * i)) % (uint64_t)R->nslot);
        mslot *sl = &T->slot[k];
        A->t[i] = m_tk(sl->bits);
        A->id[i] = sl->id;
        if (sl->st == SL_HELD) {
            A->kind[i] = -1;
            A->was_term[i] = R->tok[sl->id].term;
        } else if (sl->st == SL_STALE) {
            A->kind[i] = -3;
            A->any_stale = 1;
        } else {
            A->kind[i] = -2;
            A->any_empty = 1;
        }
    }
    if (r[4] % 6 == 0) {
        int kind = (int)((r[4] >> 8) % BH_N);
        uint64_t bits = m_bad_bits(T, &kind, r[6], (int)(r[3] % (uint64_t)R->nslot));
        size_t pos = (size_t)((r[4] >> 16) % (A->n + 1));
        for (size_t i = A->n; i > pos; i--) {
            A->t[i] = A->t[i - 1];
            A->kind[i] = A->kind[i - 1];
            A->id[i] = A->id[i - 1];
            A->was_term[i] = A->was_term[i - 1];
        }
        A->t[pos] = m_tk(bits);
        A->kind[pos] = kind;
        A->id[pos] = -1;
        A->was_term[pos] = 0;
        A->n++;
        if (kind == BH_STALE) A->any_stale = 1;
        else if (kind == BH_NONE) A->any_empty = 1;
        else A->any_forged = 1;
    }
}

/* After a wait_all/any: poll every entry (the same calls whatever the
   outcome); must_term: every held entry must be terminal. */
static void m_poll_arr(mthread *T, const marr *A, int must_term, const char *why)
{
    mround *R = T->R;
    for (size_t i = 0; i < A->n; i++) {
        tg_state st = (tg_state)99;
        m_hash(T, 150, i);
        int rc = tg_poll(R->s, A->t[i], &st);
        if (A->kind[i] == -1) {
            if (!mck(R, K_HELD, rc == TG_OK, "tg_poll of held token %d gave %s",
                     A->id[i], m_rcname(rc)))
                continue;
            if (must_term)
                mck(R, K_WAIT, th_is_terminal(st),
                    "%s returned TG_OK but token %d is %s", why, A->id[i],
                    m_stname((int)st));
            m_observe(T, A->id[i], (int)st, "tg_poll", NULL);
        } else if (A->kind[i] == -3 || A->kind[i] == BH_STALE) {
            mck(R, K_STALE, rc == TG_ESTALE, "tg_poll of a released handle gave %s",
                m_rcname(rc));
        } else if (A->kind[i] == -2 || A->kind[i] == BH_NONE) {
            mck(R, K_RC, rc == TG_EINVAL || rc == TG_ESTALE,
                "tg_poll of TG_TOKEN_NONE gave %s", m_rcname(rc));
        } else if (rc != TG_EINVAL && rc != TG_ESTALE) {
            m_log_bad(T, A->t[i].bits, 0, rc, A->kind[i]);
        }
    }
}

static void m_do_wait_all(mthread *T, const uint64_t *r)
{
    mround *R = T->R;
    marr A;
    m_build_arr(T, r, &A);
    int64_t to = m_pick_timeout(r[5], m_unbounded_ok(T));
    int zero = (r[7] % 23 == 1);
    m_hash(T, 160 + (uint64_t)zero, A.n * 8 + (to < 0 ? 2 : to > 0));
    int64_t t0 = th_now_ns();
    int rc = tg_wait_all(R->s, A.t, zero ? 0 : A.n, to);
    int64_t el = th_now_ns() - t0;
    if (to >= 0)
        mck(R, K_WAIT, el <= to + M_WAIT_LATE_NS,
            "tg_wait_all with timeout %lld ns returned after %lld ns",
            (long long)to, (long long)el);
    if (zero) {
        mck(R, K_RC, rc == TG_OK, "tg_wait_all with n == 0 gave %s", m_rcname(rc));
        return;
    }
    int all_term = 1;
    for (size_t i = 0; i < A.n; i++)
        if (A.kind[i] == -1 && !A.was_term[i]) all_term = 0;
    if (!A.any_stale && !A.any_forged && !A.any_empty) {
        unsigned m = MS(TG_OK) | (to >= 0 ? MS(TG_ETIMEDOUT) : 0);
        mck(R, K_HELD, m_in(rc, m), "tg_wait_all over held tokens (timeout %lld) "
            "gave %s", (long long)to, m_rcname(rc));
        if (rc == TG_ETIMEDOUT)
            mck(R, K_WAIT, !all_term,
                "tg_wait_all gave TG_ETIMEDOUT but every token was already seen "
                "ended");
    } else {
        unsigned m = MS(TG_ESTALE) | MS(TG_ETIMEDOUT);
        if (A.any_empty || A.any_forged) m |= MS(TG_EINVAL);
        if (rc == TG_OK && A.any_forged && !A.any_stale && !A.any_empty) {
            for (size_t i = 0; i < A.n; i++)
                if (A.kind[i] >= 0) m_log_bad(T, A.t[i].bits, 6, rc, A.kind[i]);
        } else {
            mck(R, A.any_stale ? K_STALE : K_RC, m_in(rc, m),
                "tg_wait_all over an array with a %s handle gave %s",
                A.any_stale ? "released" : A.any_empty ? "NONE" : "forged",
                m_rcname(rc));
        }
    }
    m_poll_arr(T, &A, rc == TG_OK, "tg_wait_all");
}

static void m_do_wait_any(mthread *T, const uint64_t *r)
{
    mround *R = T->R;
    marr A;
    m_build_arr(T, r, &A);
    int64_t to = m_pick_timeout(r[5], m_unbounded_ok(T));
    int special = (int)(r[7] % 29);   /* 1: n == 0, 2: index NULL */
    size_t idx = (size_t)-1;
    m_hash(T, 170 + (uint64_t)(special == 1 || special == 2 ? special : 0),
           A.n * 8 + (to < 0 ? 2 : to > 0));
    if (special == 1 || special == 2) {
        int rc = tg_wait_any(R->s, A.t, special == 1 ? 0 : A.n, 0,
                             special == 1 ? &idx : NULL);
        mck(R, K_RC, rc == TG_EINVAL, "tg_wait_any with %s gave %s",
            special == 1 ? "n == 0" : "index NULL", m_rcname(rc));
        return;
    }
    int64_t t0 = th_now_ns();
    int rc = tg_wait_any(R->s, A.t, A.n, to, &idx);
    int64_t el = th_now_ns() - t0;
    if (to >= 0)
        mck(R, K_WAIT, el <= to + M_WAIT_LATE_NS,
            "tg_wait_any with timeout %lld ns returned after %lld ns",
            (long long)to, (long long)el);
    unsigned m = MS(TG_OK) | (to >= 0 ? MS(TG_ETIMEDOUT) : 0);
    if (A.any_stale) m |= MS(TG_ESTALE);
    if (A.any_empty || A.any_forged) m |= MS(TG_EINVAL) | MS(TG_ESTALE);
    int any_held_term = 0;
    for (size_t i = 0; i < A.n; i++)
        if (A.kind[i] == -1 && A.was_term[i]) any_held_term = 1;
    mck(R, (A.any_stale || A.any_empty || A.any_forged) ? K_RC : K_HELD,
        m_in(rc, m), "tg_wait_any (timeout %lld) gave %s", (long long)to,
        m_rcname(rc));
    if (rc == TG_OK) {
        if (mck(R, K_WAIT, idx < A.n, "tg_wait_any TG_OK with index %zu of %zu",
                idx, A.n)) {
            int kd = A.kind[idx];
            if (kd == -1) {
                for (size_t j = 0; j < idx; j++)
                    if (A.kind[j] == -1 && A.was_term[j])
                        mck(R, K_WAIT, 0,
                            "tg_wait_any gave index %zu but entry %zu (token %d) "
                            "had ended before the call", idx, j, A.id[j]);
            } else if (kd == -3 || kd == BH_STALE) {
                mck(R, K_STALE, 0, "tg_wait_any gave TG_OK and the index of a "
                    "released handle");
            } else if (kd == -2 || kd == BH_NONE) {
                mck(R, K_RC, 0, "tg_wait_any gave TG_OK and the index of "
                    "TG_TOKEN_NONE");
            } else {
                m_log_bad(T, A.t[idx].bits, 7, rc, kd);
            }
        }
    } else if (rc == TG_ETIMEDOUT) {
        mck(R, K_WAIT, !any_held_term,
            "tg_wait_any gave TG_ETIMEDOUT though a token in the array had "
            "already been seen ended");
    }
    /* the token at idx must be terminal: check it with one poll */
    if (rc == TG_OK && idx < A.n && A.kind[idx] == -1) {
        tg_state st = (tg_state)99;
        int prc = tg_poll(R->s, A.t[idx], &st);
        if (mck(R, K_HELD, prc == TG_OK, "tg_poll of held token %d gave %s",
                A.id[idx], m_rcname(prc)))
            mck(R, K_WAIT, th_is_terminal(st),
                "tg_wait_any gave index %zu but token %d is %s", idx, A.id[idx],
                m_stname((int)st));
    } else {
        tg_state st;
        (void)tg_poll(R->s, A.t[0], &st);   /* the same number of calls */
    }
    m_poll_arr(T, &A, 0, "tg_wait_any");
}

static void m_do_info(mthread *T, int k, const uint64_t *r)
{
    mround *R = T->R;
    mslot *sl = &T->slot[k];
    tg_token_info info;
    int null_out = (r[2] % 31 == 0);
    memset(&info, 0x5A, sizeof info);
    m_hash(T, 180 + (uint64_t)null_out, (uint64_t)k);
    int rc = tg_info(R->s, m_tk(sl->bits), null_out ? NULL : &info);
    int64_t t_after = th_now_ns();
    if (null_out) {
        mck(R, K_RC, rc == TG_EINVAL || rc == TG_ESTALE,
            "tg_info with info NULL gave %s", m_rcname(rc));
        return;
    }
    if (sl->st == SL_HELD) {
        if (mck(R, K_HELD, rc == TG_OK, "tg_info of held token %d gave %s",
                sl->id, m_rcname(rc)))
            m_check_info(T, sl->id, &info, t_after);
    } else {
        m_check_invalid(T, sl, rc, "tg_info");
    }
}

static void m_do_kill(mthread *T, int k)
{
    mround *R = T->R;
    mslot *sl = &T->slot[k];
    m_hash(T, 190, (uint64_t)k);
    if (sl->st == SL_HELD) R->tok[sl->id].killed = 1;
    int rc = tg_kill(R->s, m_tk(sl->bits));
    if (sl->st == SL_HELD)
        mck(R, K_HELD, rc == TG_OK, "tg_kill of held token %d gave %s", sl->id,
            m_rcname(rc));
    else
        m_check_invalid(T, sl, rc, "tg_kill");
    m_poll_slot(T, k, "after kill");
}

static void m_do_opctl(mthread *T, const uint64_t *r)
{
    mround *R = T->R;
    int sub = (int)(r[2] % 8);
    int op = (int)(r[3] % M_NOPS);
    int subm = atomic_load(&R->op_submitted[op]);
    int sdr = atomic_load(&R->sd_returned);
    int rc;
    switch (sub) {
    case 0:
    case 6: {
        int mine = 0;
        for (int i = 0; i < T->nopp; i++)
            if (T->opp_op[i] == op) mine = 1;
        if (mine || T->nopp >= M_MAX_OPP) {
            struct tg_op_stats os;
            m_hash(T, 200, (uint64_t)op);
            rc = tg_op_stats(R->s, m_ops[op].name, &os);
            m_ck_ctl(T, rc, op, subm, 0, "tg_op_stats");
            break;
        }
        m_hash(T, 201, (uint64_t)op);
        rc = tg_op_pause(R->s, m_ops[op].name);
        m_ck_ctl(T, rc, op, subm, sdr, "tg_op_pause");
        T->opp_op[T->nopp] = op;
        T->opp_until[T->nopp] = T->step + 1 + (long)(r[4] % 30);
        T->nopp++;
        break;
    }
    case 1:
        if (T->nopp > 0) {
            m_op_resume_at(T, (int)(r[4] % (uint64_t)T->nopp));
        } else {
            if (T->gpause) m_gresume(T);
            m_hash(T, 202, (uint64_t)op);
            rc = tg_op_resume(R->s, m_ops[op].name);
            m_ck_ctl(T, rc, op, subm, sdr, "tg_op_resume");
        }
        break;
    case 2:
    case 7:
    case 3:
        atomic_fetch_add(&R->ctl_started[op], 1);
        m_hash(T, sub == 3 ? 203 : 204, (uint64_t)op);
        rc = sub == 3 ? tg_op_kill(R->s, m_ops[op].name)
                      : tg_op_drain(R->s, m_ops[op].name);
        atomic_fetch_add(&R->ctl_done[op], 1);
        m_ck_ctl(T, rc, op, subm, sdr, sub == 3 ? "tg_op_kill" : "tg_op_drain");
        break;
    case 4: {
        int f = (int)(r[4] % 5);
        struct tg_op_stats os;
        m_hash(T, 205, (uint64_t)f);
        switch (f) {
        case 0: rc = tg_op_pause(R->s, m_never_name); break;
        case 1: rc = tg_op_resume(R->s, m_never_name); break;
        case 2: rc = tg_op_drain(R->s, m_never_name); break;
        case 3: rc = tg_op_kill(R->s, m_never_name); break;
        default: rc = tg_op_stats(R->s, m_never_name, &os); break;
        }
        m_ck_ctl(T, rc, -1, 0, sdr, "a control call with a never-submitted name");
        break;
    }
    default: {
        int f = (int)(r[4] % 4);
        m_hash(T, 206, (uint64_t)f);
        switch (f) {
        case 0: rc = tg_op_pause(R->s, NULL); break;
        case 1: rc = tg_op_resume(R->s, NULL); break;
        case 2: rc = tg_op_drain(R->s, NULL); break;
        default: rc = tg_op_kill(R->s, NULL); break;
        }
        m_ck_ctl(T, rc, -2, 0, sdr, "a control call with a NULL name");
        break;
    }
    }
}

static void m_do_gpause(mthread *T, const uint64_t *r)
{
    mround *R = T->R;
    if (T->gpause) {
        m_gresume(T);
        return;
    }
    int sdr = atomic_load(&R->sd_returned);
    m_hash(T, 210, 0);
    int rc = tg_pause(R->s);
    m_ck_ctl(T, rc, -3, 1, sdr, "tg_pause");
    T->gpause = 1;
    T->gpause_until = T->step + 1 + (long)(r[2] % 12);
}

static void m_do_stats(mthread *T, const uint64_t *r)
{
    mround *R = T->R;
    struct tg_stats *st = &T->cur;
    int nul = (int)(r[2] % 17);
    m_hash(T, 220 + (uint64_t)(nul < 2 ? nul : 2), 0);
    if (nul == 0) {
        int rc = tg_stats(R->s, NULL);
        mck(R, K_RC, rc == TG_EINVAL, "tg_stats(s, NULL) gave %s", m_rcname(rc));
        return;
    }
    if (nul == 1) {
        int rc = tg_stats(NULL, st);
        mck(R, K_RC, rc == TG_EINVAL, "tg_stats(NULL, out) gave %s", m_rcname(rc));
        return;
    }
    int rc = tg_stats(R->s, st);
    if (!mck(R, K_RC, rc == TG_OK, "tg_stats gave %s", m_rcname(rc))) return;
    mck(R, K_STATS, st->workers == R->workers, "tg_stats workers %u, created %u",
        st->workers, R->workers);
    if (R->cfg.max_tokens)
        mck(R, K_STATS, st->slots_in_use <= R->cfg.max_tokens,
            "slots_in_use %llu > max_tokens %u",
            (unsigned long long)st->slots_in_use, R->cfg.max_tokens);
    mck(R, K_STATS, st->paused == 0 || st->paused == 1, "paused %d", st->paused);
    mck(R, K_STATS, st->uptime_ns > 0, "uptime_ns %lld", (long long)st->uptime_ns);
    if (R->cfg.no_pin)
        for (unsigned i = 0; i < R->workers && i < TG_MAX_WORKERS; i++)
            mck(R, K_STATS, st->cores[i].cpu == -1,
                "no_pin but cores[%u].cpu is %d", i, st->cores[i].cpu);
    mck(R, K_STATS, st->ops <= M_NOPS + M_NBADOPS, "ops %u", st->ops);
    if (T->have_last) {
        const struct tg_stats *o = &T->last;
#define M__MONO(f)                                                             \
        mck(R, K_STATS, st->f >= o->f, "tg_stats " #f " went from %llu to %llu", \
            (unsigned long long)o->f, (unsigned long long)st->f)
        M__MONO(submitted);
        M__MONO(completed);
        M__MONO(failed);
        M__MONO(killed);
        M__MONO(timed_out);
        M__MONO(admitted);
        M__MONO(retried);
        M__MONO(ops);
#undef M__MONO
        mck(R, K_STATS, st->uptime_ns >= o->uptime_ns, "uptime_ns went back");
        for (unsigned i = 0; i < R->workers && i < TG_MAX_WORKERS; i++)
            mck(R, K_STATS, st->cores[i].executed >= o->cores[i].executed &&
                                st->cores[i].run_ns >= o->cores[i].run_ns,
                "cores[%u].executed/run_ns went back", i);
    }
    memcpy(&T->last, st, sizeof *st);
    T->have_last = 1;
}

static int m_json_shape(const char *s, size_t len)
{
    int depth = 0, in_str = 0;
    if (len < 2 || s[0] != '{' || s[len - 1] != '}') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
            else if ((unsigned char)c < 0x20) return 0;
            continue;
        }
        if (c == '"') in_str = 1;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            if (--depth < 0) return 0;
        }
    }
    return depth == 0 && !in_str;
}

static void m_do_json(mthread *T)
{
    mround *R = T->R;
    int known[M_NOPS];
    for (int i = 0; i < M_NOPS; i++) known[i] = atomic_load(&R->op_submitted[i]);
    size_t len = 0;
    m_hash(T, 230, 0);
    int rc = tg_stats_json(R->s, NULL, 0, &len);
    if (!mck(R, K_JSON, rc == TG_ERANGE && len > 0,
             "tg_stats_json(NULL, 0) gave %s with len %zu", m_rcname(rc), len))
        return;
    size_t cap = len + 1 + 4096;
    char *buf = malloc(cap);
    if (!buf) return;
    size_t len2 = 0;
    m_hash(T, 231, 0);
    rc = tg_stats_json(R->s, buf, cap, &len2);
    if (rc == TG_ERANGE) {   /* it grew by more than 4 KiB: ask again */
        mck(R, K_JSON, len2 >= cap, "TG_ERANGE with cap %zu but len %zu", cap, len2);
        free(buf);
        cap = len2 + 1 + 65536;
        buf = malloc(cap);
        if (!buf) return;
        rc = tg_stats_json(R->s, buf, cap, &len2);
    }
    if (mck(R, K_JSON, rc == TG_OK, "tg_stats_json with %zu bytes gave %s", cap,
            m_rcname(rc))) {
        mck(R, K_JSON, len2 < cap && strlen(buf) == len2,
            "tg_stats_json len %zu but strlen %zu", len2, strlen(buf));
        mck(R, K_JSON, m_json_shape(buf, strlen(buf)),
            "tg_stats_json text is not one balanced object: %.60s...", buf);
        for (int i = 0; i < M_NOPS; i++)
            if (known[i])
                mck(R, K_JSON, strstr(buf, m_ops[i].name) != NULL,
                    "tg_stats_json does not name submitted op %s", m_ops[i].name);
    }
    free(buf);
}

static int m_known_name(const char *n)
{
    for (int i = 0; i < M_NOPS; i++)
        if (strcmp(n, m_ops[i].name) == 0) return 1;
    for (int i = 0; i < M_NBADOPS; i++)   /* a refused op may be registered */
        if (m_bad_ops[i].name && strcmp(n, m_bad_ops[i].name) == 0) return 1;
    return 0;
}

static void m_do_names(mthread *T, const uint64_t *r)
{
    mround *R = T->R;
    int known[M_NOPS], nknown = 0;
    for (int i = 0; i < M_NOPS; i++) {
        known[i] = atomic_load(&R->op_submitted[i]);
        nknown += known[i];
    }
    m_hash(T, 240, 0);
    size_t n0 = tg_op_names(R->s, NULL, 0);
    const char *names[32];
    size_t n = tg_op_names(R->s, names, 32);
    mck(R, K_OPSTATS, n0 >= (size_t)nknown && n >= n0 &&
                          n <= (size_t)(M_NOPS + M_NBADOPS),
        "tg_op_names counted %zu then %zu, with %d ops known submitted", n0, n,
        nknown);
    size_t m = n < 32 ? n : 32;
    for (size_t i = 0; i < m; i++) {
        if (!mck(R, K_OPSTATS, names[i] != NULL, "tg_op_names[%zu] is NULL", i))
            continue;
        mck(R, K_OPSTATS, m_known_name(names[i]),
            "tg_op_names[%zu] = \"%s\" is not the name of an op we submitted",
            i, names[i]);
        for (int j = 0; j < M_NOPS; j++)
            if (strcmp(names[i], m_ops[j].name) == 0)
                mck(R, K_NAMEPTR, names[i] != m_ops[j].name,
                    "tg_op_names[%zu] = %p (\"%s\") is the tg_op's own name at %p, not a copy",
                    i, (const void *)names[i], names[i],
                    (const void *)m_ops[j].name);
        for (size_t j = 0; j < i; j++)
            if (names[j])
                mck(R, K_OPSTATS, strcmp(names[i], names[j]) != 0,
                    "tg_op_names lists \"%s\" twice", names[i]);
    }
    for (int i = 0; i < M_NOPS; i++) {
        if (!known[i]) continue;
        int found = 0;
        for (size_t j = 0; j < m; j++)
            if (names[j] && strcmp(names[j], m_ops[i].name) == 0) found = 1;
        mck(R, K_OPSTATS, found, "tg_op_names lacks submitted op %s",
            m_ops[i].name);
    }
    int op = (int)(r[2] % M_NOPS);
    struct tg_op_stats os;
    memset(&os, 0, sizeof os);
    m_hash(T, 241, (uint64_t)op);
    int rc = tg_op_stats(R->s, m_ops[op].name, &os);
    m_ck_ctl(T, rc, op, known[op], 0, "tg_op_stats");
    if (rc == TG_OK) {
        mck(R, K_OPSTATS, os.name && strcmp(os.name, m_ops[op].name) == 0,
            "tg_op_stats(%s).name = %s", m_ops[op].name, os.name ? os.name : "NULL");
        mck(R, K_OPSTATS, os.health >= TG_HEALTH_UNKNOWN &&
                              os.health <= TG_HEALTH_PROBLEMATIC &&
                              (os.paused == 0 || os.paused == 1) && os.blocked == 0,
            "tg_op_stats(%s): health %d paused %d blocked %d", m_ops[op].name,
            os.health, os.paused, os.blocked);
    }
}

static void m_on_completion(mthread *T, uint64_t bits)
{
    mround *R = T->R;
    tg_state st = (tg_state)99;
    int id = m_map_get(R, bits);
    int rc = tg_poll(R->s, m_tk(bits), &st);
    int ok = (rc == TG_OK && th_is_terminal(st)) || rc == TG_ESTALE;
    if (id < 0) {   /* its owner may not have recorded it yet: judged later */
        if (T->ncu < M_COMPLOG) {
            mcompl *c = &T->cu[T->ncu++];
            c->bits = bits;
            c->rc = rc;
            c->st = (int)st;
            c->step = T->step;
        } else {
            T->cu_overflow++;
        }
        return;
    }
    mtok *t = &R->tok[id];
    mck(R, K_COMPL, ok, "tg_completions gave token %d, then tg_poll gave %s "
        "state %s", id, m_rcname(rc), m_stname((int)st));
    mck(R, K_COMPL, (m_ops[t->op].flags & TG_OP_NOTIFY) != 0,
        "tg_completions gave token %d of op %s, which has no TG_OP_NOTIFY", id,
        m_ops[t->op].name);
    int n = atomic_fetch_add(&t->ncompl, 1) + 1;
    mck(R, K_COMPL, n == 1, "tg_completions gave token %d for the %d. time", id, n);
    if (rc == TG_OK && th_is_terminal(st) && st != TG_TIMEOUT &&
        !atomic_load(&R->sd_started)) {
        int ret = atomic_load_explicit(&R->rec[id].returned, memory_order_acquire);
        int sta = atomic_load_explicit(&R->rec[id].started, memory_order_relaxed);
        mck(R, K_RETURNED, ret == sta,
            "tg_completions gave token %d (%s, %s) while its function had "
            "started %d times and returned %d", id, m_ops[t->op].name,
            m_stname((int)st), sta, ret);
    }
}

static void m_do_compl(mthread *T, const uint64_t *r)
{
    mround *R = T->R;
    tg_token buf[16];
    size_t cap = 1 + (size_t)(r[2] % 16);
    m_hash(T, 250, cap);
    if (T->fd == INT_MIN) {
        T->fd = tg_completion_fd(R->s);
        mck(R, K_COMPL, T->fd >= 0, "tg_completion_fd gave %d", T->fd);
    }
    size_t n = tg_completions(R->s, buf, cap);
    if (!mck(R, K_COMPL, n <= cap, "tg_completions returned %zu with cap %zu", n,
             cap))
        n = cap;
    for (size_t i = 0; i < n; i++) m_on_completion(T, buf[i].bits);
    if (r[3] % 13 == 0) {
        size_t z = tg_completions(R->s, NULL, 0);
        mck(R, K_COMPL, z == 0, "tg_completions(NULL, 0) returned %zu", z);
    }
}

static void m_do_foreign(mthread *T, int k, const uint64_t *r)
{
    mround *R = T->R;
    int sub = (int)(r[2] % 5);
    mslot *sl = &T->slot[k];
    tg_state st = (tg_state)99;
    int rc;
    m_hash(T, 260 + (uint64_t)sub, (uint64_t)k);
    if (sub == 0) {
        uint64_t b = R->f_live[r[3] % (uint64_t)R->nf_live];
        rc = tg_poll(R->fs, m_tk(b), &st);
        mck(R, K_FOREIGN, rc == TG_OK && st == TG_COMPLETED,
            "tg_poll on the second scheduler of its own held token gave %s, %s",
            m_rcname(rc), m_stname((int)st));
        return;
    }
    if (sub == 1) {
        uint64_t b = R->f_stale[r[3] % (uint64_t)R->nf_stale];
        rc = tg_poll(R->fs, m_tk(b), &st);
        mck(R, K_STALE, rc == TG_ESTALE,
            "tg_poll on the second scheduler of its released token gave %s",
            m_rcname(rc));
        return;
    }
    if (sub == 2) rc = tg_poll(R->fs, m_tk(sl->bits), &st);
    else if (sub == 3) rc = tg_kill(R->fs, m_tk(sl->bits));
    else rc = tg_release(R->fs, m_tk(sl->bits));
    int collides = 0;
    for (int i = 0; i < R->nf_issued; i++)
        if (R->f_issued[i] == sl->bits) collides = 1;
    if (!collides)
        mck(R, K_BAD, rc == TG_EINVAL || rc == TG_ESTALE,
            "%s on the second scheduler with our handle %016" PRIx64 " gave %s",
            sub == 2 ? "tg_poll" : sub == 3 ? "tg_kill" : "tg_release", sl->bits,
            m_rcname(rc));
}

static void m_do_nulls(mthread *T, const uint64_t *r)
{
    mround *R = T->R;
    int f = (int)(r[2] % 12);
    tg_state st;
    tg_value v;
    size_t len = 0;
    tg_token out = m_tk(0xA5A5A5A5A5A5A5A5ull);
    margs a;
    int rc = TG_OK;
    unsigned m = MS(TG_EINVAL);
    const char *what = "?";
    m_hash(T, 270, (uint64_t)f);
    memset(&a, 0, sizeof a);
    switch (f) {
    case 0:
        rc = tg_poll(NULL, m_tk(T->slot[0].bits), &st);
        what = "tg_poll(NULL s)";
        break;
    case 1:
        rc = tg_wait(NULL, m_tk(T->slot[0].bits), 0, &v);
        what = "tg_wait(NULL s)";
        break;
    case 2:
        rc = tg_poll(R->s, m_tk(T->slot[0].bits), NULL);
        what = "tg_poll(state NULL)";
        m |= MS(TG_ESTALE);
        break;
    case 3:
        rc = tg_submit(NULL, &m_ops[OP_PLAIN], &a, sizeof a, &out);
        what = "tg_submit(NULL s)";
        break;
    case 4:
        rc = tg_submit(R->s, NULL, &a, sizeof a, &out);
        what = "tg_submit(NULL op)";
        break;
    case 5:
        rc = tg_submit(R->s, &m_ops[OP_PLAIN], NULL, 16, &out);
        what = "tg_submit(args NULL, size 16)";
        break;
    case 6: {
        int b = (int)((r[3] >> 4) % M_NBADOPS);
        rc = tg_submit_timeout(R->s, &m_bad_ops[b], &a, sizeof a, &out, 0);
        what = "tg_submit_timeout of an invalid op";
        break;
    }
    case 7:
        rc = tg_submit_timeout(R->s, &m_ops[OP_PLAIN], m_big_args,
                               sizeof m_big_args, &out, 0);
        what = "tg_submit of 70000 argument bytes (max_args_size 65536)";
        m = MS(TG_E2BIG);
        break;
    case 8:
        rc = tg_stats_json(NULL, NULL, 0, &len);
        what = "tg_stats_json(NULL s)";
        break;
    case 9:
        rc = tg_op_pause(NULL, m_ops[OP_PLAIN].name);
        what = "tg_op_pause(NULL s)";
        break;
    case 10: {
        size_t n = tg_op_names(NULL, NULL, 0) + tg_completions(NULL, &out, 1);
        mck(R, K_RC, n == 0, "tg_op_names/tg_completions(NULL s) returned %zu", n);
        mck(R, K_BODY, tg_self().bits == 0 && tg_current_core() == -1 &&
                           tg_should_stop() == 0,
            "outside a task: tg_self %016" PRIx64 " tg_current_core %d "
            "tg_should_stop %d", tg_self().bits, tg_current_core(), tg_should_stop());
        return;
    }
    default:
        rc = tg_kill(NULL, m_tk(T->slot[0].bits));
        what = "tg_kill(NULL s)";
        break;
    }
    /* an invalid submission during a shutdown may be refused for either */
    if (f >= 4 && f <= 7 && atomic_load(&R->sd_started)) m |= MS(TG_ESHUTDOWN);
    mck(R, K_RC, m_in(rc, m), "%s gave %s", what, m_rcname(rc));
    if (f >= 3 && f <= 7)
        mck(R, K_OUT, out.bits == 0, "%s gave %s but *out is %016" PRIx64, what,
            m_rcname(rc), out.bits);
}

enum { A_SUBMIT, A_DETACH, A_POLL, A_WAIT, A_WAITALL, A_WAITANY, A_RELEASE,
       A_KILL, A_INFO, A_OPCTL, A_GPAUSE, A_STATS, A_JSON, A_NAMES, A_COMPL,
       A_BAD, A_FOREIGN, A_IDLE, A_NULLS, A_N };
static const unsigned m_weights[A_N] = { 22, 6, 8, 12, 5, 5, 6, 5, 8, 6, 2, 3, 1,
                                         2, 4, 8, 2, 1, 2 };
static const char *const m_act_name[A_N] = {
    "submit", "submit detached", "poll", "wait", "wait_all", "wait_any",
    "release", "kill", "info", "op control", "pause/resume", "stats",
    "stats_json", "op_names/op_stats", "completions", "bad handle",
    "foreign", "wait_idle", "null/invalid args" };

static void m_step(mthread *T)
{
    mround *R = T->R;
    uint64_t r[8];
    for (int i = 0; i < 8; i++) r[i] = th_rand(&T->rng);
    m_resume_due(T, 0);
    unsigned tot = 0;
    for (int i = 0; i < A_N; i++) tot += m_weights[i];
    unsigned x = (unsigned)(r[0] % tot);
    int act = 0;
    while (x >= m_weights[act]) x -= m_weights[act++];
    int k = (int)(r[1] % (uint64_t)R->nslot);
    atomic_store_explicit(&T->cur_act, act, memory_order_relaxed);
    m_hash(T, (uint64_t)act, (uint64_t)k);
    switch (act) {
    case A_SUBMIT: m_do_submit(T, k, r, 0); break;
    case A_DETACH: m_do_submit(T, k, r, 1); break;
    case A_POLL: m_poll_slot(T, k, "poll step"); break;
    case A_WAIT: m_do_wait(T, k, r); break;
    case A_WAITALL: m_do_wait_all(T, r); break;
    case A_WAITANY: m_do_wait_any(T, r); break;
    case A_RELEASE: m_release_slot(T, k); break;
    case A_KILL: m_do_kill(T, k); break;
    case A_INFO: m_do_info(T, k, r); break;
    case A_OPCTL: m_do_opctl(T, r); break;
    case A_GPAUSE: m_do_gpause(T, r); break;
    case A_STATS: m_do_stats(T, r); break;
    case A_JSON: m_do_json(T); break;
    case A_NAMES: m_do_names(T, r); break;
    case A_COMPL: m_do_compl(T, r); break;
    case A_BAD: m_do_bad(T, k, r); break;
    case A_FOREIGN: m_do_foreign(T, k, r); break;
    case A_IDLE: {
        int64_t to = 1000 + (int64_t)(r[2] % 200000);
        m_hash(T, 280, 0);
        int rc = tg_wait_idle(R->s, to);
        mck(R, K_RC, rc == TG_OK || rc == TG_ETIMEDOUT,
            "tg_wait_idle(%lld) gave %s", (long long)to, m_rcname(rc));
        break;
    }
    default: m_do_nulls(T, r); break;
    }
}

static void *m_thread_main(void *p)
{
    mthread *T = p;
    tl_thr = T->idx;
    for (T->step = 0; T->step < T->nsteps; T->step++) {
        tl_step = T->step;
        atomic_store_explicit(&T->cur_step, T->step, memory_order_relaxed);
        m_step(T);
    }
    tl_step = T->nsteps;
    m_resume_due(T, 1);   /* every pause is resumed by the one who paused */
    atomic_store(&T->cur_act, -1);
    return NULL;
}

/* -------------------------------------------------------------- watchdog */

static void *m_watchdog(void *p)
{
    mround *R = p;
    int64_t end = th_now_ns() + R->budget_ns;
    while (!atomic_load(&R->done)) {
        if (th_now_ns() > end) {
            th_note("FAIL model watchdog: round %d of seed %llu still running "
                    "after %.1f s in phase %d (replay: TG_MODEL_SEED=%llu "
                    "build/tests-plain %s)", R->round,
                    (unsigned long long)R->seed, (double)R->budget_ns / 1e9,
                    atomic_load(&R->phase), (unsigned long long)R->seed, R->test);
            th_note("config: workers %u no_pin %d max_tokens %u mailbox %u policy "
                    "%s threads %d concurrent shutdown %d mode %s timeout %lld",
                    R->cfg.workers, R->cfg.no_pin, R->cfg.max_tokens,
                    R->cfg.mailbox_capacity,
                    R->cfg.full_policy ? "REJECT" : "BLOCK", R->nthreads,
                    R->concurrent_sd, R->sd_mode ? "CANCEL" : "DRAIN",
                    (long long)R->sd_timeout);
            for (int i = 0; i < R->nthreads; i++) {
                int a = atomic_load(&R->thr[i]->cur_act);
                th_note("thread %d: step %ld of %ld, in \"%s\"", i,
                        atomic_load(&R->thr[i]->cur_step), R->thr[i]->nsteps,
                        a >= 0 && a < A_N ? m_act_name[a] : "(done)");
            }
            fflush(stdout);
            _exit(3);
        }
        th_sleep_ms(20);
    }
    return NULL;
}

/* --------------------------------------------------------------- rounds */

typedef struct mopts {
    int tiny;          /* force tiny max_tokens and mailboxes */
    int force_sd;      /* -1 random, 0 after the threads, 1 concurrent */
} mopts;

static void m_setup_foreign(mround *R)
{
    tg_config fc;
    memset(&fc, 0, sizeof fc);
    fc.workers = 1;
    fc.no_pin = 1;
    fc.max_tokens = 64;
    /* a scheduler destroyed before ours exists: its handles go stale */
    tg_scheduler *d = NULL;
    CHECK_RC(tg_create(&fc, &d), TG_OK);
    if (d) {
        for (int i = 0; i < 4; i++) {
            tg_token t = TG_TOKEN_NONE;
            if (tg_submit(d, &f_op, &i, sizeof i, &t) == TG_OK) {
                CHECK_RC(tg_wait(d, t, -1, NULL), TG_OK);
                R->d_bits[R->nd++] = t.bits;
                if (i & 1) CHECK_RC(tg_release(d, t), TG_OK);
            }
        }
        tg_destroy(d);
    }
    CHECK_RC(tg_create(&fc, &R->fs), TG_OK);
    for (int i = 0; i < 8 && R->fs; i++) {
        tg_token t = TG_TOKEN_NONE;
        if (tg_submit(R->fs, &f_op, &i, sizeof i, &t) != TG_OK) continue;
        CHECK_RC(tg_wait(R->fs, t, -1, NULL), TG_OK);
        R->f_issued[R->nf_issued++] = t.bits;
        if (i % 3 == 0 && tg_release(R->fs, t) == TG_OK)
            R->f_stale[R->nf_stale++] = t.bits;
        else
            R->f_live[R->nf_live++] = t.bits;
    }
    if (R->nd == 0) R->d_bits[R->nd++] = 0x123456789ull;
    if (R->nf_live == 0) R->f_live[R->nf_live++] = 0x987654321ull;
    if (R->nf_stale == 0) R->f_stale[R->nf_stale++] = 0x55555ull;
}

static void m_sum_bodies(mround *R, long *started, long *returned)
{
    long s = 0, r = 0;
    for (int i = 0; i < R->nrec; i++) {
        r += atomic_load_explicit(&R->rec[i].returned, memory_order_acquire);
        s += atomic_load_explicit(&R->rec[i].started, memory_order_relaxed);
    }
    *started = s;
    *returned = r;
}

static int m_bodies_done(mround *R)
{
    long s, r;
    m_sum_bodies(R, &s, &r);
    return s == r;
}

static void m_drain_completions(mround *R, mthread *M)
{
    tg_token buf[16];
    size_t n;
    int guard = 0;
    while ((n = tg_completions(R->s, buf, 16)) > 0 && guard++ < 100000)
        for (size_t i = 0; i < n && i < 16; i++) m_on_completion(M, buf[i].bits);
}

/* Calls f for every token still held by a thread of the round. */
#define M_FOR_HELD(R, T, id, body)                                             \
    for (int m__t = 0; m__t <= (R)->nthreads; m__t++) {                        \
        mthread *T = (R)->thr[m__t];                                           \
        for (int m__k = 0; m__k < M_NSLOT + T->nburst; m__k++) {                \
            int id;                                                            \
            if (m__k < M_NSLOT) {                                              \
                if (T->slot[m__k].st != SL_HELD) continue;                     \
                id = T->slot[m__k].id;                                         \
            } else {                                                           \
                id = T->burst[m__k - M_NSLOT];                                 \
                if (!(R)->tok[id].held || (R)->tok[id].released) continue;     \
            }                                                                  \
            tl_thr = T->idx;                                                   \
            body                                                               \
        }                                                                      \
    }                                                                          \
    tl_thr = -1

static void m_poll_all_held(mround *R, int must_term, const char *why)
{
    M_FOR_HELD(R, T, id, {
        tg_state st = (tg_state)99;
        int rc = tg_poll(R->s, m_tk(R->tok[id].bits), &st);
        if (mck(R, K_HELD, rc == TG_OK, "%s: tg_poll of held token %d gave %s",
                why, id, m_rcname(rc))) {
            if (must_term)
                mck(R, must_term == 2 ? K_SHUTDOWN : K_IDLE,
                    th_is_terminal(st), "%s: token %d (%s) is still %s", why,
                    id, m_ops[R->tok[id].op].name, m_stname((int)st));
            m_observe(T, id, (int)st, "tg_poll", NULL);
        }
        tg_token_info info;
        rc = tg_info(R->s, m_tk(R->tok[id].bits), &info);
        if (mck(R, K_HELD, rc == TG_OK, "%s: tg_info of held token %d gave %s",
                why, id, m_rcname(rc)))
            m_check_info(T, id, &info, th_now_ns());
    });
}

static void m_check_totals(mround *R, const char *when, int exact_slots)
{
    struct tg_stats *st = &R->thr[R->nthreads]->cur;
    int rc = tg_stats(R->s, st);
    if (!mck(R, K_RC, rc == TG_OK, "tg_stats gave %s", m_rcname(rc))) return;
    long n_ok = atomic_load(&R->n_ok);
    uint64_t ended = st->completed + st->failed + st->killed + st->timed_out;
    mck(R, K_IDLE, st->live == 0, "%s: live %llu", when,
        (unsigned long long)st->live);
    mck(R, K_IDLE, st->submitted == (uint64_t)n_ok,
        "%s: tg_stats submitted %llu, tg_submit returned TG_OK %ld times", when,
        (unsigned long long)st->submitted, n_ok);
    mck(R, K_IDLE, ended == st->submitted,
        "%s: completed %llu + failed %llu + killed %llu + timed_out %llu = %llu, "
        "submitted %llu", when, (unsigned long long)st->completed,
        (unsigned long long)st->failed, (unsigned long long)st->killed,
        (unsigned long long)st->timed_out, (unsigned long long)ended,
        (unsigned long long)st->submitted);
    mck(R, K_IDLE, st->admitted <= st->submitted, "%s: admitted %llu > submitted %llu",
        when, (unsigned long long)st->admitted, (unsigned long long)st->submitted);
    /* the model's own observations are a lower bound of each count */
    uint64_t seen[8] = { 0 };
    long held = 0;
    M_FOR_HELD(R, T, id, {
        (void)T;
        held++;
    });
    for (int i = 0; i < R->nrec; i++)
        if (R->tok[i].used && R->tok[i].term) seen[R->tok[i].tstate]++;
    mck(R, K_IDLE, st->completed >= seen[TG_COMPLETED] &&
                       st->failed >= seen[TG_FAILED] &&
                       st->killed >= seen[TG_KILLED] &&
                       st->timed_out >= seen[TG_TIMEOUT],
        "%s: counts below what the model saw (completed %llu/%llu failed "
        "%llu/%llu killed %llu/%llu timed_out %llu/%llu)", when,
        (unsigned long long)st->completed, (unsigned long long)seen[TG_COMPLETED],
        (unsigned long long)st->failed, (unsigned long long)seen[TG_FAILED],
        (unsigned long long)st->killed, (unsigned long long)seen[TG_KILLED],
        (unsigned long long)st->timed_out, (unsigned long long)seen[TG_TIMEOUT]);
    if (exact_slots) {
        /* a worker frees a slot just after the function returns: settle */
        (void)TH_WAIT_UNTIL(tg_stats(R->s, st) == TG_OK &&
                                st->slots_in_use == (uint64_t)held, 2000);
        mck(R, K_IDLE, st->slots_in_use == (uint64_t)held,
            "%s: slots_in_use %llu, the model holds %ld unreleased handles and "
            "every function returned", when,
            (unsigned long long)st->slots_in_use, held);
    }
}

static void m_check_opstats(mround *R)
{
    struct tg_stats *st = &R->thr[R->nthreads]->cur;
    uint64_t sf = 0, sk = 0, st_o = 0, sr = 0;
    uint64_t seen_c[M_NOPS] = { 0 }, seen_f[M_NOPS] = { 0 }, fruns[M_NOPS] = { 0 };
    for (int i = 0; i < R->nrec; i++) {
        mtok *t = &R->tok[i];
        if (!t->used || !t->term) continue;
        if (t->tstate == TG_COMPLETED) seen_c[t->op]++;
        if (t->tstate == TG_FAILED) {
            seen_f[t->op]++;
            fruns[t->op] += (uint64_t)m_ops[t->op].max_retries + 1;
        }
    }
    for (int op = 0; op < M_NOPS; op++) {
        struct tg_op_stats os;
        int rc = tg_op_stats(R->s, m_ops[op].name, &os);
        if (!atomic_load(&R->op_submitted[op])) {
            mck(R, K_CONTROL, rc == TG_OK || rc == TG_ENOOP,
                "tg_op_stats(%s) gave %s", m_ops[op].name, m_rcname(rc));
            if (rc != TG_OK) continue;
        } else if (!mck(R, K_CONTROL, rc == TG_OK, "tg_op_stats(%s) gave %s",
                        m_ops[op].name, m_rcname(rc))) {
            continue;
        }
        uint64_t r0 = atomic_load(&R->ret0[op]), rn = atomic_load(&R->retnz[op]);
        mck(R, K_OPSTATS, os.attempts == os.successes + os.failures,
            "%s: attempts %llu != successes %llu + failures %llu", m_ops[op].name,
            (unsigned long long)os.attempts, (unsigned long long)os.successes,
            (unsigned long long)os.failures);
        mck(R, K_OPSTATS, os.successes <= r0 && os.failures <= rn,
            "%s: successes %llu failures %llu, but the functions returned 0 %llu "
            "times and non-zero %llu times", m_ops[op].name,
            (unsigned long long)os.successes, (unsigned long long)os.failures,
            (unsigned long long)r0, (unsigned long long)rn);
        mck(R, K_OPSTATS, os.successes >= seen_c[op] && os.failed >= seen_f[op] &&
                              os.failures >= fruns[op],
            "%s: successes %llu failed %llu failures %llu below the model's "
            "COMPLETED %llu, FAILED %llu (%llu failing runs)", m_ops[op].name,
            (unsigned long long)os.successes, (unsigned long long)os.failed,
            (unsigned long long)os.failures, (unsigned long long)seen_c[op],
            (unsigned long long)seen_f[op], (unsigned long long)fruns[op]);
        mck(R, K_OPSTATS, os.retried <= os.failures,
            "%s: retried %llu > failures %llu", m_ops[op].name,
            (unsigned long long)os.retried, (unsigned long long)os.failures);
        mck(R, K_OPSTATS, os.paused == 0, "%s: paused %d at idle with every pause "
            "resumed", m_ops[op].name, os.paused);
        sf += os.failed;
        sk += os.killed;
        st_o += os.timed_out;
        sr += os.retried;
    }
    mck(R, K_OPSTATS, sf == st->failed && sk == st->killed &&
                          st_o == st->timed_out && sr == st->retried,
        "per-op sums failed %llu killed %llu timed_out %llu retried %llu, "
        "tg_stats %llu %llu %llu %llu", (unsigned long long)sf,
        (unsigned long long)sk, (unsigned long long)st_o, (unsigned long long)sr,
        (unsigned long long)st->failed, (unsigned long long)st->killed,
        (unsigned long long)st->timed_out, (unsigned long long)st->retried);
    struct tg_op_stats os;
    int rc = tg_op_stats(R->s, m_never_name, &os);
    mck(R, K_CONTROL, rc == TG_ENOOP, "tg_op_stats(never submitted) gave %s",
        m_rcname(rc));
}

/* One token of every op, submitted, awaited and released by the test
   thread before the other threads start (so every op is registered). */
static void m_warm_ops(mround *R, mthread *M)
{
    for (int op = 0; op < M_NOPS && M->id_next < M->id_end; op++) {
        int id = M->id_next++;
        mtok *t = &R->tok[id];
        margs a;
        m_make_args(R, id, op, (uint64_t)op * 977, 1u << 16, 0, &a);
        R->payload[id] = op;
        t->used = 1;
        t->owner = M->idx;
        t->op = op;
        t->a = a;
        t->ctl0 = atomic_load(&R->ctl_done[op]);
        tg_token out = m_tk(0xA5A5A5A5A5A5A5A5ull);
        t->t0 = th_now_ns();
        int rc = tg_submit_timeout(R->s, &m_ops[op], &a, sizeof a, &out, TH_SEC);
        t->t1 = th_now_ns();
        if (!mck(R, K_IDLE, rc == TG_OK, "warm-up: tg_submit_timeout(%s, 1 s) on "
                 "an idle scheduler whose every handle was released gave %s",
                 m_ops[op].name, m_rcname(rc))) {
            t->rejected = 1;
            continue;
        }
        atomic_fetch_add(&R->n_ok, 1);
        atomic_store(&R->op_submitted[op], 1);
        t->held = 1;
        t->bits = out.bits;
        m_map_put(R, out.bits, id);
        m_held_inc(R);
        tg_value v;
        rc = tg_wait(R->s, out, -1, &v);
        int st = m_rc_state(rc);
        tl_thr = M->idx;
        if (mck(R, K_HELD, st >= 0, "warm-up tg_wait(-1) gave %s", m_rcname(rc)))
            m_observe(M, id, st, "tg_wait", rc == TG_OK ? &v : NULL);
        atomic_fetch_sub(&R->held_now, 1);
        rc = tg_release(R->s, out);
        if (mck(R, K_HELD, rc == TG_OK, "warm-up tg_release gave %s", m_rcname(rc)))
            t->released = 1;
        tl_thr = -1;
    }
}

/* The test thread submits a burst of tokens just before the shutdown. */
static void m_burst(mround *R, mthread *M, uint64_t *rng)
{
    int nb = 8 + (int)(th_rand(rng) % (M_BURST - 8));
    for (int i = 0; i < nb && M->id_next < M->id_end; i++) {
        uint64_t r1 = th_rand(rng), r2 = th_rand(rng), r3 = th_rand(rng);
        int op = (int)(r1 % M_NOPS);
        int held = (r1 >> 8) % 10 < 7;
        int id = M->id_next++;
        mtok *t = &R->tok[id];
        margs a;
        m_make_args(R, id, op, r2, r3, 1, &a);
        R->payload[id] = (int64_t)(r1 >> 40);
        t->used = 1;
        t->owner = M->idx;
        t->op = op;
        t->a = a;
        t->detached = !held;
        t->ctl0 = atomic_load(&R->ctl_done[op]);
        tg_token out = m_tk(0xA5A5A5A5A5A5A5A5ull);
        t->t0 = th_now_ns();
        int rc = tg_submit_timeout(R->s, &m_ops[op], &a, sizeof a,
                                   held ? &out : NULL, TH_MS);
        t->t1 = th_now_ns();
        unsigned m = MS(TG_OK) | (R->cfg.full_policy == TG_FULL_REJECT
                                      ? MS(TG_EBUSY) : MS(TG_ETIMEDOUT));
        mck(R, K_RC, m_in(rc, m), "burst tg_submit_timeout(%s) gave %s",
            m_ops[op].name, m_rcname(rc));
        if (rc == TG_OK) {
            atomic_fetch_add(&R->n_ok, 1);
            atomic_store(&R->op_submitted[op], 1);
            if (held) {
                mck(R, K_OUT, out.bits != 0, "burst submit OK with *out NONE");
                t->held = 1;
                t->bits = out.bits;
                m_map_put(R, out.bits, id);
                m_held_inc(R);
                M->burst[M->nburst++] = id;
            }
        } else {
            t->rejected = 1;
        }
    }
}

static void m_do_shutdown(mround *R)
{
    atomic_store(&R->sd_started, 1);
    int64_t t0 = th_now_ns();
    int rc = tg_shutdown(R->s, R->sd_mode, R->sd_timeout);
    int64_t el = th_now_ns() - t0;
    R->sd_rc = rc;
    atomic_store(&R->sd_returned, 1);
    mck(R, K_SHUTDOWN, rc == TG_OK || rc == TG_ETIMEDOUT,
        "tg_shutdown(%s, %lld) gave %s", R->sd_mode ? "CANCEL" : "DRAIN",
        (long long)R->sd_timeout, m_rcname(rc));
    mck(R, K_SHUTDOWN, el <= R->sd_timeout + 3 * TH_SEC,
        "tg_shutdown(%s, %lld ns) took %lld ns", R->sd_mode ? "CANCEL" : "DRAIN",
        (long long)R->sd_timeout, (long long)el);
    if (rc == TG_ETIMEDOUT)
        mck(R, K_SHUTDOWN, el >= R->sd_timeout - M_STAMP_SLACK_NS,
            "tg_shutdown gave TG_ETIMEDOUT after %lld ns of %lld", (long long)el,
            (long long)R->sd_timeout);
    if (rc == TG_OK) {
        long s, r;
        m_sum_bodies(R, &s, &r);
        mck(R, K_SHUTDOWN, s == r,
            "tg_shutdown(%s) returned TG_OK while functions still ran (started "
            "%ld, returned %ld)", R->sd_mode ? "CANCEL" : "DRAIN", s, r);
    }
}

/* After the shutdown: every contract of a shut-down scheduler. */
static void m_after_shutdown(mround *R, mthread *M)
{
    m_poll_all_held(R, 2, "after tg_shutdown");
    /* waits return at once now; -1 is safe because every token ended */
    M_FOR_HELD(R, T, id, {
        tg_value v;
        int rc = tg_wait(R->s, m_tk(R->tok[id].bits), -1, &v);
        int st = m_rc_state(rc);
        if (mck(R, K_SHUTDOWN, st >= 0, "after tg_shutdown: tg_wait(-1) of token "
                "%d gave %s", id, m_rcname(rc)))
            m_observe(T, id, st, "tg_wait", rc == TG_OK ? &v : NULL);
    });
    int rc = tg_wait_idle(R->s, TH_SEC);
    mck(R, K_SHUTDOWN, rc == TG_OK, "tg_wait_idle after tg_shutdown gave %s",
        m_rcname(rc));
    m_check_totals(R, "after tg_shutdown", 0);
    m_drain_completions(R, M);
    M_FOR_HELD(R, T, id, {
        (void)T;
        R->tok[id].held_at_end = 1;
    });
    /* nothing goes in any more */
    margs a;
    tg_token out = m_tk(0xA5A5A5A5A5A5A5A5ull);
    for (int i = 0; i < 3 && M->id_next < M->id_end; i++) {
        int id = M->id_next++;
        m_make_args(R, id, OP_PLAIN, (uint64_t)i, 0, 0, &a);
        R->tok[id].used = 1;
        R->tok[id].rejected = 1;
        R->tok[id].owner = M->idx;
        out = m_tk(0xA5A5A5A5A5A5A5A5ull);
        if (i == 0) rc = tg_submit(R->s, &m_ops[OP_PLAIN], &a, sizeof a, &out);
        else if (i == 1) rc = tg_submit_timeout(R->s, &m_ops[OP_PLAIN], &a, sizeof a, &out, 0);
        else rc = tg_submit(R->s, &m_ops[OP_PLAIN], &a, sizeof a, NULL);
        mck(R, K_SHUTDOWN, rc == TG_ESHUTDOWN, "tg_submit after tg_shutdown gave %s",
            m_rcname(rc));
        if (i < 2)
            mck(R, K_OUT, out.bits == 0, "tg_submit after shutdown: *out not NONE");
        if (rc == TG_OK) atomic_fetch_add(&R->n_ok, 1);
    }
    rc = tg_pause(R->s);
    mck(R, K_CONTROL, rc == TG_ESHUTDOWN, "tg_pause after tg_shutdown gave %s",
        m_rcname(rc));
    rc = tg_resume(R->s);
    mck(R, K_CONTROL, rc == TG_ESHUTDOWN, "tg_resume after tg_shutdown gave %s",
        m_rcname(rc));
    for (int op = 0; op < M_NOPS; op++) {
        if (!atomic_load(&R->op_submitted[op])) continue;
        rc = tg_op_pause(R->s, m_ops[op].name);
        mck(R, K_CONTROL, rc == TG_ESHUTDOWN, "tg_op_pause(%s) after shutdown gave %s",
            m_ops[op].name, m_rcname(rc));
        rc = tg_op_drain(R->s, m_ops[op].name);
        mck(R, K_CONTROL, rc == TG_ESHUTDOWN, "tg_op_drain(%s) after shutdown gave %s",
            m_ops[op].name, m_rcname(rc));
        break;
    }
    rc = tg_shutdown(R->s, !R->sd_mode, 0);
    mck(R, K_SHUTDOWN, rc == TG_OK, "a second tg_shutdown gave %s (idempotent: TG_OK)",
        m_rcname(rc));
    /* give every handle back; then they are stale */
    M_FOR_HELD(R, T, id, {
        (void)T;
        atomic_fetch_sub(&R->held_now, 1);
        rc = tg_release(R->s, m_tk(R->tok[id].bits));
        if (mck(R, K_HELD, rc == TG_OK, "tg_release of token %d after shutdown "
                "gave %s", id, m_rcname(rc)))
            R->tok[id].released = 1;
    });
    for (int t = 0; t <= R->nthreads; t++) {
        mthread *T = R->thr[t];
        for (int k = 0; k < M_NSLOT; k++)
            if (T->slot[k].st == SL_HELD && R->tok[T->slot[k].id].released)
                T->slot[k].st = SL_STALE;
        for (int k = 0; k < M_NSLOT; k++) {
            if (T->slot[k].st != SL_STALE) continue;
            tg_state st;
            rc = tg_poll(R->s, m_tk(T->slot[k].bits), &st);
            mck(R, K_STALE, rc == TG_ESTALE, "tg_poll of a released handle after "
                "shutdown gave %s", m_rcname(rc));
        }
    }
    if (TH_WAIT_UNTIL(m_bodies_done(R), 10000)) {
        struct tg_stats *st = &M->cur;
        (void)TH_WAIT_UNTIL(tg_stats(R->s, st) == TG_OK && st->slots_in_use == 0,
                            2000);
        if (mck(R, K_RC, tg_stats(R->s, st) == TG_OK, "tg_stats after shutdown"))
            mck(R, K_SHUTDOWN, st->slots_in_use == 0 && st->live == 0,
                "every handle released and every function returned 2 s ago, "
                "yet slots_in_use %llu live %llu",
                (unsigned long long)st->slots_in_use, (unsigned long long)st->live);
    }
}

/* After tg_destroy: what the bodies recorded against the model. */
static void m_after_destroy(mround *R)
{
    long collisions = 0;
    /* forged and foreign handles: not TG_OK unless the bits are a handle we
       were given (then the library cannot tell them apart) */
    for (int t = 0; t <= R->nthreads; t++) {
        mthread *T = R->thr[t];
        tl_thr = t;
        for (int i = 0; i < T->nbad; i++) {
            mbad *b = &T->bad[i];
            int known = m_map_get(R, b->bits) >= 0;
            for (int id = 0; id < R->nrec && !known; id++)
                if (R->tok[id].used && !R->tok[id].held &&
                    atomic_load(&R->rec[id].self_bits) == b->bits)
                    known = 1;
            if (known) {
                collisions++;
                continue;
            }
            tl_step = b->step;
            mck(R, K_BAD, 0, "%s with a %s handle %016" PRIx64 " gave %s (only "
                "TG_EINVAL or TG_ESTALE are allowed)", m_bad_call[b->call],
                m_bh_name[b->kind], b->bits, m_rcname(b->rc));
        }
        tl_step = -1;
        mck(R, K_BAD, T->bad_overflow == 0, "%ld more bad-handle results lost",
            T->bad_overflow);
        for (int i = 0; i < T->ncu; i++) {
            mcompl *c = &T->cu[i];
            int id = m_map_get(R, c->bits);
            tl_step = c->step;
            if (!mck(R, K_COMPL, id >= 0, "tg_completions gave %016" PRIx64
                     ", which is no handle tg_submit gave out", c->bits))
                continue;
            mtok *tk = &R->tok[id];
            mck(R, K_COMPL, (c->rc == TG_OK && th_is_terminal((tg_state)c->st)) ||
                                c->rc == TG_ESTALE,
                "tg_completions gave token %d, then tg_poll gave %s state %s", id,
                m_rcname(c->rc), m_stname(c->st));
            mck(R, K_COMPL, (m_ops[tk->op].flags & TG_OP_NOTIFY) != 0,
                "tg_completions gave token %d of op %s", id, m_ops[tk->op].name);
            int n = atomic_fetch_add(&tk->ncompl, 1) + 1;
            mck(R, K_COMPL, n == 1, "tg_completions gave token %d %d times", id, n);
        }
        tl_step = -1;
    }
    tl_thr = -1;
    for (int id = 0; id < R->nrec; id++) {
        mtok *t = &R->tok[id];
        mrec *r = &R->rec[id];
        int ret = atomic_load_explicit(&r->returned, memory_order_acquire);
        int sta = atomic_load_explicit(&r->started, memory_order_relaxed);
        tl_thr = t->used ? t->owner : -1;
        mck(R, K_SHUTDOWN, ret == sta,
            "token %d: a function still ran after tg_destroy (started %d, "
            "returned %d)", id, sta, ret);
        mck(R, K_BODY, atomic_load(&r->bad) == 0,
            "token %d: inside its function tg_self() was NONE or "
            "tg_current_core() out of range", id);
        if (!t->used) {
            mck(R, K_NOTRUN, sta == 0, "id %d was never submitted but ran", id);
            continue;
        }
        const tg_op *op = &m_ops[t->op];
        if (t->rejected)
            mck(R, K_NOTRUN, sta == 0,
                "token %d (%s): its submission was refused, yet it ran %d times",
                id, op->name, sta);
        mck(R, K_NOTRUN, sta <= op->max_retries + 1,
            "token %d (%s): ran %d times, max_retries %d", id, op->name, sta,
            op->max_retries);
        int n = atomic_load(&t->ncompl);
        if (!(op->flags & TG_OP_NOTIFY) || !t->held)
            mck(R, K_COMPL, n == 0, "token %d (%s, %s) was reported by "
                "tg_completions %d times", id, op->name,
                t->held ? "held" : "detached", n);
        else if (t->held_at_end && t->term &&
                 !(t->tsd && R->sd_rc == TG_ETIMEDOUT))
            mck(R, K_COMPL, n == 1, "notify token %d (%s), held until the end, "
                "ended %s, was reported by tg_completions %d times", id,
                op->name, m_stname(t->tstate), n);
        else
            mck(R, K_COMPL, n <= 1, "notify token %d reported %d times", id, n);
        if (!t->term) continue;
        int sd_to = t->tsd && R->sd_rc == TG_ETIMEDOUT;
        if (t->tsd && t->tstate != TG_TIMEOUT && !sd_to)
            mck(R, K_RETURNED, t->tret_ok,
                "token %d (%s): seen %s during a shutdown that returned %s, "
                "while its function had not returned", id, op->name,
                m_stname(t->tstate), m_rcname(R->sd_rc));
        if (t->tstate == TG_KILLED && !t->texposed && t->tsd) {
            int ok = R->sd_mode == TG_CANCEL || sd_to ||
                     (R->concurrent_sd && t->sd_at_submit);
            mck(R, K_KILLED, ok,
                "token %d (%s) ended KILLED in a TG_DRAIN shutdown that returned "
                "%s; nobody killed it and it was admitted before the shutdown",
                id, op->name, m_rcname(R->sd_rc));
        }
        if (t->tstate == TG_KILLED && t->tstarted == 0 && !sd_to)
            mck(R, K_NOTRUN, sta == 0,
                "token %d (%s) was seen KILLED before it started, yet its "
                "function ran %d times", id, op->name, sta);
        if (t->tstate != TG_TIMEOUT && t->tret_ok && !sd_to)
            mck(R, K_NOTRUN, sta == t->tstarted,
                "token %d (%s) was seen %s after %d runs, it ran %d times in all",
                id, op->name, m_stname(t->tstate), t->tstarted, sta);
    }
    tl_thr = -1;
    tl_thr = -1;
    mck(R, K_LIMIT, atomic_load(&R->lim_max) <= (int)m_ops[OP_LIMITED].max_live,
        "%d functions of %s (max_live %u) ran at once", atomic_load(&R->lim_max),
        m_ops[OP_LIMITED].name, m_ops[OP_LIMITED].max_live);
    mck(R, K_BODY, atomic_load(&m_bad_args) == 0,
        "%d functions found their argument bytes corrupt", atomic_load(&m_bad_args));
    R->collisions = collisions;
}

typedef struct mresult {
    uint64_t callhash[M_MAX_THREADS + 1];
    int nthreads;
    long checks, failures;
} mresult;

static void m_round(const char *test, uint64_t seed, int round, long steps,
                    const mopts *o, mresult *res)
{
    mround *R = calloc(1, sizeof *R);
    REQUIRE(R != NULL);
    uint64_t rng = m_mix(seed ^ m_mix((uint64_t)round * 7919 + 17));
    R->seed = seed;
    R->round = round;
    R->test = test;
    pthread_mutex_init(&R->map_lock, NULL);
    pthread_mutex_init(&R->msg_lock, NULL);

    /* the config of the round */
    tg_config *c = &R->cfg;
    c->workers = 1 + (unsigned)(th_rand(&rng) % 3);
    c->no_pin = (int)(th_rand(&rng) % 2);
    {
        unsigned m = (unsigned)(th_rand(&rng) % 10);
        uint64_t v = th_rand(&rng);
        if (o->tiny || m < 4) c->max_tokens = 1 + (unsigned)(v % 8);
        else if (m < 7) c->max_tokens = 16 + (unsigned)(v % 241);
        else c->max_tokens = 0;
        v = th_rand(&rng);
        c->mailbox_capacity = (o->tiny || v % 2) ? 2 + (unsigned)((v >> 8) % 7) : 0;
    }
    c->full_policy = (th_rand(&rng) % 2) ? TG_FULL_REJECT : TG_FULL_BLOCK;
    R->workers = c->workers;
    R->nthreads = 2 + (int)(th_rand(&rng) % 3);
    R->concurrent_sd = o->force_sd >= 0 ? o->force_sd : (th_rand(&rng) % 10 < 3);
    R->sd_mode = (th_rand(&rng) % 2) ? TG_CANCEL : TG_DRAIN;
    {
        static const int64_t tos[4] = { 0, 20000, 2 * TH_MS, 5 * TH_SEC };
        R->sd_timeout = tos[th_rand(&rng) % 4];
    }
    double sd_at = 0.2 + (double)(th_rand(&rng) % 60) / 100.0;
    R->warm = (int)(th_rand(&rng) % 2);
    R->unbounded_submit_ok = c->full_policy == TG_FULL_BLOCK &&
                             (c->max_tokens == 0 ||
                              c->max_tokens >= (unsigned)(R->nthreads * M_NSLOT + 8));
    R->nslot = M_NSLOT;
    if (c->max_tokens && c->max_tokens < (unsigned)(R->nthreads * M_NSLOT))
        R->nslot = 2 + (int)(c->max_tokens / (unsigned)R->nthreads);
    if (R->nslot > M_NSLOT) R->nslot = M_NSLOT;
    R->steps = steps;
    /* 60 s by default, plus 60 s per 100,000 steps */
    long base_budget = th_env_long("TG_MODEL_BUDGET", 60);
    R->budget_ns = (int64_t)base_budget * TH_SEC +
                   (int64_t)((double)steps / M_MAX_ROUND_STEPS * 60e9);

    th_note("round %d: workers %u no_pin %d max_tokens %u mailbox %u %s, %d "
            "threads x %ld steps, ops %s, shutdown %s %s timeout %lld ns", round,
            c->workers, c->no_pin, c->max_tokens, c->mailbox_capacity,
            c->full_policy ? "REJECT" : "BLOCK", R->nthreads,
            steps / R->nthreads, R->warm ? "warm" : "cold",
            R->concurrent_sd ? "during the calls" : "after",
            R->sd_mode ? "CANCEL" : "DRAIN", (long long)R->sd_timeout);

    /* the model's memory */
    long per = steps / R->nthreads + 4;
    R->per_thread = (int)per;
    R->nrec = (int)(per * R->nthreads) + M_BURST + M_NOPS + 8;
    R->rec = calloc((size_t)R->nrec, sizeof *R->rec);
    R->tok = calloc((size_t)R->nrec, sizeof *R->tok);
    R->payload = calloc((size_t)R->nrec, sizeof *R->payload);
    R->plain_out = calloc((size_t)R->nrec, sizeof *R->plain_out);
    R->map_cap = 1;
    while (R->map_cap < (size_t)R->nrec * 2) R->map_cap <<= 1;
    R->map_bits = calloc(R->map_cap, sizeof *R->map_bits);
    R->map_id = calloc(R->map_cap, sizeof *R->map_id);
    for (int t = 0; t <= R->nthreads; t++) R->thr[t] = calloc(1, sizeof(mthread));
    REQUIRE(R->rec && R->tok && R->payload && R->plain_out && R->map_bits &&
            R->map_id);
    for (int t = 0; t <= R->nthreads; t++) {
        mthread *T = R->thr[t];
        REQUIRE(T != NULL);
        T->R = R;
        T->idx = t;
        T->rng = m_mix(seed ^ m_mix((uint64_t)round * 1000003 + (uint64_t)t * 31 + 5));
        T->nsteps = t < R->nthreads ? steps / R->nthreads : 0;
        T->id_next = t * (int)per;
        T->id_end = t < R->nthreads ? T->id_next + (int)per : R->nrec;
        T->fd = INT_MIN;
        T->callhash = 0xCBF29CE484222325ull;
        {
            const char *tp = getenv("TG_MODEL_TRACE");
            if (tp && *tp) {
                static int runs;
                char path[512];
                snprintf(path, sizeof path, "%s.%d.r%d.t%d", tp, runs, round, t);
                T->trace = fopen(path, "w");
                if (t == R->nthreads) runs++;
            }
        }
        for (int k = 0; k < M_NSLOT; k++) T->slot[k].id = -1;
        atomic_init(&T->cur_step, 0);
        atomic_init(&T->cur_act, -1);
    }
    mthread *M = R->thr[R->nthreads];

    m_setup_foreign(R);
    int rc = tg_create(c, &R->s);
    CHECK_RC(rc, TG_OK);
    if (rc != TG_OK) {
        if (R->fs) tg_destroy(R->fs);
        return;
    }

    pthread_t wd;
    int wd_ok = pthread_create(&wd, NULL, m_watchdog, R) == 0;
    if (R->warm) m_warm_ops(R, M);
    CHECK(wd_ok);
    int64_t t_start = th_now_ns();
    atomic_store(&R->phase, 1);
    for (int t = 0; t < R->nthreads; t++)
        CHECK(pthread_create(&R->thr[t]->th, NULL, m_thread_main, R->thr[t]) == 0);
    if (R->concurrent_sd) {
        long target = (long)(sd_at * (double)(steps - R->nthreads));
        (void)TH_WAIT_UNTIL(({
            long p = 0;
            for (int t = 0; t < R->nthreads; t++)
                p += atomic_load_explicit(&R->thr[t]->cur_step,
                                          memory_order_relaxed);
            p >= target;
        }), 60000);
        atomic_store(&R->phase, 2);
        tl_thr = -1;
        m_do_shutdown(R);
    }
    for (int t = 0; t < R->nthreads; t++) pthread_join(R->thr[t]->th, NULL);
    int64_t t_threads = th_now_ns();

    tl_thr = -1;
    tl_step = -1;
    if (!R->concurrent_sd) {
        atomic_store(&R->phase, 3);
        rc = tg_wait_idle(R->s, 30 * TH_SEC);
        mck(R, K_IDLE, rc == TG_OK, "tg_wait_idle(30 s) after every pause was "
            "resumed gave %s", m_rcname(rc));
        int done = TH_WAIT_UNTIL(m_bodies_done(R), 10000);
        mck(R, K_IDLE, done, "functions still running 10 s after tg_wait_idle");
        m_drain_completions(R, M);
        m_check_totals(R, "at idle", done);
        if (done) m_check_opstats(R);
        m_poll_all_held(R, 1, "at idle");
        m_do_json(M);
        m_do_names(M, (uint64_t[8]){ 0 });
        /* the shutdown: a burst, maybe paused, so it has work to do */
        atomic_store(&R->phase, 4);
        m_burst(R, M, &rng);
        if (th_rand(&rng) % 3 == 0) CHECK_RC(tg_pause(R->s), TG_OK);
        if (th_rand(&rng) % 3 == 0) {
            int op = (int)(th_rand(&rng) % M_NOPS);
            rc = tg_op_pause(R->s, m_ops[op].name);
            CHECK(rc == TG_OK || (rc == TG_ENOOP && !atomic_load(&R->op_submitted[op])));
        }
        m_do_shutdown(R);
    }
    atomic_store(&R->phase, 5);
    m_after_shutdown(R, M);
    atomic_store(&R->phase, 6);
    tg_destroy(R->s);
    R->s = NULL;
    m_after_destroy(R);
    /* the second scheduler was not touched by anything done to ours */
    for (int i = 0; i < R->nf_live; i++) {
        tg_state st = (tg_state)99;
        rc = tg_poll(R->fs, m_tk(R->f_live[i]), &st);
        mck(R, K_FOREIGN, rc == TG_OK && st == TG_COMPLETED,
            "second scheduler: its held token %d gave %s, %s", i, m_rcname(rc),
            m_stname((int)st));
    }
    tg_destroy(R->fs);
    atomic_store(&R->done, 1);
    if (wd_ok) pthread_join(wd, NULL);
    int64_t t_end = th_now_ns();

    /* report */
    long checks = 0, fails = 0;
    for (int k = 0; k < K_N; k++) {
        unsigned long long p = atomic_load(&R->kpass[k]), f = atomic_load(&R->kfail[k]);
        checks += (long)(p + f);
        fails += (long)f;
        if (f) {
            th_note("round %d seed %llu: %s (%s) failed %llu of %llu checks; first:",
                    round, (unsigned long long)seed, m_kind_name[k], m_kind_text[k],
                    f, p + f);
            for (int i = 0; i < R->nmsg[k]; i++) th_note("    %s", R->msg[k][i]);
        }
        CHECK_EQ(atomic_load(&R->kfail[k]), 0);
    }
    if (th_env_long("TG_MODEL_VERBOSE", 0)) {
        char line[1024];
        int n = 0;
        for (int k = 0; k < K_N && n < (int)sizeof line - 40; k++)
            n += snprintf(line + n, sizeof line - (size_t)n, " %s=%llu",
                          m_kind_name[k] + 2,
                          (unsigned long long)(atomic_load(&R->kpass[k]) +
                                               atomic_load(&R->kfail[k])));
        th_note("round %d checks:%s", round, line);
        long seen[8] = { 0 }, nterm = 0, nrej = 0, ndet = 0;
        for (int i = 0; i < R->nrec; i++) {
            if (!R->tok[i].used) continue;
            if (R->tok[i].term) {
                seen[R->tok[i].tstate]++;
                nterm++;
            }
            nrej += R->tok[i].rejected;
            ndet += R->tok[i].detached && !R->tok[i].rejected;
        }
        th_note("round %d: ends seen completed %ld failed %ld killed %ld "
                "timeout %ld (of %ld), refused submissions %ld, detached %ld",
                round, seen[TG_COMPLETED], seen[TG_FAILED], seen[TG_KILLED],
                seen[TG_TIMEOUT], nterm, nrej, ndet);
    }
    th_note("round %d: %ld model checks, %ld failed; %ld tokens submitted, "
            "%ld forged-handle collisions; threads %.0f ms, total %.0f ms", round,
            checks, fails, atomic_load(&R->n_ok), R->collisions,
            (double)(t_threads - t_start) / 1e6, (double)(t_end - t_start) / 1e6);
    if (res) {
        res->nthreads = R->nthreads;
        for (int t = 0; t <= R->nthreads; t++) res->callhash[t] = R->thr[t]->callhash;
        res->checks = checks;
        res->failures = fails;
    }
    for (int t = 0; t <= R->nthreads; t++) {
        if (R->thr[t]->trace) fclose(R->thr[t]->trace);
        free(R->thr[t]);
    }
    free(R->rec);
    free(R->tok);
    free(R->payload);
    free(R->plain_out);
    free(R->map_bits);
    free(R->map_id);
    pthread_mutex_destroy(&R->map_lock);
    pthread_mutex_destroy(&R->msg_lock);
    free(R);
}

/* ---------------------------------------------------------------- tests */

static uint64_t m_seed(const char *test)
{
    const char *e = getenv("TG_MODEL_SEED");
    uint64_t seed;
    if (e && *e) {
        char *end;
        seed = strtoull(e, &end, 10);
        if (*end != '\0') seed = m_mix((uint64_t)strlen(e));
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = m_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                     ((uint64_t)getpid() << 40)) % 1000000000000ull;
    }
    th_note("model seed %llu (replay: TG_MODEL_SEED=%llu build/tests-plain %s)",
            (unsigned long long)seed, (unsigned long long)seed, test);
    return seed;
}

/* Steps and rounds from the environment; huge step counts become more
   rounds, so the model's memory stays bounded. */
static void m_size(long *steps, long *rounds)
{
    *steps = th_env_long("TG_MODEL_STEPS", M_DEFAULT_STEPS);
    *rounds = th_env_long("TG_MODEL_ROUNDS", M_DEFAULT_ROUNDS);
    if (*steps > M_MAX_ROUND_STEPS) {
        *rounds *= (*steps + M_MAX_ROUND_STEPS - 1) / M_MAX_ROUND_STEPS;
        *steps = M_MAX_ROUND_STEPS;
    }
    if (*steps < 50) *steps = 50;
}

/* Every config at random; some rounds shut down while the threads run. */
TG_TEST(model_mixed)
{
    uint64_t seed = m_seed("model_mixed");
    long steps, rounds;
    m_size(&steps, &rounds);
    mopts o = { .tiny = 0, .force_sd = -1 };
    for (long r = 0; r < rounds; r++)
        m_round("model_mixed", seed, (int)r, steps, &o, NULL);
}

/* Tiny token limits and mailboxes: admission, full policies, max_live. */
TG_TEST(model_tiny_limits)
{
    uint64_t seed = m_seed("model_tiny_limits");
    long steps, rounds;
    m_size(&steps, &rounds);
    mopts o = { .tiny = 1, .force_sd = -1 };
    for (long r = 0; r < (rounds + 1) / 2; r++)
        m_round("model_tiny_limits", seed, 100 + (int)r,
                steps / 2 > 200 ? steps / 2 : 200, &o, NULL);
}

/* The same seed twice: every thread makes the same sequence of calls. */
TG_TEST(model_replay)
{
    uint64_t seed = m_seed("model_replay");
    mresult a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    mopts o = { .tiny = 0, .force_sd = 0 };
    m_round("model_replay", seed, 900, 600, &o, &a);
    m_round("model_replay", seed, 900, 600, &o, &b);
    CHECK_EQ(a.nthreads, b.nthreads);
    for (int t = 0; t <= a.nthreads && t <= M_MAX_THREADS; t++)
        CHECK_EQ(a.callhash[t], b.callhash[t]);
}
