/* harness.h - the test harness of tokengate.h, and helpers the tests share.

   Include it first in every test file (it sets _GNU_SOURCE).

       TG_TEST(tokens_args_are_copied) { ... CHECK(x); CHECK_EQ(a, b); ... }

   - TG_TEST(name) defines and registers a test; main.c runs them in
     registration order, or only those whose name contains argv[1].
   - CHECK(cond), CHECK_EQ(a, b) and CHECK_RC(call, TG_E...) each count as
     one check, passed or failed; a failure prints file:line and goes on.
   - REQUIRE(cond) is CHECK that also returns from the test function (use it
     only in the test body itself, where a return ends the test).
   - Only the thread running the test calls these macros. Task functions and
     helper threads record into atomics or arrays; the test checks after it
     has waited for them.
   - The run ends with one line "N passed, N failed" and exits non-zero if
     any check failed. Each test runs in a forked child (see main.c): a
     crash, a sanitizer report or a test taking longer than TG_TEST_TIMEOUT
     seconds (default 120) counts as one more failure. */
#ifndef TG_TEST_HARNESS_H
#define TG_TEST_HARNESS_H

#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tokengate.h"

/* ------------------------------------------------------------- the harness */

typedef void (*th_test_fn)(void);

void th_register(const char *name, th_test_fn fn, const char *file);
void th_check(int ok, const char *file, int line, const char *expr);
void th_check_eq(int ok, long long a, long long b, const char *file, int line,
                 const char *expr_a, const char *expr_b);
void th_check_rc(int got, int expected, const char *file, int line,
                 const char *expr);
void th_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define TG_TEST(name)                                                          \
    static void name(void);                                                    \
    __attribute__((constructor)) static void th__register_##name(void)         \
    { th_register(#name, name, __FILE__); }                                    \
    static void name(void)

#define CHECK(cond) th_check((cond) ? 1 : 0, __FILE__, __LINE__, #cond)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        long long th__a = (long long)(a), th__b = (long long)(b);              \
        th_check_eq(th__a == th__b, th__a, th__b, __FILE__, __LINE__, #a, #b); \
    } while (0)

#define CHECK_RC(call, expected)                                               \
    th_check_rc((call), (expected), __FILE__, __LINE__, #call)

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        int th__ok = (cond) ? 1 : 0;                                           \
        th_check(th__ok, __FILE__, __LINE__, #cond);                           \
        if (!th__ok) return;                                                   \
    } while (0)

/* ---------------------------------------------------------------- helpers */

static inline int64_t th_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void th_sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0) { }
}

static inline void th_sleep_ms(long ms) { th_sleep_us(ms * 1000); }

/* An integer from the environment, or dflt when unset or not a number. */
static inline long th_env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    char *end;
    long x;
    if (!v || !*v) return dflt;
    x = strtol(v, &end, 10);
    return (*end == '\0' && x > 0) ? x : dflt;
}

#define TH_MS ((int64_t)1000000)
#define TH_SEC ((int64_t)1000000000)
/* A bound for waits that should end at once: long enough for a loaded
   sanitizer build, short enough that a hang shows up as a failed check. */
#define TH_LONG_NS (30 * TH_SEC)

/* Evaluates to 1 once cond holds, or to 0 after ms milliseconds. */
#define TH_WAIT_UNTIL(cond, ms)                                                \
    __extension__({                                                            \
        int64_t th__end = th_now_ns() + (int64_t)(ms) * TH_MS;                 \
        int th__ok = 0;                                                        \
        for (;;) {                                                             \
            if (cond) { th__ok = 1; break; }                                   \
            if (th_now_ns() > th__end) break;                                  \
            th_sleep_us(200);                                                  \
        }                                                                      \
        th__ok;                                                                \
    })

/* A small xorshift generator: deterministic, one state per thread. */
static inline uint64_t th_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    *state = x;
    return x;
}

static inline uint64_t th_stat_slots_in_use(tg_scheduler *s)
{
    struct tg_stats st;
    if (tg_stats(s, &st) != TG_OK) return UINT64_MAX;
    return st.slots_in_use;
}

static inline uint64_t th_stat_live(tg_scheduler *s)
{
    struct tg_stats st;
    if (tg_stats(s, &st) != TG_OK) return UINT64_MAX;
    return st.live;
}

static inline int th_is_terminal(tg_state st)
{
    return st == TG_COMPLETED || st == TG_FAILED || st == TG_KILLED ||
           st == TG_TIMEOUT;
}

/* ------------------------------------------------------------------ gates

   A gate holds a worker inside a task until the test opens it. The task's
   argument is a pointer to the gate. `entered` counts the tasks that reached
   the gate, `left` those that passed it. With honor_stop set, the task also
   returns once tg_should_stop() turns nonzero (and counts it in `stopped`).
   A gate that is never opened lets its tasks go after 60 s and counts them in
   `expired`, so a broken scheduler fails the test instead of hanging it. */

typedef struct th_gate {
    atomic_int open;
    atomic_int entered;
    atomic_int left;
    atomic_int stopped;
    atomic_int expired;
    int honor_stop;
} th_gate;

static inline void th_gate_init(th_gate *g, int honor_stop)
{
    atomic_init(&g->open, 0);
    atomic_init(&g->entered, 0);
    atomic_init(&g->left, 0);
    atomic_init(&g->stopped, 0);
    atomic_init(&g->expired, 0);
    g->honor_stop = honor_stop;
}

static inline void th_gate_open(th_gate *g) { atomic_store(&g->open, 1); }

/* Waits until n tasks entered the gate; 0 after 30 s. */
static inline int th_gate_wait_entered(th_gate *g, int n)
{
    return TH_WAIT_UNTIL(atomic_load(&g->entered) >= n, 30000);
}

static inline int th_gate_fn(const void *args, tg_value *result)
{
    th_gate *g = *(th_gate *const *)args;
    int64_t end = th_now_ns() + 60 * TH_SEC;
    atomic_fetch_add(&g->entered, 1);
    for (;;) {
        if (atomic_load(&g->open)) break;
        if (g->honor_stop && tg_should_stop()) {
            atomic_fetch_add(&g->stopped, 1);
            break;
        }
        if (th_now_ns() > end) {
            atomic_fetch_add(&g->expired, 1);
            break;
        }
        th_sleep_us(100);
    }
    atomic_fetch_add(&g->left, 1);
    result->i = 1;
    return 0;
}

/* Submits a gate task of the given weight; returns submit's code. */
static inline int th_submit_gate(tg_scheduler *s, const tg_op *op, th_gate *g,
                                 tg_token *out)
{
    return tg_submit(s, op, &g, sizeof g, out);
}

__attribute__((unused)) static const tg_op th_gate_op = {
    .name = "gate", .fn = th_gate_fn, .weight = TG_MEDIUM };
__attribute__((unused)) static const tg_op th_gate_light_op = {
    .name = "gate_light", .fn = th_gate_fn, .weight = TG_LIGHT };
__attribute__((unused)) static const tg_op th_gate_heavy_op = {
    .name = "gate_heavy", .fn = th_gate_fn, .weight = TG_HEAVY };

/* A task that does nothing but return 0 with result 7. */
static inline int th_nop_fn(const void *args, tg_value *result)
{
    (void)args;
    result->i = 7;
    return 0;
}

__attribute__((unused)) static const tg_op th_nop_op = {
    .name = "nop", .fn = th_nop_fn };

/* A scheduler of `workers` unpinned workers, or abort (a test cannot go
   on without one). */
static inline tg_scheduler *th_sched(int workers)
{
    tg_config cfg = { .workers = (unsigned)workers, .no_pin = 1 };
    tg_scheduler *s = NULL;
    if (tg_create(&cfg, &s) != TG_OK) {
        fprintf(stderr, "tg_create failed\n");
        abort();
    }
    return s;
}

/* Idle, every slot back, drained and destroyed. A killed token's slot
   comes back once a worker pops its queue entry, which may be just after
   tg_wait_idle returns: a slot that stays out for 10 s is a leak. */
#define TH_FINISH(s)                                                           \
    do {                                                                       \
        CHECK_RC(tg_wait_idle((s), TH_LONG_NS), TG_OK);                        \
        CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 10000));             \
        CHECK_RC(tg_shutdown((s), TG_DRAIN, -1), TG_OK);                       \
        tg_destroy(s);                                                         \
    } while (0)

/* CPUs of the calling thread's affinity mask, or 0 on error. */
unsigned th_affinity_cpus(void);

#endif /* TG_TEST_HARNESS_H */
