/* metg.h - the task graph, the kernel and the checks shared by every METG
 * program (tokengate, tbb, gomp, llvm-omp, serial).  Header-only; compiles
 * as C11 (gcc, clang) and as C++17 (g++).
 *
 * The graph: `width` points by `steps` time steps.  Task (t, i) runs
 * mg_kernel(iters), a dependent integer chain whose result depends on
 * `iters` only, and stores
 *     value(t, i) = H(t, i, value(t-1, d) for each dependency d, kernel)
 * in vals[t * width + i].  Its inputs are read from that shared array; the
 * runtime's dependency edges are what order the reads after the writes.
 *
 * Dependencies of (t, i) on step t-1 (none at t = 0), always listed in
 * ascending order, each once (mg_deps):
 *   trivial     none
 *   stencil_1d  i-1, i, i+1, those in [0, width)
 *   tree        active points: min(2^t, width) at step t (points
 *               0 .. active-1; the rest of the row is idle); point i
 *               depends on i/2 (Task Bench's rule: a binary fan-out that
 *               saturates at width)
 *   fft         i and i XOR 2^((t-1) mod log2(width)): the butterfly
 *               (width a power of two; width 1: i only)
 *   nearest     the radix (3) points [i - radix/2, i + (radix-1)/2]
 *               clipped to [0, width), as Task Bench's nearest clips
 *               (no shift), so with radix 3 it has stencil_1d's edges
 *
 * Verification: the checksum is an ordered fold of every active value of
 * every step (so also of the final step's values); mg_reference computes it
 * with the kernel run once and folded in, which is cheap.  Every program
 * compares its own checksum with it (ok=1/0) and prints it; the driver also
 * compares it with the serial program's.
 *
 * Command line of every program:
 *   prog --pattern P [--width W] [--steps S] [--iters N] [--reps R]
 *        [--radix K]
 *   serial also: --calibrate (prints the kernel's ns per iteration)
 * Output, one line per repetition (wall_ns: graph built, run, waited,
 * torn down):
 *   RESULT system=S pattern=P width=W steps=S iters=N tasks=T rep=R
 *          wall_ns=NS checksum=HEX ok=0|1
 */
#ifndef METG_H
#define METG_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mg_pattern { MG_TRIVIAL, MG_STENCIL, MG_TREE, MG_FFT, MG_NEAREST, MG_NPATTERNS };

static const char *const mg_pattern_names[MG_NPATTERNS] = {
    "trivial", "stencil_1d", "tree", "fft", "nearest"
};

#define MG_MAX_DEPS 8   /* radix is capped so that deps always fit */

typedef struct mg_graph {
    int pattern;
    int width, steps, radix, log2w;
    uint64_t iters;
    int reps;
    uint64_t *vals;   /* steps * width values, zeroed before each run */
} mg_graph;

static inline uint64_t mg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64's finaliser: the hash every value is built from */
static inline uint64_t mg_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The compute-bound kernel: a chain of dependent shift-xor-multiply steps
   (about 5 cycles each).  The empty volatile asm makes the start value
   opaque, so the compiler can neither fold the chain nor hoist a call out
   of a task loop; noinline keeps one copy whose cost the calibration
   measured.  The result is a pure function of iters. */
__attribute__((noinline)) static uint64_t mg_kernel(uint64_t iters)
{
    uint64_t x = 0x2545f4914f6cdd1dULL;
    __asm__ volatile("" : "+r"(x));
    for (uint64_t k = 0; k < iters; k++) {
        x ^= x >> 27;
        x *= 0x9e3779b97f4a7c15ULL;
    }
    return x;
}

/* number of active points at step t */
static inline int mg_active(const mg_graph *g, int t)
{
    if (g->pattern != MG_TREE || t >= 30) return g->width;
    return (1 << t) < g->width ? (1 << t) : g->width;
}

static inline int mg_add_dep(int *deps, int n, int d)
{
    for (int k = 0; k < n; k++)
        if (deps[k] == d) return n;
    int k = n;
    while (k > 0 && deps[k - 1] > d) {   /* insertion keeps them ascending */
        deps[k] = deps[k - 1];
        k--;
    }
    deps[k] = d;
    return n + 1;
}

/* Dependencies of (t, i) on step t-1 into deps (ascending); returns the count. */
static inline int mg_deps(const mg_graph *g, int t, int i, int *deps)
{
    int n = 0, w = g->width;
    if (t == 0) return 0;
    switch (g->pattern) {
    case MG_STENCIL:
        for (int d = i - 1; d <= i + 1; d++)
            if (d >= 0 && d < w) n = mg_add_dep(deps, n, d);
        break;
    case MG_TREE:
        n = mg_add_dep(deps, n, i / 2);
        break;
    case MG_FFT:
        n = mg_add_dep(deps, n, i);
        if (g->log2w > 0) n = mg_add_dep(deps, n, i ^ (1 << ((t - 1) % g->log2w)));
        break;
    case MG_NEAREST:
        for (int d = i - g->radix / 2; d <= i + (g->radix - 1) / 2; d++)
            if (d >= 0 && d < w) n = mg_add_dep(deps, n, d);
        break;
    default:
        break;
    }
    return n;
}

/* The value of (t, i) from its inputs' values and the kernel's result. */
static inline uint64_t mg_combine(const mg_graph *g, int t, int i, uint64_t kres)
{
    int deps[MG_MAX_DEPS], n = mg_deps(g, t, i, deps);
    uint64_t h = mg_mix(((uint64_t)(uint32_t)t << 32) | (uint32_t)i);
    for (int k = 0; k < n; k++)
        h = mg_mix(h ^ g->vals[(size_t)(t - 1) * g->width + deps[k]]);
    return mg_mix(h ^ kres);
}

/* The body of task (t, i), the same for every system. */
static inline uint64_t mg_run_task(const mg_graph *g, int t, int i)
{
    uint64_t v = mg_combine(g, t, i, mg_kernel(g->iters));
    g->vals[(size_t)t * g->width + i] = v;
    return v;
}

static inline uint64_t mg_tasks(const mg_graph *g)
{
    uint64_t n = 0;
    for (int t = 0; t < g->steps; t++) n += (uint64_t)mg_active(g, t);
    return n;
}

/* Ordered fold of every active value, step by step. */
static inline uint64_t mg_checksum(const mg_graph *g)
{
    uint64_t c = 0x6d65746763686b31ULL;
    for (int t = 0; t < g->steps; t++)
        for (int i = 0; i < mg_active(g, t); i++)
            c = mg_mix(c ^ g->vals[(size_t)t * g->width + i]);
    return c;
}

/* The expected checksum: a serial pass with the kernel run once.  Uses (and
   leaves filled) a scratch array of its own. */
static inline uint64_t mg_reference(const mg_graph *g)
{
    mg_graph r = *g;
    uint64_t kres = mg_kernel(g->iters), c;
    r.vals = (uint64_t *)calloc((size_t)g->steps * g->width, sizeof *r.vals);
    if (!r.vals) {
        fprintf(stderr, "metg: out of memory\n");
        exit(2);
    }
    for (int t = 0; t < r.steps; t++)
        for (int i = 0; i < mg_active(&r, t); i++)
            r.vals[(size_t)t * r.width + i] = mg_combine(&r, t, i, kres);
    c = mg_checksum(&r);
    free(r.vals);
    return c;
}

static inline void mg_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --pattern trivial|stencil_1d|tree|fft|nearest [--width W]\n"
            "          [--steps S] [--iters N] [--reps R] [--radix K]\n",
            prog);
    exit(2);
}

static inline int mg_parse_pattern(const char *s)
{
    for (int p = 0; p < MG_NPATTERNS; p++)
        if (strcmp(s, mg_pattern_names[p]) == 0) return p;
    return -1;
}

static inline int mg_log2_exact(int w)
{
    int l = 0;
    while ((1 << l) < w) l++;
    return (1 << l) == w ? l : -1;
}

/* Checks the parsed graph; exits with a message when it is unusable. */
static inline void mg_validate(mg_graph *g, const char *prog)
{
    if (g->pattern < 0 || g->width < 1 || g->width > (1 << 20) || g->steps < 1 ||
        g->reps < 1 || g->radix < 1 || g->radix > MG_MAX_DEPS)
        mg_usage(prog);
    g->log2w = mg_log2_exact(g->width);
    if (g->pattern == MG_FFT && g->log2w < 0) {
        fprintf(stderr, "%s: fft needs a power-of-two width (got %d)\n", prog, g->width);
        exit(2);
    }
}

/* Parses the command line (see the top of this file); allocates vals.
   *calibrate is set by --calibrate when calibrate is not NULL. */
static inline mg_graph mg_parse(int argc, char **argv, int *calibrate)
{
    mg_graph g;
    memset(&g, 0, sizeof g);
    g.pattern = -1;
    g.width = (int)sysconf(_SC_NPROCESSORS_ONLN);
    g.steps = 10, g.iters = 1000, g.reps = 1, g.radix = 3;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k], *v = k + 1 < argc ? argv[k + 1] : NULL;
        if (calibrate && strcmp(a, "--calibrate") == 0) { *calibrate = 1; continue; }
        if (!v) mg_usage(argv[0]);
        if (strcmp(a, "--pattern") == 0) g.pattern = mg_parse_pattern(v);
        else if (strcmp(a, "--width") == 0) g.width = atoi(v);
        else if (strcmp(a, "--steps") == 0) g.steps = atoi(v);
        else if (strcmp(a, "--iters") == 0) g.iters = strtoull(v, NULL, 10);
        else if (strcmp(a, "--reps") == 0) g.reps = atoi(v);
        else if (strcmp(a, "--radix") == 0) g.radix = atoi(v);
        else mg_usage(argv[0]);
        k++;
    }
    if (calibrate && *calibrate) return g;
    mg_validate(&g, argv[0]);
    g.vals = (uint64_t *)calloc((size_t)g.steps * g.width, sizeof *g.vals);
    if (!g.vals) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        exit(2);
    }
    return g;
}

static inline void mg_clear(mg_graph *g)
{
    memset(g->vals, 0, (size_t)g->steps * g->width * sizeof *g->vals);
}

/* Prints one measurement; returns 1 if its checksum is the expected one. */
static inline int mg_report(const char *system, const mg_graph *g, int rep, uint64_t wall_ns,
                            uint64_t expected)
{
    uint64_t c = mg_checksum(g);
    int ok = c == expected;
    printf("RESULT system=%s pattern=%s width=%d steps=%d iters=%" PRIu64 " tasks=%" PRIu64
           " rep=%d wall_ns=%" PRIu64 " checksum=%016" PRIx64 " ok=%d\n",
           system, mg_pattern_names[g->pattern], g->width, g->steps, g->iters, mg_tasks(g), rep,
           wall_ns, c, ok);
    if (!ok)
        fprintf(stderr, "%s: %s rep %d: checksum %016" PRIx64 ", expected %016" PRIx64 "\n",
                system, mg_pattern_names[g->pattern], rep, c, expected);
    fflush(stdout);
    return ok;
}

/* A small graph of the same shape, for a warm-up run before the timed ones:
   at most 64 steps and about MG_WARMUP_ITERS kernel iterations in all
   (~20 ms of one core), enough for the thread pool to start, its threads to
   spread over the cores and caches and allocators to warm.  Free with
   mg_free. */
#define MG_WARMUP_ITERS 10000000u

static inline mg_graph mg_warmup_graph(const mg_graph *g)
{
    mg_graph w = *g;
    w.steps = g->steps < 64 ? g->steps : 64;
    uint64_t per_task = MG_WARMUP_ITERS / mg_tasks(&w);
    w.iters = g->iters < per_task ? g->iters : per_task;
    w.reps = 1;
    w.vals = (uint64_t *)calloc((size_t)w.steps * w.width, sizeof *w.vals);
    if (!w.vals) {
        fprintf(stderr, "metg: out of memory\n");
        exit(2);
    }
    return w;
}

static inline void mg_free(mg_graph *g)
{
    free(g->vals);
    g->vals = NULL;
}

/* One run of the whole graph on a system: builds it, runs it, waits for
   every task and tears it down.  Returns 0, or nonzero after printing the
   error. */
typedef int (*mg_run_fn)(void *ctx, mg_graph *g);

/* The warm-up run, checked; returns 0 when it ran and verified. */
static inline int mg_warmup(const char *system, const mg_graph *g, mg_run_fn run, void *ctx)
{
    mg_graph w = mg_warmup_graph(g);
    int bad = run(ctx, &w) != 0;
    if (!bad && mg_checksum(&w) != mg_reference(&w)) {
        fprintf(stderr, "%s: %s: warm-up checksum wrong\n", system, mg_pattern_names[g->pattern]);
        bad = 1;
    }
    mg_free(&w);
    return bad;
}

/* Warm-up, then g->reps timed runs, one RESULT line each.  Returns the
   process exit code: 0 when every run verified, 1 otherwise. */
static inline int mg_main_loop(const char *system, mg_graph *g, mg_run_fn run, void *ctx)
{
    uint64_t expected = mg_reference(g);
    int bad = 0;
    if (mg_warmup(system, g, run, ctx)) return 1;
    for (int rep = 1; rep <= g->reps; rep++) {
        mg_clear(g);
        uint64_t t0 = mg_now_ns();
        if (run(ctx, g) != 0) return 1;
        uint64_t t1 = mg_now_ns();
        bad |= !mg_report(system, g, rep, t1 - t0, expected);
    }
    return bad;
}

#endif
