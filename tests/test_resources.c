/* test_resources.c - lifecycle and resources against hostile conditions:
   allocation failure at every step, an allocator that gives only pointer
   alignment, shutdown racing pauses, timeouts near INT64_MAX, ops freed
   after their tokens, many ops of one name, fork(), exact busy time under
   nested waits, and counts that follow what a wait observed. */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------- a counting, failing allocator */

typedef struct rs_alloc {
    atomic_long calls;        /* allocations asked for */
    atomic_long fail_at;      /* the call (1-based) that fails; 0: none */
    atomic_long live;         /* allocations not yet freed */
    atomic_long bad_free;     /* frees whose size differs from the allocation's */
} rs_alloc;

/* Each block sits 16 bytes past a 64-byte line (aligned for any object
   malloc would take, never for a cache line), after a header holding its
   size and the raw pointer. */
static void *rs_alloc_fn(size_t size, void *user)
{
    rs_alloc *a = (rs_alloc *)user;
    long n = atomic_fetch_add(&a->calls, 1) + 1;
    if (atomic_load(&a->fail_at) == n) return NULL;
    char *raw = (char *)malloc(size + 160);
    if (!raw) return NULL;
    uintptr_t p = ((uintptr_t)raw + 64 + 63) & ~(uintptr_t)63;
    p += 16;                                /* 16-byte aligned, never 64 */
    ((size_t *)p)[-1] = size;
    ((void **)p)[-2] = raw;
    atomic_fetch_add(&a->live, 1);
    return (void *)p;
}

static void rs_free_fn(void *ptr, size_t size, void *user)
{
    rs_alloc *a = (rs_alloc *)user;
    if (!ptr) return;
    if (((size_t *)ptr)[-1] != size) atomic_fetch_add(&a->bad_free, 1);
    atomic_fetch_sub(&a->live, 1);
    free(((void **)ptr)[-2]);
}

static void rs_alloc_init(rs_alloc *a, long fail_at)
{
    atomic_init(&a->calls, 0);
    atomic_init(&a->fail_at, fail_at);
    atomic_init(&a->live, 0);
    atomic_init(&a->bad_free, 0);
}

static int rs_args_fn(const void *args, tg_value *result)
{
    const unsigned char *p = (const unsigned char *)args;
    int64_t sum = 0;
    for (int i = 0; i < 100; i++) sum += p[i];
    result->i = sum;
    return 0;
}

/* a name too long to be kept inline: the registry allocates its copy */
static const tg_op rs_args_op = {
    .name = "resources.an_operation_with_a_name_longer_than_forty_eight_bytes", .fn = rs_args_fn };

/* A small workload: large arguments, a long op name, an export. Returns
   -1 if a result was wrong; refusals for memory are fine. */
static int rs_workload(tg_scheduler *s)
{
    unsigned char args[100];
    for (int i = 0; i < 100; i++) args[i] = (unsigned char)i;
    tg_token t[8];
    int wrong = 0;
    for (int i = 0; i < 8; i++) {
        int rc = tg_submit(s, &rs_args_op, args, sizeof args, &t[i]);
        if (rc != TG_OK) {
            if (rc != TG_ENOMEM || t[i].bits != 0) wrong = 1;
            t[i].bits = 0;
        }
    }
    for (int i = 0; i < 8; i++) {
        if (!t[i].bits) continue;
        tg_value v;
        if (tg_wait(s, t[i], TH_LONG_NS, &v) != TG_OK || v.i != 4950) wrong = 1;
        if (tg_release(s, t[i]) != TG_OK) wrong = 1;
    }
    size_t need = 0;
    int rc = tg_stats_json(s, NULL, 0, &need);
    if (rc == TG_ERANGE) {
        char *buf = (char *)malloc(need);
        size_t len;
        if (buf) {
            rc = tg_stats_json(s, buf, need, &len);
            if (rc != TG_OK && rc != TG_ENOMEM) wrong = 1;
            free(buf);
        }
    } else if (rc != TG_ENOMEM) {
        wrong = 1;
    }
    return wrong ? -1 : 0;
}

TG_TEST(resources_every_allocation_may_fail)
{
    int created = 0, refused = 0, leaks = 0, wrong = 0, bad_free = 0, other = 0;
    long total = 0;
    for (long k = 1;; k++) {
        rs_alloc a;
        rs_alloc_init(&a, k);
        tg_config cfg = { .workers = 2, .allocator = { rs_alloc_fn, rs_free_fn, &a } };
        tg_scheduler *s = NULL;
        int rc = tg_create(&cfg, &s);
        if (rc == TG_OK) {
            created++;
            if (rs_workload(s) != 0) wrong++;
            tg_destroy(s);
        } else if (rc == TG_ENOMEM) {
            refused++;
            if (s != NULL) other++;
        } else {
            other++;
        }
        if (atomic_load(&a.live) != 0) leaks++;
        bad_free += (int)atomic_load(&a.bad_free);
        if (atomic_load(&a.calls) < k) { total = k - 1; break; }   /* no call failed: done */
        if (k > 100000) break;
    }
    th_note("allocations in tg_create, a workload and tg_destroy: %ld", total);
    CHECK(total > 10);
    CHECK(refused > 0);
    CHECK(created > 0);
    CHECK_EQ(leaks, 0);
    CHECK_EQ(wrong, 0);
    CHECK_EQ(bad_free, 0);
    CHECK_EQ(other, 0);
}

/* ------------------------- an allocator aligned for a pointer, not a line */

TG_TEST(resources_allocator_with_pointer_alignment_only)
{
    rs_alloc a;
    rs_alloc_init(&a, 0);
    tg_config cfg = { .workers = 2, .allocator = { rs_alloc_fn, rs_free_fn, &a } };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_EQ(rs_workload(s), 0);
    tg_token t;
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);
    CHECK_EQ(atomic_load(&a.live), 0);
    CHECK_EQ(atomic_load(&a.bad_free), 0);
}

/* ------------------------------------------- shutdown racing the pauses */

typedef struct rs_pauser {
    tg_scheduler *s;
    atomic_int stop;
    atomic_int done;          /* the shutdown returned */
    int mode;
} rs_pauser;

static void *rs_pauser_main(void *arg)
{
    rs_pauser *p = (rs_pauser *)arg;
    while (!atomic_load(&p->stop)) {
        (void)tg_op_pause(p->s, "rs_paused");
        (void)tg_pause(p->s);
    }
    return NULL;
}

static void *rs_shutdown_main(void *arg)
{
    rs_pauser *p = (rs_pauser *)arg;
    (void)tg_shutdown(p->s, p->mode, -1);
    atomic_store(&p->done, 1);
    return NULL;
}

static const tg_op rs_paused_op = { .name = "rs_paused", .fn = th_nop_fn };

TG_TEST(resources_shutdown_never_hangs_on_a_racing_pause)
{
    int hung = 0, rounds = 150;
    for (int r = 0; r < rounds && !hung; r++) {
        tg_config cfg = { .workers = 1 };
        rs_pauser p;
        REQUIRE(tg_create(&cfg, &p.s) == TG_OK);
        atomic_init(&p.stop, 0);
        atomic_init(&p.done, 0);
        p.mode = (r & 1) ? TG_CANCEL : TG_DRAIN;
        for (int i = 0; i < 20; i++) CHECK_RC(tg_submit(p.s, &rs_paused_op, NULL, 0, NULL), TG_OK);
        pthread_t pauser, stopper;
        REQUIRE(pthread_create(&pauser, NULL, rs_pauser_main, &p) == 0);
        th_sleep_us((r % 7) * 50);
        REQUIRE(pthread_create(&stopper, NULL, rs_shutdown_main, &p) == 0);
        /* keep pausing while the shutdown runs, then stop */
        th_sleep_us(200);
        atomic_store(&p.stop, 1);
        pthread_join(pauser, NULL);
        if (!TH_WAIT_UNTIL(atomic_load(&p.done), 20000)) {
            hung = 1;             /* the scheduler is stuck: leave it */
            break;
        }
        pthread_join(stopper, NULL);
        CHECK_EQ(th_stat_live(p.s), 0);
        CHECK_RC(tg_op_pause(p.s, "rs_paused"), TG_ESHUTDOWN);
        CHECK_RC(tg_pause(p.s), TG_ESHUTDOWN);
        tg_destroy(p.s);
    }
    CHECK_EQ(hung, 0);
}

/* -------------------------------------------- times near INT64_MAX */

TG_TEST(resources_huge_timeouts_mean_no_limit)
{
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    const int64_t timeouts[] = { INT64_MAX, INT64_MAX - 1, INT64_MAX / 2 + 1, (int64_t)1 << 62 };
    for (unsigned i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        tg_op op = { .name = "rs_huge_timeout", .fn = th_nop_fn, .timeout_ns = timeouts[i] };
        tg_token t;
        tg_value v = { 0 };
        CHECK_RC(tg_submit(s, &op, NULL, 0, &t), TG_OK);
        CHECK_RC(tg_wait(s, t, INT64_MAX, &v), TG_OK);
        CHECK_EQ(v.i, 7);
        tg_state st;
        CHECK_RC(tg_poll(s, t, &st), TG_OK);
        CHECK_EQ(st, TG_COMPLETED);
        CHECK_RC(tg_release(s, t), TG_OK);
        CHECK_RC(tg_submit_timeout(s, &op, NULL, 0, &t, INT64_MAX), TG_OK);
        CHECK_RC(tg_wait_all(s, &t, 1, INT64_MAX - 1), TG_OK);
        CHECK_RC(tg_wait(s, t, 0, NULL), TG_OK);
        CHECK_RC(tg_release(s, t), TG_OK);
    }
    CHECK_RC(tg_wait_idle(s, INT64_MAX), TG_OK);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, INT64_MAX), TG_OK);
    tg_destroy(s);
}

/* -------------------------------- an op may be freed once its tokens ended */

TG_TEST(resources_op_freed_after_its_tokens)
{
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    char *name = strdup("rs_heap_op");
    tg_op *op = (tg_op *)calloc(1, sizeof *op);
    REQUIRE(name && op);
    op->name = name;
    op->fn = th_nop_fn;
    for (int i = 0; i < 10; i++) CHECK_RC(tg_submit(s, op, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    memset(name, 'X', strlen(name));      /* what a reuse of the memory would do */
    free(name);
    memset(op, 0xff, sizeof *op);
    free(op);
    const char *names[4] = { 0 };
    CHECK_EQ(tg_op_names(s, names, 4), 1);
    CHECK(names[0] && strcmp(names[0], "rs_heap_op") == 0);
    struct tg_stats st;
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.completed, 10);
    struct tg_op_stats os;
    CHECK_RC(tg_op_stats(s, "rs_heap_op", &os), TG_OK);
    CHECK_EQ(os.successes, 10);
    size_t need = 0;
    CHECK_RC(tg_stats_json(s, NULL, 0, &need), TG_ERANGE);
    char *json = (char *)malloc(need);
    REQUIRE(json);
    CHECK_RC(tg_stats_json(s, json, need, NULL), TG_OK);
    CHECK(strstr(json, "\"name\":\"rs_heap_op\"") != NULL);
    free(json);
    CHECK_RC(tg_op_pause(s, "rs_heap_op"), TG_OK);
    CHECK_RC(tg_op_resume(s, "rs_heap_op"), TG_OK);
    CHECK_RC(tg_op_drain(s, "rs_heap_op"), TG_OK);
    /* a new op at (likely) the same address with another name */
    char *name2 = strdup("rs_heap_op_two");
    tg_op *op2 = (tg_op *)calloc(1, sizeof *op2);
    REQUIRE(name2 && op2);
    op2->name = name2;
    op2->fn = th_nop_fn;
    tg_token t;
    CHECK_RC(tg_submit(s, op2, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    tg_token_info info;
    CHECK_RC(tg_info(s, t, &info), TG_OK);
    CHECK(info.op && strcmp(info.op, "rs_heap_op_two") == 0);
    CHECK_RC(tg_release(s, t), TG_OK);
    CHECK_EQ(tg_op_names(s, names, 4), 2);
    CHECK(names[1] && strcmp(names[1], "rs_heap_op_two") == 0);
    CHECK_RC(tg_op_stats(s, "rs_heap_op_two", &os), TG_OK);
    CHECK_EQ(os.successes, 1);
    CHECK_RC(tg_op_stats(s, "rs_heap_op", &os), TG_OK);
    CHECK_EQ(os.successes, 10);
    free(name2);
    free(op2);
    tg_destroy(s);
}

/* --------------------------------------- max_ops counts distinct names */

TG_TEST(resources_max_ops_counts_names)
{
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    enum { SAME = 300 };                  /* more than the default max_ops (256) */
    static tg_op ops[SAME];
    int refused = 0;
    for (int i = 0; i < SAME; i++) {
        ops[i].name = "rs_same";
        ops[i].fn = th_nop_fn;
        if (tg_submit(s, &ops[i], NULL, 0, NULL) != TG_OK) refused++;
    }
    CHECK_EQ(refused, 0);
    static const tg_op other = { .name = "rs_other", .fn = th_nop_fn };
    CHECK_RC(tg_submit(s, &other, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(tg_op_names(s, NULL, 0), 2);
    struct tg_op_stats os;
    CHECK_RC(tg_op_stats(s, "rs_same", &os), TG_OK);
    CHECK_EQ(os.successes, SAME);
    tg_destroy(s);

    /* at the limit: known names still go in, a new one is refused */
    tg_config small = { .workers = 1, .max_ops = 2 };
    REQUIRE(tg_create(&small, &s) == TG_OK);
    tg_op a1 = { .name = "a", .fn = th_nop_fn }, a2 = { .name = "a", .fn = th_nop_fn };
    tg_op b = { .name = "b", .fn = th_nop_fn }, c = { .name = "c", .fn = th_nop_fn };
    CHECK_RC(tg_submit(s, &a1, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_submit(s, &b, NULL, 0, NULL), TG_OK);
    tg_token t = { 0xdeadbeef };
    CHECK_RC(tg_submit(s, &c, NULL, 0, &t), TG_EOPLIMIT);
    CHECK_EQ(t.bits, 0);
    CHECK_RC(tg_submit(s, &a2, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    tg_destroy(s);
}

/* ------------------------------- the 64-call limit counts distinct calls */

TG_TEST(resources_external_call_limit_after_duplicates)
{
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    static char names[66][16];
    static const char *end_dup[67], *front_dup[67], *too_many[67];
    for (int i = 0; i < 65; i++) snprintf(names[i], sizeof names[i], "c%02d", i);
    for (int i = 0; i < 64; i++) end_dup[i] = names[i];
    end_dup[64] = names[0];
    end_dup[65] = NULL;
    front_dup[0] = names[63];
    for (int i = 0; i < 64; i++) front_dup[i + 1] = names[i];
    front_dup[65] = NULL;
    for (int i = 0; i < 65; i++) too_many[i] = names[i];
    too_many[65] = NULL;
    tg_op e = { .name = "rs_calls_end", .fn = th_nop_fn, .external_calls = end_dup };
    tg_op f = { .name = "rs_calls_front", .fn = th_nop_fn, .external_calls = front_dup };
    tg_op m = { .name = "rs_calls_many", .fn = th_nop_fn, .external_calls = too_many };
    tg_token te, tf;
    CHECK_RC(tg_submit(s, &e, NULL, 0, &te), TG_OK);
    CHECK_RC(tg_submit(s, &f, NULL, 0, &tf), TG_OK);
    CHECK_RC(tg_submit(s, &m, NULL, 0, NULL), TG_EINVAL);
    CHECK_RC(tg_wait(s, te, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait(s, tf, TH_LONG_NS, NULL), TG_OK);
    /* the same 64 distinct calls: the same seed input, so seeds differ only
       by the lead's id; both are domains */
    tg_token_info ie, inf;
    CHECK_RC(tg_info(s, te, &ie), TG_OK);
    CHECK_RC(tg_info(s, tf, &inf), TG_OK);
    CHECK_EQ(strlen(ie.seed), 64);
    CHECK_EQ(strlen(inf.seed), 64);
    tg_release(s, te);
    tg_release(s, tf);
    tg_destroy(s);
}

/* ------------------------- max_live holds while a timed-out function runs */

static atomic_int rs_running, rs_running_max;

static int rs_slow_fn(const void *args, tg_value *result)
{
    (void)args;
    int now = atomic_fetch_add(&rs_running, 1) + 1;
    int seen = atomic_load(&rs_running_max);
    while (now > seen && !atomic_compare_exchange_weak(&rs_running_max, &seen, now)) { }
    th_sleep_ms(20);                        /* long past its 2 ms deadline */
    atomic_fetch_sub(&rs_running, 1);
    result->i = 0;
    return 0;
}

TG_TEST(resources_max_live_counts_running_functions)
{
    tg_config cfg = { .workers = 2 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    atomic_store(&rs_running, 0);
    atomic_store(&rs_running_max, 0);
    const tg_op op = { .name = "rs_slow_limited", .fn = rs_slow_fn, .max_live = 1,
                       .timeout_ns = 2 * TH_MS };
    tg_token t[6];
    int timed_out = 0;
    for (int i = 0; i < 6; i++) {
        REQUIRE(tg_submit(s, &op, NULL, 0, &t[i]) == TG_OK);
        if (tg_wait(s, t[i], TH_LONG_NS, NULL) == TG_EDEADLINE) timed_out++;
    }
    CHECK_RC(tg_wait_all(s, t, 6, TH_LONG_NS), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&rs_running) == 0, 10000));
    CHECK_EQ(atomic_load(&rs_running_max), 1);
    CHECK(timed_out >= 5);
    for (int i = 0; i < 6; i++) tg_release(s, t[i]);
    tg_destroy(s);
}

/* --------------------------------------------------------------- fork() */

TG_TEST(resources_fork_child_gets_an_error)
{
    tg_config cfg = { .workers = 2 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    tg_token t;
    REQUIRE(tg_submit(s, &th_nop_op, NULL, 0, &t) == TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(20);                        /* a hang ends the child with SIGALRM */
        int bad = 0;
        tg_token c = { 0xdeadbeef };
        struct tg_stats st;
        tg_state state;
        bad += tg_submit(s, &th_nop_op, NULL, 0, &c) != TG_EFORKED;
        bad += c.bits != 0;
        bad += tg_wait(s, t, -1, NULL) != TG_EFORKED;
        bad += tg_poll(s, t, &state) != TG_EFORKED;
        bad += tg_wait_all(s, &t, 1, -1) != TG_EFORKED;
        bad += tg_wait_idle(s, -1) != TG_EFORKED;
        bad += tg_stats(s, &st) != TG_EFORKED;
        bad += tg_kill(s, t) != TG_EFORKED;
        bad += tg_release(s, t) != TG_EFORKED;
        bad += tg_pause(s) != TG_EFORKED;
        bad += tg_op_pause(s, "nop") != TG_EFORKED;
        bad += tg_shutdown(s, TG_DRAIN, -1) != TG_EFORKED;
        bad += strstr(tg_strerror(TG_EFORKED), "fork") == NULL;
        tg_destroy(s);                    /* returns, leaves the copy alone */
        _exit(bad ? 10 + bad : 0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
    /* the parent's scheduler goes on */
    CHECK_RC(tg_release(s, t), TG_OK);
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, t), TG_OK);
    tg_destroy(s);
}

/* --------------------------- busy time never exceeds the wall time */

static tg_scheduler *rs_nested_sched;

static int rs_child_fn(const void *args, tg_value *result)
{
    (void)args;
    int64_t end = th_now_ns() + 200000;     /* 200 us of work */
    while (th_now_ns() < end) { }
    result->i = 1;
    return 0;
}

static const tg_op rs_child_op = { .name = "rs_child", .fn = rs_child_fn };

static int rs_parent_fn(const void *args, tg_value *result)
{
    (void)args;
    tg_token kids[16];
    int n = 0;
    for (int i = 0; i < 16; i++)
        if (tg_submit(rs_nested_sched, &rs_child_op, NULL, 0, &kids[n]) == TG_OK) n++;
    int rc = tg_wait_all(rs_nested_sched, kids, (size_t)n, -1);
    for (int i = 0; i < n; i++) tg_release(rs_nested_sched, kids[i]);
    result->i = n;
    return rc == TG_OK && n == 16 ? 0 : 1;
}

static const tg_op rs_parent_op = { .name = "rs_parent", .fn = rs_parent_fn };

TG_TEST(resources_nested_waits_count_run_time_once)
{
    tg_config cfg = { .workers = 2 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    rs_nested_sched = s;
    tg_token parents[40];
    for (int i = 0; i < 40; i++) REQUIRE(tg_submit(s, &rs_parent_op, NULL, 0, &parents[i]) == TG_OK);
    CHECK_RC(tg_wait_all(s, parents, 40, TH_LONG_NS), TG_OK);
    int failed = 0;
    for (int i = 0; i < 40; i++) {
        if (tg_wait(s, parents[i], 0, NULL) != TG_OK) failed++;
        tg_release(s, parents[i]);
    }
    CHECK_EQ(failed, 0);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    struct tg_stats st;
    CHECK_RC(tg_stats(s, &st), TG_OK);
    uint64_t busy = 0;
    for (unsigned i = 0; i < st.workers; i++) {
        CHECK(st.cores[i].run_ns <= (uint64_t)st.uptime_ns);
        busy += st.cores[i].run_ns;
    }
    /* 640 children of 200 us: at least their time, and never more than
       the workers' wall time */
    CHECK(busy >= 640u * 200000u);
    CHECK(st.concurrency_since_start <= (double)st.workers + 1e-9);
    CHECK(st.concurrency_since_start > 0.0);
    /* a parent's own time excludes the children its waits ran: below
       their 16 x 200 us in the median */
    struct tg_op_stats ps;
    CHECK_RC(tg_op_stats(s, "rs_parent", &ps), TG_OK);
    CHECK(ps.exec_p50_ns < 16u * 200000u);
    tg_destroy(s);
}

/* -------------------- what a wait observed, the next tg_stats reflects */

TG_TEST(resources_stats_follow_an_observed_end)
{
    tg_config cfg = { .workers = 2 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    long rounds = th_env_long("TG_STRESS_TOKENS", 1000000) / 10;
    long behind = 0, failed = 0;
    for (long i = 0; i < rounds; i++) {
        tg_token t;
        if (tg_submit(s, &th_nop_op, NULL, 0, &t) != TG_OK) { failed++; continue; }
        if (tg_wait(s, t, TH_LONG_NS, NULL) != TG_OK) failed++;
        struct tg_stats st;
        if (tg_stats(s, &st) != TG_OK || st.live != 0 || st.completed != (uint64_t)(i + 1 - failed)) behind++;
        tg_release(s, t);
    }
    CHECK_EQ(failed, 0);
    CHECK_EQ(behind, 0);
    tg_destroy(s);
}
