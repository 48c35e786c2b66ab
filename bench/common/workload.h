/* workload.h: the benchmark workloads, independent of any task library.
 *
 * Every implementation (tokengate, the peers, serial) includes this header so
 * that all of them do identical work, verify it identically and print results
 * in one machine-readable format.  Header-only; compiles as C11 (gcc, clang)
 * and as C++17 (g++).  Include it before any other header, or compile with
 * _GNU_SOURCE defined (gnu11 / g++ do), so that the POSIX calls are declared.
 *
 * ------------------------------------------------------------------------
 * Command line (every benchmark program):
 *     prog [--quick] [--window=SECONDS]
 * --quick shrinks the work about 10x (see the *_QUICK constants); --window
 * sets the sustained-window length of `burst` (default 10 s, 1 s if quick).
 * Parse with wl_parse_args().
 *
 * ------------------------------------------------------------------------
 * Output: one line per result, on stdout,
 *
 *   RESULT bench=<name> impl=<impl> threads=<n> seconds=<s> ok=<0|1> [k=v ...]
 *
 * seconds is the wall time of the measured region only (not start-up, not
 * verification).  Extra keys per benchmark:
 *   empty, spawn   tokens=<n> tokens_per_s=<r>
 *   fib, skynet    value=<v> tokens=<n>
 *   pingpong       rounds=<n> median_us=<m> p99_us=<p> on_worker=<fraction>
 *   leibniz        pi=<v> error=<|pi - M_PI|> tokens=<n>
 *   burst          burst_ratio=<r> sustained_ratio=<r> window_s=<s>
 *                  window_tokens=<n>
 *   memory         tokens=<n> max_rss_kb=<kb> rss_before_kb=<kb>
 *                  bytes_per_token=<b>
 *   waves          total=<n> tokens_per_s=<r> checksum=<hex>  (seconds and
 *                  tokens_per_s over the sum of the waves' wall times; the
 *                  checksum is e3a7cf59afe506fe full, a27439c40ae0bf4a quick)
 *                  and before it one line per wave:
 *   WAVE impl=<impl> wave=<k> tokens=<n> ok=<n> fail=<n> seconds=<s>
 *        tokens_per_s=<r> latency_us=<l> concurrency=<c> overlap=<o>
 *                  (wave counts from 1 to 15 there; definitions under
 *                  "waves" below)
 *   io             ops=<n> ideal_s=<s> ideal_ratio=<seconds / ideal_s>
 *                  cpu_us=<us> peak_json=<n> peak_log=<n> peak_blob=<n>
 *                  checksum=<hex>  (definitions under "io" below)
 * A program whose result is wrong prints ok=0 and exits non-zero
 * (wl_exit_code()).
 *
 * ------------------------------------------------------------------------
 * The workloads (full size; quick size in brackets):
 *
 * empty    EMPTY_N = 1,000,000 [100,000] tasks that do nothing, submitted
 *          by one outside thread, then all waited.  Each task adds 1 to a
 *          counter (wl_count); the count must equal EMPTY_N.
 *
 * spawn    A tree over SPAWN_LEAVES = 1,000,000 [100,000] leaves with
 *          fan-out SPAWN_WIDTH = 100.  A node covers a range [lo, hi) of
 *          leaves; if hi - lo == 1 it is a leaf, otherwise it has
 *          k = min(100, hi - lo) children, child i covering
 *          [lo + n*i/k, lo + n*(i+1)/k) with n = hi - lo (wl_tree_child).
 *          Every node is one task; the root is submitted from outside, all
 *          others from inside their parent, which waits for its children.
 *          A node returns the number of nodes in its subtree (a leaf: 1).
 *          Full: 1 + 100 + 10,000 + 1,000,000 = 1,010,101 tasks (all
 *          leaves at depth 3); quick: 1 + 100 + 10,000 + 100,000 = 110,101.
 *          Expected: wl_tree_nodes(SPAWN_LEAVES, 100).
 *
 * fib      fib(FIB_N = 30 [25]).  One task per call with n >= 2; such a task
 *          computes each child call n-1, n-2 as a task if it is >= 2 and
 *          directly (the value is n) if it is < 2, then waits for its
 *          children.  Tasks: fib(n+1) - 1 = 1,346,268 [121,392].
 *          Expected 832040 [75025] (wl_fib_serial).
 *
 * skynet   The same tree shape as spawn over SKYNET_LEAVES = 1,000,000
 *          [100,000] leaves with fan-out 10 (6 [5] levels below the root,
 *          1,111,111 [111,111] tasks).  A leaf returns its index lo, a node
 *          the sum of its children.  Expected n(n-1)/2 = 499999500000
 *          [4999950000].
 *
 * pingpong PINGPONG_ROUNDS = 100,000 [10,000] rounds: an outside thread
 *          submits one task (which counts itself, wl_count) and waits for it; per-round
 *          latency from before the submit to after the wait returns.
 *          Median and p99 in microseconds (nearest rank).  on_worker is the
 *          fraction of rounds in which the task ran on a thread other than
 *          the submitting one.
 *
 * leibniz  LEIBNIZ_TERMS = 1,000,000 [100,000] term tasks, term k being
 *          4 * (-1)^k / (2k + 1) (wl_leibniz_term); then TERMS/1000 chunk
 *          tasks, chunk c summing terms [1000c, 1000c + 1000) in index order;
 *          then 10 partial tasks, partial p summing chunks
 *          [p*C/10, (p+1)*C/10) in order (C chunks); then 1 final task
 *          summing the 10 partials in order.  Each stage is waited before the
 *          next is submitted.  The result must equal the serial reference
 *          (wl_leibniz_reference, same summation order) to 1e-12 and be within
 *          2/TERMS of pi (2e-6 full).
 *
 * waves    WAVES_COUNT = 15 [12] doubling waves of 4, 8, ..., 65,536 [8,192]
 *          tokens, 131,068 [16,380] in all.  Tokens are numbered globally
 *          g = 0, 1, ... across waves; wave k (0-based) holds tokens
 *          [4(2^k - 1), 4(2^(k+1) - 1)).  Token g runs wl_token(g), whose
 *          kind is g % 4 (so every wave holds each kind exactly n/4 times)
 *          and whose parameters come from wl_mix64(g):
 *            0 PRIMES  (LIGHT)  sum of primes below 60 + r % 26
 *            1 STRING  (LIGHT)  300 pseudo-random letters, reversed and
 *                               mangled, FNV-1a of the result
 *            2 SORT    (MEDIUM) 400 + r % 301 pseudo-random ints sorted,
 *                               position-weighted sum of the result
 *            3 SHA     (HEAVY)  a chain of 120 + r % 81 SHA-256 iterations
 *                               over a 32-byte seed, first 8 digest bytes
 *          Each wave: the outside thread submits all its tokens (recording
 *          submit_ns per token), then waits for all.  Use wl_waves_run_token
 *          as the task body with one wl_wave_rec per token.
 *          Definitions, per wave (wl_waves_report):
 *            seconds      wall from before the first submit to after the
 *                         wait for the last token returned
 *            tokens_per_s tokens / seconds
 *            latency_us   mean over tokens of (end_ns - submit_ns): from
 *                         being submitted to having finished
 *            overlap      sum of the tokens' run times (end - start) divided
 *                         by the wave's wall time: the average number of
 *                         tokens running at once, the original's
 *                         "concurrency ratio"; at most the thread count
 *            concurrency  the peak number of tokens observed running at the
 *                         same instant (a sweep over the start/end stamps)
 *            ok / fail    ok: the token ran exactly once and, if it is a
 *                         sampled token (g % WAVES_SAMPLE == 0), its result
 *                         equals the serial reference; fail: the rest.
 *          Verification samples every 31st token (the serial reference of all
 *          131,068 takes seconds); the checksum (order-independent sum over
 *          all tokens, wl_waves_checksum_add) is printed so implementations
 *          can be compared, and wl_waves_reference_checksum computes the
 *          complete expected value serially.
 *
 * burst    (1) BURST_TASKS = 8 medium tasks released at once: each sorts
 *          BURST_SORT_N = 250,000 pseudo-random ints (wl_burst_sort, seed =
 *          its index; ~20-50 ms on one core).  burst_ratio = sum of their run
 *          times / wall time from release to all done.
 *          (2) A sustained window of window_s seconds (10 [1]): the outside
 *          thread releases bursts of 8 + (wl_mix64(b) % 57) waves tokens
 *          (b = burst number, tokens continue the global numbering g from 0,
 *          so the kinds mix as in waves), waits for each burst, and repeats
 *          until the window has elapsed.  sustained_ratio = sum of all run
 *          times / wall time of the window.  Burst results are checked
 *          against the reference; window tokens are sampled as in waves.
 *
 * memory   MEMORY_N = 1,000,000 [100,000] tasks submitted that all block on a
 *          gate (wl_gate_wait on a flag) so that all are live and
 *          unfinished at once.  max RSS (getrusage) is read before the first
 *          submit and after the last; bytes_per_token =
 *          (after - before) * 1024 / MEMORY_N.  Then the gate is opened, all
 *          are waited and the run count must equal MEMORY_N.
 *
 * io       An I/O-bound mix in a fresh temporary directory (mkdtemp under
 *          $TMPDIR, else /tmp; removed at the end, and at exit on an early
 *          one), every op submitted at once by the outside thread in one
 *          order, then all waited:
 *            JSON  IO_JSON_OPS = 4,000 [400] ops: op i writes its JSON-like
 *                  text (wl_io_json_text, about 4 KB) as a new file (write +
 *                  close, no fsync), sleeps 2 ms, reads it back; the bytes
 *                  read must equal the text's length
 *            log   IO_LOG_OPS = 4,000 [400] ops: op i appends its line (180
 *                  .. 220 bytes) to log file i % 8 (O_APPEND, write, close),
 *                  sleeps 0.5 ms
 *            blob  IO_BLOB_OPS = 400 [40] ops: op i writes 64 KiB of
 *                  pseudo-random bytes as a new file, sleeps 5 ms
 *            CPU   IO_CPU_TOKENS = 2,000 [200] tokens: token i runs
 *                  wl_io_cpu(i), IO_CPU_ITERS steps of one dependent
 *                  arithmetic chain (about 200 us)
 *          The sleeps model the device's latency, so that the run is bound
 *          by how many ops of a kind are in flight at once.  The order
 *          (wl_io_schedule) interleaves the four kinds evenly.  Use
 *          wl_io_setup, wl_io_run as the task body of each wl_io_item of
 *          io.order, wl_io_finish and wl_io_free.
 *          Definitions (wl_io_finish):
 *            seconds      wall from before the first submit to after the
 *                         wait for all returned
 *            ideal_s      the largest of: for each I/O kind, ceil(ops /
 *                         cap) * its sleep, cap being TokenGate's default
 *                         tier cap of the kind (JSON 10, log 50, blob 25);
 *                         and CPU tokens * cpu_us / cores (wl_cpu_count)
 *            cpu_us       the median time of one CPU token, measured
 *                         serially before the run
 *            peak_<kind>  the most ops of the kind seen running at once
 *          ok: every op ran exactly once with the expected result, every
 *          JSON and blob file holds exactly its text or bytes, every log file
 *          exactly its lines (in any order, each whole), and the checksum of
 *          the CPU results (wl_waves_checksum_add over all tokens) equals
 *          IO_CPU_CHECKSUM [IO_CPU_CHECKSUM_QUICK].
 */
#ifndef BENCH_WORKLOAD_H
#define BENCH_WORKLOAD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- sizes */

#define EMPTY_N          1000000u
/* The name a peer's empty program reports: bench/peers/build.sh builds it
   again as gather and held (a peer without handles to hold or gather has
   one idiom for "submit them all, then collect them": its empty). */
#ifndef EMPTY_BENCH
#  define EMPTY_BENCH "empty"
#endif
#define EMPTY_N_QUICK    100000u

#define SPAWN_LEAVES       1000000u
#define SPAWN_LEAVES_QUICK 100000u
#define SPAWN_WIDTH        100u

#define FIB_N            30
#define FIB_N_QUICK      25

#define SKYNET_LEAVES       1000000u
#define SKYNET_LEAVES_QUICK 100000u
#define SKYNET_WIDTH        10u

#define PINGPONG_ROUNDS       100000u
#define PINGPONG_ROUNDS_QUICK 10000u

#define LEIBNIZ_TERMS       1000000u
#define LEIBNIZ_TERMS_QUICK 100000u
#define LEIBNIZ_CHUNK       1000u   /* terms per chunk task */
#define LEIBNIZ_PARTIALS    10u     /* partial tasks        */

#define WAVES_COUNT       15
#define WAVES_COUNT_QUICK 12
#define WAVES_FIRST       4u        /* tokens in wave 0; doubles each wave */
#define WAVES_SAMPLE      31u       /* verify tokens with g % 31 == 0      */

#define BURST_TASKS        8u
#define BURST_SORT_N       250000u
#define BURST_WINDOW_S     10.0
#define BURST_WINDOW_QUICK 1.0

#define MEMORY_N          1000000u
#define MEMORY_N_QUICK    100000u

#define IO_JSON_OPS         4000u     /* JSON-like file writes, each read back */
#define IO_JSON_OPS_QUICK   400u
#define IO_LOG_OPS          4000u     /* line appends to one of the log files  */
#define IO_LOG_OPS_QUICK    400u
#define IO_BLOB_OPS         400u      /* 64 KiB blob files                     */
#define IO_BLOB_OPS_QUICK   40u
#define IO_CPU_TOKENS       2000u     /* CPU tokens alongside                  */
#define IO_CPU_TOKENS_QUICK 200u
#define IO_JSON_BYTES       4096u     /* a JSON text is 4,048 .. 4,160 bytes   */
#define IO_LOG_FILES        8u
#define IO_LOG_LINE_MIN     180u      /* a log line is 180 .. 220 bytes        */
#define IO_BLOB_BYTES       65536u
#define IO_JSON_SLEEP_NS    2000000L  /* the modelled device latency of an op  */
#define IO_LOG_SLEEP_NS     500000L
#define IO_BLOB_SLEEP_NS    5000000L
#define IO_CPU_ITERS        130000u   /* about 200 us on the reference VM      */
/* Operations of a kind in flight at once in the ideal bound: the caps that
   TokenGate's default config gives the tiers of these kinds (tier_caps of
   TG_IO_SLOW, TG_IO_FAST, TG_IO_MODERATE). */
#define IO_JSON_CAP         10u
#define IO_LOG_CAP          50u
#define IO_BLOB_CAP         25u
/* wl_io_cpu_reference_checksum(IO_CPU_TOKENS) and (IO_CPU_TOKENS_QUICK) */
#define IO_CPU_CHECKSUM       0xec95489298b92b81ull
#define IO_CPU_CHECKSUM_QUICK 0x73fbfd0befc028c3ull

/* Kinds of the waves tokens and their weights (as in the original demo). */
enum { WL_PRIMES = 0, WL_STRING = 1, WL_SORT = 2, WL_SHA = 3 };
enum { WL_LIGHT = 0, WL_MEDIUM = 1, WL_HEAVY = 2 };

/* ------------------------------------------------------- command line */

typedef struct wl_args {
    int quick;          /* --quick given                        */
    double window_s;    /* burst: sustained window length in s  */
} wl_args;

static inline wl_args wl_parse_args(int argc, char **argv)
{
    wl_args a;
    int i;
    a.quick = 0;
    a.window_s = -1.0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            a.quick = 1;
        } else if (strncmp(argv[i], "--window=", 9) == 0) {
            a.window_s = atof(argv[i] + 9);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--window=SECONDS]\n", argv[0]);
            exit(2);
        }
    }
    if (a.window_s <= 0.0) a.window_s = a.quick ? BURST_WINDOW_QUICK : BURST_WINDOW_S;
    return a;
}

static inline unsigned wl_empty_n(const wl_args *a) { return a->quick ? EMPTY_N_QUICK : EMPTY_N; }
static inline unsigned wl_spawn_leaves(const wl_args *a) { return a->quick ? SPAWN_LEAVES_QUICK : SPAWN_LEAVES; }
static inline int wl_fib_n(const wl_args *a) { return a->quick ? FIB_N_QUICK : FIB_N; }
static inline unsigned wl_skynet_leaves(const wl_args *a) { return a->quick ? SKYNET_LEAVES_QUICK : SKYNET_LEAVES; }
static inline unsigned wl_pingpong_rounds(const wl_args *a) { return a->quick ? PINGPONG_ROUNDS_QUICK : PINGPONG_ROUNDS; }
static inline unsigned wl_leibniz_terms(const wl_args *a) { return a->quick ? LEIBNIZ_TERMS_QUICK : LEIBNIZ_TERMS; }
static inline int wl_waves_count(const wl_args *a) { return a->quick ? WAVES_COUNT_QUICK : WAVES_COUNT; }
static inline unsigned wl_memory_n(const wl_args *a) { return a->quick ? MEMORY_N_QUICK : MEMORY_N; }

/* ---------------------------------------------------------- utilities */

static inline uint64_t wl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
/* The short name the benchmark programs use. */
static inline uint64_t now_ns(void) { return wl_now_ns(); }

static inline double wl_seconds(uint64_t t0, uint64_t t1) { return (double)(t1 - t0) * 1e-9; }

/* Max resident set size of the process so far, in KiB. */
static inline long wl_max_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return ru.ru_maxrss;
}

/* CPUs this process may run on (its affinity mask), at least 1. */
static inline int wl_cpu_count(void)
{
    cpu_set_t set;
    int n;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* splitmix64: the deterministic generator of every workload. */
static inline uint64_t wl_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* One splitmix64 output for a given input: a stateless hash of x. */
static inline uint64_t wl_mix64(uint64_t x)
{
    uint64_t s = x;
    return wl_splitmix64(&s);
}

static inline int wl_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static inline int wl_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile (p in [0, 100]) of v[0..n); sorts v in place. */
static inline uint64_t wl_percentile_u64(uint64_t *v, size_t n, double p)
{
    size_t rank;
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, wl_cmp_u64);
    rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

/* A gate that tasks block on (memory benchmark).  Waiters poll with a short
   sleep so that blocked workers do not burn the CPU the submitter needs. */
static inline void wl_gate_open(int *gate) { __atomic_store_n(gate, 1, __ATOMIC_RELEASE); }
static inline int wl_gate_is_open(const int *gate) { return __atomic_load_n(gate, __ATOMIC_ACQUIRE); }
static inline void wl_gate_wait(const int *gate)
{
    struct timespec ts;
    ts.tv_sec = 0;
    ts.tv_nsec = 200000;
    while (!wl_gate_is_open(gate)) nanosleep(&ts, NULL);
}

/* Relaxed atomic counters usable from C and C++ alike. */
static inline void wl_count(uint64_t *c, uint64_t d) { __atomic_fetch_add(c, d, __ATOMIC_RELAXED); }
static inline uint64_t wl_load(const uint64_t *c) { return __atomic_load_n(c, __ATOMIC_ACQUIRE); }

/* ------------------------------------------------------------ output */

/* Prints the RESULT line.  extra_fmt: printf format of the extra key=value
   pairs (may be NULL).  Returns ok so callers can chain it. */
#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
static inline int bench_print(const char *bench, const char *impl, int threads,
                              double seconds, int ok, const char *extra_fmt, ...);

static inline int bench_print(const char *bench, const char *impl, int threads,
                              double seconds, int ok, const char *extra_fmt, ...)
{
    printf("RESULT bench=%s impl=%s threads=%d seconds=%.6f ok=%d", bench, impl,
           threads, seconds, ok ? 1 : 0);
    if (extra_fmt && *extra_fmt) {
        va_list ap;
        putchar(' ');
        va_start(ap, extra_fmt);
        vprintf(extra_fmt, ap);
        va_end(ap);
    }
    putchar('\n');
    fflush(stdout);
    return ok;
}

/* Exit status for a program whose verification gave ok. */
static inline int wl_exit_code(int ok) { return ok ? 0 : 1; }

/* Reports a failure on stderr (and returns 0 for ok). */
static inline int wl_fail(const char *bench, const char *what)
{
    fprintf(stderr, "%s: verification failed: %s\n", bench, what);
    return 0;
}

/* ------------------------------------------------------------ SHA-256
   FIPS 180-4; wl_sha256_selfcheck() compares with digests from sha256sum. */

typedef struct wl_sha256_ctx {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t used;
} wl_sha256_ctx;

static inline uint32_t wl_ror32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline void wl_sha256_block(uint32_t h[8], const uint8_t *p)
{
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
    };
    uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = wl_ror32(w[i - 15], 7) ^ wl_ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = wl_ror32(w[i - 2], 17) ^ wl_ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; hh = h[7];
    for (i = 0; i < 64; i++) {
        t1 = hh + (wl_ror32(e, 6) ^ wl_ror32(e, 11) ^ wl_ror32(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
        t2 = (wl_ror32(a, 2) ^ wl_ror32(a, 13) ^ wl_ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

static inline void wl_sha256_init(wl_sha256_ctx *c)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
    c->used = 0;
}

static inline void wl_sha256_update(wl_sha256_ctx *c, const void *data, size_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    c->len += (uint64_t)n;
    while (n > 0) {
        if (c->used == 0 && n >= 64) {
            wl_sha256_block(c->h, p);
            p += 64;
            n -= 64;
        } else {
            size_t take = 64 - c->used;
            if (take > n) take = n;
            memcpy(c->buf + c->used, p, take);
            c->used += take;
            p += take;
            n -= take;
            if (c->used == 64) {
                wl_sha256_block(c->h, c->buf);
                c->used = 0;
            }
        }
    }
}

static inline void wl_sha256_final(wl_sha256_ctx *c, uint8_t out[32])
{
    uint64_t bits = c->len * 8;
    int i;
    c->buf[c->used++] = 0x80;
    if (c->used > 56) {
        memset(c->buf + c->used, 0, 64 - c->used);
        wl_sha256_block(c->h, c->buf);
        c->used = 0;
    }
    memset(c->buf + c->used, 0, 56 - c->used);
    for (i = 0; i < 8; i++) c->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    wl_sha256_block(c->h, c->buf);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

static inline void wl_sha256(const void *data, size_t n, uint8_t out[32])
{
    wl_sha256_ctx c;
    wl_sha256_init(&c);
    wl_sha256_update(&c, data, n);
    wl_sha256_final(&c, out);
}

static inline void wl_hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static inline int wl_sha256_selfcheck(void)
{
    static const char *const inputs[4] = {
        "",
        "abc",
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "The quick brown fox jumps over the lazy dog"
    };
    static const char *const digests[5] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592",
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    };
    uint8_t d[32];
    char hex[65];
    char block[1000];
    wl_sha256_ctx c;
    int i;
    for (i = 0; i < 4; i++) {
        wl_sha256(inputs[i], strlen(inputs[i]), d);
        wl_hex(d, 32, hex);
        if (strcmp(hex, digests[i]) != 0) return 0;
    }
    memset(block, 'a', sizeof block);
    wl_sha256_init(&c);
    for (i = 0; i < 1000; i++) wl_sha256_update(&c, block, sizeof block);
    wl_sha256_final(&c, d);
    wl_hex(d, 32, hex);
    return strcmp(hex, digests[4]) == 0;
}

/* --------------------------------------------------------- task kinds */

/* LIGHT: sum of the primes below limit (trial division). */
static inline uint64_t wl_kind_primes(unsigned limit)
{
    uint64_t sum = 0;
    unsigned n, d;
    for (n = 2; n < limit; n++) {
        int prime = 1;
        for (d = 2; d * d <= n; d++) {
            if (n % d == 0) { prime = 0; break; }
        }
        if (prime) sum += n;
    }
    return sum;
}

#define WL_STRING_LEN 300

/* LIGHT: 300 pseudo-random lowercase letters from seed, reversed, then
   mangled (letter i upper-cased if i % 3 == 0, else shifted i % 7 places
   in the alphabet; then every 50th letter replaced by '#'); returns the FNV-1a hash of the mangled string. */
static inline uint64_t wl_kind_string(uint64_t seed)
{
    char s[WL_STRING_LEN + 1];
    uint64_t st = seed, h = 0xcbf29ce484222325ull;
    int i;
    for (i = 0; i < WL_STRING_LEN; i++) s[i] = (char)('a' + wl_splitmix64(&st) % 26);
    s[WL_STRING_LEN] = '\0';
    for (i = 0; i < WL_STRING_LEN / 2; i++) {
        char t = s[i];
        s[i] = s[WL_STRING_LEN - 1 - i];
        s[WL_STRING_LEN - 1 - i] = t;
    }
    for (i = 0; i < WL_STRING_LEN; i++) {
        if (i % 3 == 0) s[i] = (char)(s[i] - 'a' + 'A');
        else s[i] = (char)('a' + (s[i] - 'a' + i % 7) % 26);
        if (i % 50 == 49) s[i] = '#';
    }
    for (i = 0; i < WL_STRING_LEN; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* MEDIUM: n pseudo-random 32-bit ints from seed, sorted ascending; returns
   sum of a[i] * (i + 1) (mod 2^64), which depends on the sorted order. */
static inline uint64_t wl_sort_array(uint32_t *a, size_t n, uint64_t seed)
{
    uint64_t st = seed, sum = 0;
    size_t i;
    for (i = 0; i < n; i++) a[i] = (uint32_t)wl_splitmix64(&st);
    qsort(a, n, sizeof *a, wl_cmp_u32);
    for (i = 0; i < n; i++) sum += (uint64_t)a[i] * (uint64_t)(i + 1);
    return sum;
}

#define WL_SORT_MAX 700

static inline uint64_t wl_kind_sort(unsigned n, uint64_t seed)
{
    uint32_t a[WL_SORT_MAX];
    if (n > WL_SORT_MAX) n = WL_SORT_MAX;
    return wl_sort_array(a, n, seed);
}

/* HEAVY: a chain of `iters` SHA-256 iterations, digest_{i+1} =
   SHA-256(digest_i), starting from 32 bytes of the seed's generator;
   returns the first 8 bytes of the last digest (big-endian). */
static inline uint64_t wl_kind_sha(unsigned iters, uint64_t seed)
{
    uint8_t d[32];
    uint64_t st = seed, r = 0;
    unsigned i;
    int j;
    for (i = 0; i < 4; i++) {
        uint64_t x = wl_splitmix64(&st);
        for (j = 0; j < 8; j++) d[8 * i + (unsigned)j] = (uint8_t)(x >> (8 * j));
    }
    for (i = 0; i < iters; i++) wl_sha256(d, 32, d);
    for (j = 0; j < 8; j++) r = r << 8 | d[j];
    return r;
}

/* ----------------------------------------------------- waves tokens */

static inline int wl_token_kind(uint64_t g) { return (int)(g % 4); }

static inline int wl_token_weight(uint64_t g)
{
    static const int w[4] = { WL_LIGHT, WL_LIGHT, WL_MEDIUM, WL_HEAVY };
    return w[g % 4];
}

/* The work of token g (waves and burst window). */
static inline uint64_t wl_token(uint64_t g)
{
    uint64_t r = wl_mix64(g ^ 0x7465737420776176ull);
    switch (wl_token_kind(g)) {
    case WL_PRIMES: return wl_kind_primes(60u + (unsigned)(r % 26));
    case WL_STRING: return wl_kind_string(r);
    case WL_SORT:   return wl_kind_sort(400u + (unsigned)(r % 301), r);
    default:        return wl_kind_sha(120u + (unsigned)(r % 81), r);
    }
}

/* Per-token record: submit_ns is set by the submitter, the rest by
   wl_waves_run_token.  Each field is written by one thread and read after
   the implementation's wait (which orders it). */
typedef struct wl_wave_rec {
    uint64_t result;
    uint64_t submit_ns;
    uint64_t start_ns;
    uint64_t end_ns;
    uint32_t runs;
    uint32_t pad_;
} wl_wave_rec;

/* The task body of waves token g: runs wl_token(g) and stamps the record. */
static inline void wl_waves_run_token(wl_wave_rec *r, uint64_t g)
{
    r->start_ns = wl_now_ns();
    r->result = wl_token(g);
    r->end_ns = wl_now_ns();
    r->runs++;
}

/* Tokens in wave k (0-based) and the global index of its first token. */
static inline uint64_t wl_wave_size(int k) { return (uint64_t)WAVES_FIRST << k; }
static inline uint64_t wl_wave_first(int k) { return (uint64_t)WAVES_FIRST * ((1ull << k) - 1); }
static inline uint64_t wl_waves_total(int waves) { return wl_wave_first(waves); }

static inline uint64_t wl_waves_checksum_add(uint64_t sum, uint64_t g, uint64_t result)
{
    return sum + wl_mix64(result ^ (g * 0x9e3779b97f4a7c15ull));
}

/* The expected checksum of tokens [0, n), computed serially. */
static inline uint64_t wl_waves_reference_checksum(uint64_t n)
{
    uint64_t g, sum = 0;
    for (g = 0; g < n; g++) sum = wl_waves_checksum_add(sum, g, wl_token(g));
    return sum;
}

typedef struct wl_span { uint64_t t; int d; } wl_span;

static inline int wl_cmp_span(const void *a, const void *b)
{
    const wl_span *x = (const wl_span *)a, *y = (const wl_span *)b;
    if (x->t != y->t) return (x->t > y->t) - (x->t < y->t);
    return x->d - y->d;   /* ends (-1) before starts (+1) at the same instant */
}

/* Peak number of records running at once (sweep over start/end stamps). */
static inline int wl_peak_concurrency(const wl_wave_rec *r, size_t n)
{
    wl_span *ev = (wl_span *)malloc(2 * n * sizeof *ev);
    size_t i;
    int cur = 0, peak = 0;
    if (!ev) return -1;
    for (i = 0; i < n; i++) {
        ev[2 * i].t = r[i].start_ns;
        ev[2 * i].d = 1;
        ev[2 * i + 1].t = r[i].end_ns;
        ev[2 * i + 1].d = -1;
    }
    qsort(ev, 2 * n, sizeof *ev, wl_cmp_span);
    for (i = 0; i < 2 * n; i++) {
        cur += ev[i].d;
        if (cur > peak) peak = cur;
    }
    free(ev);
    return peak;
}

/* Counts the records of tokens [g0, g0+n) that are ok (ran exactly once and,
   if sampled, match the reference). */
static inline uint64_t wl_waves_count_ok(const wl_wave_rec *r, uint64_t g0, uint64_t n)
{
    uint64_t i, ok = 0;
    for (i = 0; i < n; i++) {
        uint64_t g = g0 + i;
        if (r[i].runs != 1) continue;
        if (g % WAVES_SAMPLE == 0 && r[i].result != wl_token(g)) continue;
        ok++;
    }
    return ok;
}

/* Sum of run times (ns) of n records. */
static inline uint64_t wl_busy_ns(const wl_wave_rec *r, size_t n)
{
    uint64_t s = 0;
    size_t i;
    for (i = 0; i < n; i++) s += r[i].end_ns - r[i].start_ns;
    return s;
}

/* Verifies and prints the WAVE line of wave k, whose records are r[0..n)
   (tokens wl_wave_first(k) ...), run between t0 and t1.  Returns the number
   of failed tokens. */
static inline uint64_t wl_waves_report(const char *impl, int k, const wl_wave_rec *r,
                                       uint64_t t0, uint64_t t1)
{
    uint64_t n = wl_wave_size(k), g0 = wl_wave_first(k);
    uint64_t ok = wl_waves_count_ok(r, g0, n), i;
    double wall = wl_seconds(t0, t1), lat = 0.0;
    for (i = 0; i < n; i++) lat += (double)(r[i].end_ns - r[i].submit_ns);
    lat = lat / (double)n * 1e-3;
    printf("WAVE impl=%s wave=%d tokens=%llu ok=%llu fail=%llu seconds=%.6f tokens_per_s=%.1f "
           "latency_us=%.1f concurrency=%d overlap=%.3f\n",
           impl, k + 1, (unsigned long long)n, (unsigned long long)ok,
           (unsigned long long)(n - ok), wall, (double)n / wall, lat,
           wl_peak_concurrency(r, (size_t)n), (double)wl_busy_ns(r, (size_t)n) * 1e-9 / wall);
    return n - ok;
}

/* Checksum of all records of tokens [0, n). */
static inline uint64_t wl_waves_checksum(const wl_wave_rec *r, uint64_t n)
{
    uint64_t g, sum = 0;
    for (g = 0; g < n; g++) sum = wl_waves_checksum_add(sum, g, r[g].result);
    return sum;
}

/* Prints the RESULT line of waves; total_seconds = sum of the waves' walls.
   Returns ok. */
static inline int wl_waves_finish(const char *impl, int threads, const wl_wave_rec *r,
                                  uint64_t total, double total_seconds, uint64_t fails)
{
    int ok = fails == 0 && wl_sha256_selfcheck();
    if (fails) wl_fail("waves", "some tokens did not run exactly once or gave a wrong result");
    if (!wl_sha256_selfcheck()) wl_fail("waves", "SHA-256 self-check");
    return bench_print("waves", impl, threads, total_seconds, ok,
                       "total=%llu tokens_per_s=%.1f checksum=%016llx",
                       (unsigned long long)total, (double)total / total_seconds,
                       (unsigned long long)wl_waves_checksum(r, total));
}

/* ---------------------------------------------------------- trees */

/* Child i (0-based) of the node covering [lo, hi), in a tree of fan-out w:
   a node with n = hi - lo > 1 leaves has k = min(w, n) children. */
static inline unsigned wl_tree_children(uint64_t lo, uint64_t hi, unsigned w)
{
    uint64_t n = hi - lo;
    if (n <= 1) return 0;
    return n < w ? (unsigned)n : w;
}

static inline void wl_tree_child(uint64_t lo, uint64_t hi, unsigned w, unsigned i,
                                 uint64_t *clo, uint64_t *chi)
{
    uint64_t n = hi - lo, k = wl_tree_children(lo, hi, w);
    *clo = lo + n * i / k;
    *chi = lo + n * (i + 1) / k;
}

/* Nodes in the tree over [lo, hi) (serial reference). */
static inline uint64_t wl_tree_nodes_range(uint64_t lo, uint64_t hi, unsigned w)
{
    unsigned k = wl_tree_children(lo, hi, w), i;
    uint64_t c = 1;
    for (i = 0; i < k; i++) {
        uint64_t a, b;
        wl_tree_child(lo, hi, w, i, &a, &b);
        c += wl_tree_nodes_range(a, b, w);
    }
    return c;
}

static inline uint64_t wl_tree_nodes(uint64_t leaves, unsigned w) { return wl_tree_nodes_range(0, leaves, w); }

/* Sum of leaf indices of the tree over [lo, hi) (serial reference, a
   recursion as skynet does it). */
static inline uint64_t wl_skynet_serial(uint64_t lo, uint64_t hi, unsigned w)
{
    unsigned k = wl_tree_children(lo, hi, w), i;
    uint64_t s = 0;
    if (k == 0) return lo;
    for (i = 0; i < k; i++) {
        uint64_t a, b;
        wl_tree_child(lo, hi, w, i, &a, &b);
        s += wl_skynet_serial(a, b, w);
    }
    return s;
}

static inline uint64_t wl_skynet_expected(uint64_t leaves) { return leaves * (leaves - 1) / 2; }

/* ----------------------------------------------------------- fib */

static inline uint64_t wl_fib_serial(int n) { return n < 2 ? (uint64_t)n : wl_fib_serial(n - 1) + wl_fib_serial(n - 2); }

/* Value of fib(n) by iteration (the expected result). */
static inline uint64_t wl_fib_expected(int n)
{
    uint64_t a = 0, b = 1;
    int i;
    for (i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

/* Number of tasks of the fib benchmark: calls with n >= 2. */
static inline uint64_t wl_fib_tasks(int n) { return wl_fib_expected(n + 1) - 1; }

/* -------------------------------------------------------- leibniz */

static inline double wl_leibniz_term(uint64_t k) { return (k & 1 ? -4.0 : 4.0) / (double)(2 * k + 1); }

/* Sums a[0..n) in index order (the body of chunk, partial and final tasks). */
static inline double wl_sum_doubles(const double *a, size_t n)
{
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += a[i];
    return s;
}

static inline unsigned wl_leibniz_chunks(unsigned terms) { return terms / LEIBNIZ_CHUNK; }

/* First chunk of partial p (of LEIBNIZ_PARTIALS) over `chunks` chunks. */
static inline unsigned wl_leibniz_partial_first(unsigned chunks, unsigned p)
{
    return (unsigned)((uint64_t)chunks * p / LEIBNIZ_PARTIALS);
}

/* Serial reference in the benchmark's exact summation order. */
static inline double wl_leibniz_reference(unsigned terms)
{
    unsigned chunks = wl_leibniz_chunks(terms), c, p;
    double partial[LEIBNIZ_PARTIALS], total = 0.0;
    for (p = 0; p < LEIBNIZ_PARTIALS; p++) {
        double ps = 0.0;
        for (c = wl_leibniz_partial_first(chunks, p); c < wl_leibniz_partial_first(chunks, p + 1); c++) {
            double cs = 0.0;
            uint64_t k;
            for (k = (uint64_t)c * LEIBNIZ_CHUNK; k < (uint64_t)(c + 1) * LEIBNIZ_CHUNK; k++)
                cs += wl_leibniz_term(k);
            ps += cs;
        }
        partial[p] = ps;
    }
    for (p = 0; p < LEIBNIZ_PARTIALS; p++) total += partial[p];
    return total;
}

/* Checks pi and prints the RESULT line of leibniz; returns ok. */
static inline int wl_leibniz_finish(const char *impl, int threads, double seconds,
                                    unsigned terms, double pi)
{
    double err = fabs(pi - M_PI);
    int ok = fabs(pi - wl_leibniz_reference(terms)) <= 1e-12 && err <= 2.0 / (double)terms;
    if (!ok) wl_fail("leibniz", "pi differs from the reference");
    return bench_print("leibniz", impl, threads, seconds, ok, "pi=%.12f error=%.3g tokens=%u",
                       pi, err, terms + wl_leibniz_chunks(terms) + LEIBNIZ_PARTIALS + 1);
}

/* ---------------------------------------------------------- burst */

/* A burst task: sorts BURST_SORT_N ints from seed i (heap buffer). */
static inline uint64_t wl_burst_sort(uint64_t i)
{
    uint32_t *a = (uint32_t *)malloc(BURST_SORT_N * sizeof *a);
    uint64_t r;
    if (!a) return 0;
    r = wl_sort_array(a, BURST_SORT_N, wl_mix64(i ^ 0x6275727374ull));
    free(a);
    return r;
}

/* Burst task body with stamps into a record. */
static inline void wl_burst_run(wl_wave_rec *r, uint64_t i)
{
    r->start_ns = wl_now_ns();
    r->result = wl_burst_sort(i);
    r->end_ns = wl_now_ns();
    r->runs++;
}

/* Size of sustained-window burst b. */
static inline unsigned wl_window_burst_size(uint64_t b) { return 8u + (unsigned)(wl_mix64(b ^ 0x77696e646f77ull) % 57); }

/* Checks the 8 burst records against the serial reference. */
static inline int wl_burst_check(const wl_wave_rec *r)
{
    unsigned i;
    for (i = 0; i < BURST_TASKS; i++)
        if (r[i].runs != 1 || r[i].result != wl_burst_sort(i)) return 0;
    return 1;
}

/* A growable array of records (the sustained window). */
typedef struct wl_recs {
    wl_wave_rec *r;
    size_t n, cap;
} wl_recs;

/* Makes room for `more` records at the end; returns the first new one
   (zeroed) or NULL.  Pointers into the array move: take them per burst. */
static inline wl_wave_rec *wl_recs_grow(wl_recs *v, size_t more)
{
    if (v->n + more > v->cap) {
        size_t cap = v->cap ? v->cap : 4096;
        wl_wave_rec *p;
        while (cap < v->n + more) cap *= 2;
        p = (wl_wave_rec *)realloc(v->r, cap * sizeof *p);
        if (!p) return NULL;
        v->r = p;
        v->cap = cap;
    }
    memset(v->r + v->n, 0, more * sizeof *v->r);
    v->n += more;
    return v->r + v->n - more;
}

/* Verifies the window records (sampled) and prints the RESULT line of burst.
   burst_wall / window_wall in seconds; burst_ok from wl_burst_check. */
static inline int wl_burst_finish(const char *impl, int threads, const wl_wave_rec *burst,
                                  double burst_wall, int burst_ok, const wl_recs *win,
                                  double window_wall)
{
    uint64_t ok = wl_waves_count_ok(win->r, 0, win->n);
    double br = (double)wl_busy_ns(burst, BURST_TASKS) * 1e-9 / burst_wall;
    double sr = (double)wl_busy_ns(win->r, win->n) * 1e-9 / window_wall;
    int good = burst_ok && ok == win->n && win->n > 0;
    if (!burst_ok) wl_fail("burst", "a burst task did not run once or gave a wrong result");
    if (ok != win->n) wl_fail("burst", "a window token did not run once or gave a wrong result");
    return bench_print("burst", impl, threads, burst_wall, good,
                       "burst_ratio=%.3f sustained_ratio=%.3f window_s=%.3f window_tokens=%llu",
                       br, sr, window_wall, (unsigned long long)win->n);
}

/* ------------------------------------------------------------- io */

/* The kinds of io operations, in the order of wl_io.n and wl_io.rec. */
enum { WL_IO_JSON = 0, WL_IO_LOG = 1, WL_IO_BLOB = 2, WL_IO_CPU = 3, WL_IO_KINDS = 4 };

#define WL_IO_DIR_MAX   400u                   /* the temporary directory's path  */
#define WL_IO_PATH_MAX  (WL_IO_DIR_MAX + 32u)  /* a file's path in it             */
#define WL_IO_JSON_CAP  (IO_JSON_BYTES + 256u) /* room for a JSON text            */
#define WL_IO_LINE_CAP  256u                   /* room for a log line             */

static inline unsigned wl_io_ops(const wl_args *a, int kind)
{
    static const unsigned full[WL_IO_KINDS] = { IO_JSON_OPS, IO_LOG_OPS, IO_BLOB_OPS, IO_CPU_TOKENS };
    static const unsigned quick[WL_IO_KINDS] = { IO_JSON_OPS_QUICK, IO_LOG_OPS_QUICK,
                                                 IO_BLOB_OPS_QUICK, IO_CPU_TOKENS_QUICK };
    return a->quick ? quick[kind] : full[kind];
}

/* Modelled device latency and ideal-bound cap of an I/O kind (0 for CPU). */
static inline long wl_io_sleep_ns(int kind)
{
    static const long ns[WL_IO_KINDS] = { IO_JSON_SLEEP_NS, IO_LOG_SLEEP_NS, IO_BLOB_SLEEP_NS, 0 };
    return ns[kind];
}

static inline unsigned wl_io_cap(int kind)
{
    static const unsigned cap[WL_IO_KINDS] = { IO_JSON_CAP, IO_LOG_CAP, IO_BLOB_CAP, 0 };
    return cap[kind];
}

/* One operation: its kind (WL_IO_*) and its index among the ops of that kind. */
typedef struct wl_io_item {
    uint32_t kind;
    uint32_t index;
} wl_io_item;

/* The whole run.  rec[k][i] is the record of op i of kind k: result, start
   and end stamps and run count, written by the op (wl_io_run) and read after
   the implementation's wait. */
typedef struct wl_io {
    char dir[WL_IO_DIR_MAX];         /* the temporary directory              */
    unsigned n[WL_IO_KINDS];         /* ops of each kind                     */
    size_t total;                    /* their sum                            */
    wl_io_item *order;               /* submission order: every op once      */
    wl_wave_rec *rec[WL_IO_KINDS];   /* records, per kind by index           */
    uint64_t cpu_ns;                 /* measured time of one CPU token, ns   */
} wl_io;

/* The text JSON op i writes, into buf (WL_IO_JSON_CAP bytes): an object with
   the op's id and name and an array of records {"k":j,"v":<u64>,"tag":"..."}
   that grows until the text passes IO_JSON_BYTES - 48 bytes.  Returns its
   length (4,048 .. 4,160). */
static inline size_t wl_io_json_text(uint32_t i, char *buf)
{
    uint64_t st = wl_mix64(i ^ 0x6a736f6eull);
    size_t n = (size_t)snprintf(buf, WL_IO_JSON_CAP, "{\"id\":%u,\"name\":\"record-%05u\",\"items\":[", i, i);
    unsigned j = 0, c;
    while (n < IO_JSON_BYTES - 48) {
        uint64_t v = wl_splitmix64(&st);
        char tag[9];
        for (c = 0; c < 8; c++) tag[c] = (char)('a' + (v >> (6 * c)) % 26);
        tag[8] = '\0';
        n += (size_t)snprintf(buf + n, WL_IO_JSON_CAP - n, "%s{\"k\":%u,\"v\":%llu,\"tag\":\"%s\"}",
                              j ? "," : "", j, (unsigned long long)v, tag);
        j++;
    }
    n += (size_t)snprintf(buf + n, WL_IO_JSON_CAP - n, "],\"count\":%u}\n", j);
    return n;
}

/* The line log op i appends to log file i % IO_LOG_FILES, into buf
   (WL_IO_LINE_CAP bytes): its index, its file and pseudo-random letters,
   180 .. 220 bytes in all with the closing '\n'.  Returns its length. */
static inline size_t wl_io_log_line(uint32_t i, char *buf)
{
    uint64_t st = wl_mix64(i ^ 0x6c6f67ull);
    size_t len = IO_LOG_LINE_MIN + (size_t)(wl_splitmix64(&st) % 41);
    size_t n = (size_t)snprintf(buf, WL_IO_LINE_CAP, "%010u level=info file=%u msg=", i, i % IO_LOG_FILES);
    while (n < len - 1) buf[n++] = (char)('a' + wl_splitmix64(&st) % 26);
    buf[n++] = '\n';
    return n;
}

/* The IO_BLOB_BYTES bytes blob op i writes, into buf. */
static inline void wl_io_blob_fill(uint32_t i, uint64_t *buf)
{
    uint64_t st = wl_mix64(i ^ 0x626c6f62ull);
    size_t k;
    for (k = 0; k < IO_BLOB_BYTES / 8; k++) buf[k] = wl_splitmix64(&st);
}

/* CPU token i: IO_CPU_ITERS steps of a xorshift64 generator folded into an
   FNV-style accumulator, one dependent chain (about 200 us). */
static inline uint64_t wl_io_cpu(uint32_t i)
{
    uint64_t x = wl_mix64(i ^ 0x637075ull) | 1, acc = 0;
    unsigned k;
    for (k = 0; k < IO_CPU_ITERS; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        acc = (acc ^ x) * 0x100000001b3ull + k;
    }
    return acc ^ x;
}

/* The expected checksum of CPU tokens [0, n), computed serially (the
   constants IO_CPU_CHECKSUM and IO_CPU_CHECKSUM_QUICK). */
static inline uint64_t wl_io_cpu_reference_checksum(uint32_t n)
{
    uint64_t sum = 0;
    uint32_t i;
    for (i = 0; i < n; i++) sum = wl_waves_checksum_add(sum, i, wl_io_cpu(i));
    return sum;
}

/* Path of the file op i of an I/O kind writes (a log op: its log file). */
static inline void wl_io_path(const wl_io *io, int kind, uint32_t i, char *out)
{
    if (kind == WL_IO_JSON) snprintf(out, WL_IO_PATH_MAX, "%s/json-%05u.json", io->dir, i);
    else if (kind == WL_IO_LOG) snprintf(out, WL_IO_PATH_MAX, "%s/log-%u.log", io->dir, i % IO_LOG_FILES);
    else snprintf(out, WL_IO_PATH_MAX, "%s/blob-%04u.bin", io->dir, i);
}

/* Writes n bytes to fd (short writes and EINTR retried); 0 or -1. */
static inline int wl_io_write_all(int fd, const void *p, size_t n)
{
    const char *c = (const char *)p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads up to cap bytes of the file at path into buf; the count or -1. */
static inline ssize_t wl_io_read_file(const char *path, void *buf, size_t cap)
{
    char *c = (char *)buf;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    while (n < cap) {
        ssize_t r = read(fd, c + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) { close(fd); return -1; }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    return (ssize_t)n;
}

/* Writes n bytes as the file at path (flags: O_TRUNC or O_APPEND); 0 or -1. */
static inline int wl_io_write_file(const char *path, int flags, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644), rc;
    if (fd < 0) return -1;
    rc = wl_io_write_all(fd, p, n);
    if (close(fd) != 0) rc = -1;
    return rc;
}

/* The modelled device latency: sleeps ns nanoseconds (EINTR resumed). */
static inline void wl_io_sleep(long ns)
{
    struct timespec ts, rem;
    ts.tv_sec = ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    while (nanosleep(&ts, &rem) != 0 && errno == EINTR) ts = rem;
}

/* JSON op i: writes its text as a new file (write + close, no fsync),
   sleeps, reads the file back; *result = bytes read, which must equal the
   text's length. */
static inline int wl_io_json_op(const wl_io *io, uint32_t i, uint64_t *result)
{
    char text[WL_IO_JSON_CAP], back[WL_IO_JSON_CAP], path[WL_IO_PATH_MAX];
    size_t n = wl_io_json_text(i, text);
    ssize_t got;
    wl_io_path(io, WL_IO_JSON, i, path);
    if (wl_io_write_file(path, O_TRUNC, text, n) != 0) return -1;
    wl_io_sleep(IO_JSON_SLEEP_NS);
    got = wl_io_read_file(path, back, sizeof back);
    if (got != (ssize_t)n) return -1;
    *result = (uint64_t)got;
    return 0;
}

/* Log op i: appends its line to its log file (O_APPEND, write, close) and
   sleeps; *result = the line's length. */
static inline int wl_io_log_op(const wl_io *io, uint32_t i, uint64_t *result)
{
    char line[WL_IO_LINE_CAP], path[WL_IO_PATH_MAX];
    size_t n = wl_io_log_line(i, line);
    wl_io_path(io, WL_IO_LOG, i, path);
    if (wl_io_write_file(path, O_APPEND, line, n) != 0) return -1;
    wl_io_sleep(IO_LOG_SLEEP_NS);
    *result = n;
    return 0;
}

/* Blob op i: writes its IO_BLOB_BYTES bytes as a new file and sleeps;
   *result = IO_BLOB_BYTES. */
static inline int wl_io_blob_op(const wl_io *io, uint32_t i, uint64_t *result)
{
    char path[WL_IO_PATH_MAX];
    uint64_t *blob = (uint64_t *)malloc(IO_BLOB_BYTES);
    int rc;
    if (!blob) return -1;
    wl_io_blob_fill(i, blob);
    wl_io_path(io, WL_IO_BLOB, i, path);
    rc = wl_io_write_file(path, O_TRUNC, blob, IO_BLOB_BYTES);
    free(blob);
    if (rc != 0) return -1;
    wl_io_sleep(IO_BLOB_SLEEP_NS);
    *result = IO_BLOB_BYTES;
    return 0;
}

/* The task body of op it: runs it, stamps its record and stores its result
   there (0 when a system call failed).  Returns 0, or -1 on such a failure. */
static inline int wl_io_run(const wl_io *io, wl_io_item it)
{
    wl_wave_rec *r = &io->rec[it.kind][it.index];
    uint64_t v = 0;
    int rc = 0;
    r->start_ns = wl_now_ns();
    switch (it.kind) {
    case WL_IO_JSON: rc = wl_io_json_op(io, it.index, &v); break;
    case WL_IO_LOG:  rc = wl_io_log_op(io, it.index, &v); break;
    case WL_IO_BLOB: rc = wl_io_blob_op(io, it.index, &v); break;
    default:         v = wl_io_cpu(it.index); break;
    }
    r->result = rc == 0 ? v : 0;
    r->end_ns = wl_now_ns();
    r->runs++;
    return rc;
}

/* Removes every file of directory dir, then dir itself. */
static inline void wl_io_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d) {
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

/* The directory removed at exit if the program ends before wl_io_free. */
static char wl_io_exit_dir_[WL_IO_DIR_MAX];

static inline void wl_io_atexit_(void)
{
    if (wl_io_exit_dir_[0]) wl_io_remove_dir(wl_io_exit_dir_);
}

/* Fills io->order with every op once, the kinds interleaved evenly: op j of
   kind k at (j + 1/2) / n[k] of the way through (ties: the lower kind). */
static inline void wl_io_schedule(wl_io *io)
{
    unsigned next[WL_IO_KINDS] = { 0, 0, 0, 0 };
    size_t p;
    int k;
    for (p = 0; p < io->total; p++) {
        int best = -1;
        for (k = 0; k < WL_IO_KINDS; k++) {
            if (next[k] >= io->n[k]) continue;
            if (best < 0 || (uint64_t)(2 * next[k] + 1) * io->n[best] <
                                (uint64_t)(2 * next[best] + 1) * io->n[k])
                best = k;
        }
        io->order[p].kind = (uint32_t)best;
        io->order[p].index = next[best]++;
    }
}

/* Run time of one CPU token on this machine: the median of 15 runs (of
   indices the workload does not use). */
static inline uint64_t wl_io_calibrate(void)
{
    uint64_t t[15];
    volatile uint64_t sink;   /* keeps the runs */
    unsigned k;
    for (k = 0; k < 15; k++) {
        uint64_t t0 = wl_now_ns();
        sink = wl_io_cpu(0x80000000u + k);
        t[k] = wl_now_ns() - t0;
    }
    (void)sink;
    return wl_percentile_u64(t, 15, 50.0);
}

/* Creates the run's temporary directory (mkdtemp under $TMPDIR or /tmp,
   removed by wl_io_free or at exit), the records and the order, and measures
   the CPU token.  Returns 0, or -1 with a message on stderr. */
static inline int wl_io_setup(wl_io *io, const wl_args *a)
{
    const char *tmp = getenv("TMPDIR");
    int k;
    memset(io, 0, sizeof *io);
    if (!tmp || !*tmp) tmp = "/tmp";
    if (snprintf(io->dir, WL_IO_DIR_MAX, "%s/tokengate-io-XXXXXX", tmp) >= (int)WL_IO_DIR_MAX ||
        !mkdtemp(io->dir)) {
        fprintf(stderr, "io: cannot create a directory under %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    memcpy(wl_io_exit_dir_, io->dir, WL_IO_DIR_MAX);
    atexit(wl_io_atexit_);
    for (k = 0; k < WL_IO_KINDS; k++) {
        io->n[k] = wl_io_ops(a, k);
        io->total += io->n[k];
        io->rec[k] = (wl_wave_rec *)calloc(io->n[k], sizeof *io->rec[k]);
        if (!io->rec[k]) return -1;
    }
    io->order = (wl_io_item *)malloc(io->total * sizeof *io->order);
    if (!io->order) return -1;
    wl_io_schedule(io);
    io->cpu_ns = wl_io_calibrate();
    return 0;
}

/* Removes the directory and frees the records. */
static inline void wl_io_free(wl_io *io)
{
    int k;
    wl_io_remove_dir(io->dir);
    wl_io_exit_dir_[0] = '\0';
    for (k = 0; k < WL_IO_KINDS; k++) free(io->rec[k]);
    free(io->order);
}

/* The ideal bound in seconds: each I/O kind with its cap of ops in flight,
   ceil(n / cap) * sleep, and the CPU tokens spread over `cores`, n *
   cpu_ns / cores; the largest of the four. */
static inline double wl_io_ideal_s(const wl_io *io, int cores)
{
    double ideal = (double)io->n[WL_IO_CPU] * (double)io->cpu_ns * 1e-9 / (cores > 0 ? cores : 1);
    int k;
    for (k = 0; k < WL_IO_CPU; k++) {
        double t = ceil((double)io->n[k] / (double)wl_io_cap(k)) * (double)wl_io_sleep_ns(k) * 1e-9;
        if (t > ideal) ideal = t;
    }
    return ideal;
}

/* Every op ran exactly once with the expected result: the length of its
   text (JSON, log) or IO_BLOB_BYTES (a CPU token: the checksum checks it). */
static inline int wl_io_check_records(const wl_io *io)
{
    char buf[WL_IO_JSON_CAP];
    uint32_t i;
    int k;
    for (k = 0; k < WL_IO_KINDS; k++)
        for (i = 0; i < io->n[k]; i++) {
            const wl_wave_rec *r = &io->rec[k][i];
            uint64_t want;
            if (r->runs != 1) return 0;
            if (k == WL_IO_JSON) want = wl_io_json_text(i, buf);
            else if (k == WL_IO_LOG) want = wl_io_log_line(i, buf);
            else if (k == WL_IO_BLOB) want = IO_BLOB_BYTES;
            else continue;
            if (r->result != want) return 0;
        }
    return 1;
}

/* Every JSON and blob file holds exactly what its op wrote. */
static inline int wl_io_check_files(const wl_io *io)
{
    char text[WL_IO_JSON_CAP], back[WL_IO_JSON_CAP], path[WL_IO_PATH_MAX];
    uint64_t *blob = (uint64_t *)malloc(IO_BLOB_BYTES), *got = (uint64_t *)malloc(IO_BLOB_BYTES + 8);
    uint32_t i;
    int ok = blob && got;
    for (i = 0; ok && i < io->n[WL_IO_JSON]; i++) {
        size_t n = wl_io_json_text(i, text);
        wl_io_path(io, WL_IO_JSON, i, path);
        ok = wl_io_read_file(path, back, sizeof back) == (ssize_t)n && memcmp(text, back, n) == 0;
    }
    for (i = 0; ok && i < io->n[WL_IO_BLOB]; i++) {
        wl_io_blob_fill(i, blob);
        wl_io_path(io, WL_IO_BLOB, i, path);
        ok = wl_io_read_file(path, got, IO_BLOB_BYTES + 8) == (ssize_t)IO_BLOB_BYTES &&
             memcmp(blob, got, IO_BLOB_BYTES) == 0;
    }
    free(blob);
    free(got);
    return ok;
}

/* A log line's term in its file's order-independent sum. */
static inline uint64_t wl_io_line_hash(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 0x100000001b3ull;
    }
    return wl_mix64(h);
}

/* Every log file holds exactly the lines appended to it, each whole, in any
   order: its size is their total length and the sum of its lines' hashes
   (wl_io_line_hash, each line with its '\n') is theirs. */
static inline int wl_io_check_logs(const wl_io *io)
{
    uint64_t want_sum[IO_LOG_FILES], want_len[IO_LOG_FILES];
    char line[WL_IO_LINE_CAP], path[WL_IO_PATH_MAX];
    uint32_t i, f;
    memset(want_sum, 0, sizeof want_sum);
    memset(want_len, 0, sizeof want_len);
    for (i = 0; i < io->n[WL_IO_LOG]; i++) {
        size_t n = wl_io_log_line(i, line);
        want_len[i % IO_LOG_FILES] += n;
        want_sum[i % IO_LOG_FILES] += wl_io_line_hash(line, n);
    }
    for (f = 0; f < IO_LOG_FILES; f++) {
        char *buf, *p, *end;
        uint64_t sum = 0;
        ssize_t got;
        if (want_len[f] == 0) continue;
        if (!(buf = (char *)malloc(want_len[f] + 1))) return 0;
        wl_io_path(io, WL_IO_LOG, f, path);
        got = wl_io_read_file(path, buf, want_len[f] + 1);
        for (p = buf, end = buf + (got > 0 ? got : 0); p < end;) {
            char *nl = (char *)memchr(p, '\n', (size_t)(end - p));
            char *stop = nl ? nl + 1 : end;
            sum += wl_io_line_hash(p, (size_t)(stop - p));
            p = stop;
        }
        free(buf);
        if (got != (ssize_t)want_len[f] || sum != want_sum[f]) return 0;
    }
    return 1;
}

/* The expected checksum of n CPU tokens: the constants for the two sizes. */
static inline uint64_t wl_io_cpu_expected(uint32_t n)
{
    if (n == IO_CPU_TOKENS) return IO_CPU_CHECKSUM;
    if (n == IO_CPU_TOKENS_QUICK) return IO_CPU_CHECKSUM_QUICK;
    return wl_io_cpu_reference_checksum(n);
}

/* Verifies the records, the files and the CPU checksum and prints the
   RESULT line of io; seconds: from the first submission to the end of the
   wait for all.  Returns ok. */
static inline int wl_io_finish(const char *impl, int threads, const wl_io *io, double seconds)
{
    int recs_ok = wl_io_check_records(io), files_ok = wl_io_check_files(io);
    int logs_ok = wl_io_check_logs(io), sum_ok, ok;
    double ideal = wl_io_ideal_s(io, wl_cpu_count());
    uint64_t sum = 0;
    uint32_t i;
    for (i = 0; i < io->n[WL_IO_CPU]; i++) sum = wl_waves_checksum_add(sum, i, io->rec[WL_IO_CPU][i].result);
    sum_ok = sum == wl_io_cpu_expected(io->n[WL_IO_CPU]);
    ok = recs_ok && files_ok && logs_ok && sum_ok;
    if (!recs_ok) wl_fail("io", "an operation did not run exactly once or its I/O failed");
    if (!files_ok) wl_fail("io", "a JSON or blob file does not hold what its op wrote");
    if (!logs_ok) wl_fail("io", "a log file does not hold exactly the lines appended to it");
    if (!sum_ok) wl_fail("io", "the checksum of the CPU tokens differs from the reference");
    return bench_print("io", impl, threads, seconds, ok,
                       "ops=%llu ideal_s=%.6f ideal_ratio=%.3f cpu_us=%.1f peak_json=%d peak_log=%d "
                       "peak_blob=%d checksum=%016llx",
                       (unsigned long long)io->total, ideal, seconds / ideal, (double)io->cpu_ns * 1e-3,
                       wl_peak_concurrency(io->rec[WL_IO_JSON], io->n[WL_IO_JSON]),
                       wl_peak_concurrency(io->rec[WL_IO_LOG], io->n[WL_IO_LOG]),
                       wl_peak_concurrency(io->rec[WL_IO_BLOB], io->n[WL_IO_BLOB]),
                       (unsigned long long)sum);
}

/* --------------------------------------------------- other finishers */

static inline int wl_empty_finish(const char *bench, const char *impl, int threads,
                                  double seconds, uint64_t tokens, uint64_t ran, uint64_t expected)
{
    int ok = ran == expected;
    if (!ok) wl_fail(bench, "wrong number of tasks ran");
    return bench_print(bench, impl, threads, seconds, ok, "tokens=%llu tokens_per_s=%.1f",
                       (unsigned long long)tokens, (double)tokens / seconds);
}

static inline int wl_value_finish(const char *bench, const char *impl, int threads,
                                  double seconds, uint64_t value, uint64_t expected, uint64_t tokens)
{
    int ok = value == expected;
    if (!ok) wl_fail(bench, "wrong value");
    return bench_print(bench, impl, threads, seconds, ok, "value=%llu tokens=%llu",
                       (unsigned long long)value, (unsigned long long)tokens);
}

/* lat_ns: per-round latencies (sorted in place). */
static inline int wl_pingpong_finish(const char *impl, int threads, double seconds,
                                     uint64_t *lat_ns, size_t rounds, uint64_t ran,
                                     uint64_t on_worker)
{
    int ok = ran == rounds;
    double med = (double)wl_percentile_u64(lat_ns, rounds, 50.0) * 1e-3;
    double p99 = (double)wl_percentile_u64(lat_ns, rounds, 99.0) * 1e-3;
    if (!ok) wl_fail("pingpong", "wrong number of rounds ran");
    return bench_print("pingpong", impl, threads, seconds, ok,
                       "rounds=%llu median_us=%.3f p99_us=%.3f on_worker=%.3f",
                       (unsigned long long)rounds, med, p99,
                       rounds ? (double)on_worker / (double)rounds : 0.0);
}

static inline int wl_memory_finish(const char *impl, int threads, double seconds, uint64_t n,
                                   long rss_before_kb, long rss_after_kb, uint64_t ran)
{
    int ok = ran == n && rss_before_kb > 0 && rss_after_kb >= rss_before_kb;
    if (!ok) wl_fail("memory", "not every gated task ran exactly once");
    return bench_print("memory", impl, threads, seconds, ok,
                       "tokens=%llu max_rss_kb=%ld rss_before_kb=%ld bytes_per_token=%.1f",
                       (unsigned long long)n, rss_after_kb, rss_before_kb,
                       (double)(rss_after_kb - rss_before_kb) * 1024.0 / (double)n);
}

#ifdef __cplusplus
}
#endif

#endif /* BENCH_WORKLOAD_H */
