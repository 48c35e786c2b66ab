/* demo.c - the TokenGate tour that `make demo` runs.

   Part 1, Leibniz pi: 1,000,000 term tokens -> 1,000 chunk tokens (1,000
   terms each) -> 10 partial tokens (100 chunks each) -> 1 final token,
   level by level from the outside thread, with a row per level.

   Part 2, mixed waves: 8 waves of 4, 8, ..., 512 tokens, each wave mixing
   four kinds of work in turn:
       primes  sum of the primes below a random limit in 60..85   TG_LIGHT
       string  a random 300-letter string, reversed and mangled   TG_LIGHT
       sort    400..700 random ints sorted                        TG_MEDIUM
       chain   120..200 iterations of a hash over a 32-byte state TG_HEAVY
   (The chain uses a cheap 64-bit mixing function in the shape of a SHA-256
   block; the embedded tg_sha256 is public, see hash_conductor.c.) Every result is checked against a serial
   run. A row per wave gives the tokens, how many ended correct or not, the
   wall time, tokens per second, the mean latency (submission to end) and the
   concurrency ratio: the sum of the tokens' run times (tg_info started_ns to
   ended_ns) divided by the wall time, i.e. how many ran at once on average.

   Exits non-zero if any result is wrong. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static tg_scheduler *sched;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void check(int rc, const char *what)
{
    if (rc != TG_OK) {
        fprintf(stderr, "demo: %s: %s\n", what, tg_strerror(rc));
        exit(1);
    }
}

/* Per-token timings gathered with tg_info before a handle is released. */
struct timing {
    uint64_t tokens;
    int64_t run_ns;       /* sum of ended_ns - started_ns */
    int64_t latency_ns;   /* sum of ended_ns - created_ns */
};

static void add_timing(tg_token t, struct timing *tm)
{
    tg_token_info info;
    check(tg_info(sched, t, &info), "tg_info");
    tm->tokens++;
    if (info.started_ns != 0)
        tm->run_ns += info.ended_ns - info.started_ns;
    tm->latency_ns += info.ended_ns - info.created_ns;
}

/* ================================================================ part 1 */

#define TERMS            1000000
#define TERMS_PER_CHUNK  1000
#define CHUNKS           (TERMS / TERMS_PER_CHUNK)
#define CHUNKS_PER_PART  100
#define PARTS            (CHUNKS / CHUNKS_PER_PART)
#define CHUNKS_IN_FLIGHT 4

static int leibniz_term(const void *args, tg_value *result)
{
    int64_t k = *(const int64_t *)args;
    result->f = (k % 2 == 0 ? 1.0 : -1.0) / (double)(2 * k + 1);
    return 0;
}

struct sum_args { double scale; uint32_t count; double values[TERMS_PER_CHUNK]; };

static int sum_values(const void *args, tg_value *result)
{
    const struct sum_args *a = args;
    double sum = 0.0;
    for (uint32_t i = 0; i < a->count; i++)
        sum += a->values[i];
    result->f = a->scale * sum;
    return 0;
}

static const tg_op term_op    = { .name = "leibniz_term",    .fn = leibniz_term,
                                  .weight = TG_LIGHT };
static const tg_op chunk_op   = { .name = "leibniz_chunk",   .fn = sum_values };
static const tg_op partial_op = { .name = "leibniz_partial", .fn = sum_values };
static const tg_op final_op   = { .name = "leibniz_final",   .fn = sum_values,
                                  .weight = TG_HEAVY };

/* Waits for n tokens, stores their results, times and releases them. */
static void collect(const tg_token *t, uint32_t n, double *values,
                    struct timing *tm)
{
    check(tg_wait_all(sched, t, n, -1), "tg_wait_all");
    for (uint32_t i = 0; i < n; i++) {
        tg_value v;
        check(tg_wait(sched, t[i], 0, &v), "reading a result");
        values[i] = v.f;
        add_timing(t[i], tm);
        check(tg_release(sched, t[i]), "tg_release");
    }
}

/* Submits `groups` summing tokens over consecutive runs of `per_group`
   values and collects their results into out[]. */
static void sum_level(const tg_op *op, const double *in, uint32_t groups,
                      uint32_t per_group, double scale, double *out,
                      struct timing *tm)
{
    static struct sum_args args;
    static tg_token tokens[CHUNKS];
    for (uint32_t g = 0; g < groups; g++) {
        args.scale = scale;
        args.count = per_group;
        memcpy(args.values, in + (size_t)g * per_group, per_group * sizeof(double));
        check(tg_submit(sched, op, &args,
                        offsetof(struct sum_args, values) + per_group * sizeof(double),
                        &tokens[g]), op->name);
    }
    collect(tokens, groups, out, tm);
}

static void print_level(const char *name, const struct timing *tm, int64_t wall)
{
    printf("  %-9s %9llu %10.1f %12.0f %11.2fx\n", name,
           (unsigned long long)tm->tokens, (double)wall / 1e6,
           (double)tm->tokens / ((double)wall / 1e9),
           (double)tm->run_ns / (double)wall);
}

static int run_leibniz(void)
{
    static tg_token terms[CHUNKS_IN_FLIGHT][TERMS_PER_CHUNK];
    static double term_values[TERMS];
    static double chunk_values[CHUNKS];
    double part_values[PARTS], pi;
    struct timing tm[4] = { { 0, 0, 0 } };
    int64_t wall[4];

    printf("1. Leibniz pi: %d term tokens -> %d chunks -> %d partials -> 1 final\n\n",
           TERMS, CHUNKS, PARTS);
    printf("  %-9s %9s %10s %12s %12s\n", "level", "tokens", "time ms",
           "tokens/s", "concurrency");

    /* Level 1: terms, a few chunks ahead of the collection. */
    int64_t t0 = now_ns();
    for (uint32_t c = 0; c < CHUNKS + CHUNKS_IN_FLIGHT; c++) {
        tg_token *batch = terms[c % CHUNKS_IN_FLIGHT];
        if (c >= CHUNKS_IN_FLIGHT) {        /* chunk c - CHUNKS_IN_FLIGHT */
            uint32_t done = c - CHUNKS_IN_FLIGHT;
            collect(batch, TERMS_PER_CHUNK,
                    term_values + (size_t)done * TERMS_PER_CHUNK, &tm[0]);
        }
        if (c < CHUNKS) {                   /* reuse its handle array */
            for (uint32_t i = 0; i < TERMS_PER_CHUNK; i++) {
                int64_t k = (int64_t)c * TERMS_PER_CHUNK + i;
                check(tg_submit(sched, &term_op, &k, sizeof k, &batch[i]),
                      "leibniz_term");
            }
        }
    }
    int64_t t1 = now_ns();
    wall[0] = t1 - t0;
    print_level("terms", &tm[0], wall[0]);

    sum_level(&chunk_op, term_values, CHUNKS, TERMS_PER_CHUNK, 1.0,
              chunk_values, &tm[1]);
    int64_t t2 = now_ns();
    wall[1] = t2 - t1;
    print_level("chunks", &tm[1], wall[1]);

    sum_level(&partial_op, chunk_values, PARTS, CHUNKS_PER_PART, 1.0,
              part_values, &tm[2]);
    int64_t t3 = now_ns();
    wall[2] = t3 - t2;
    print_level("partials", &tm[2], wall[2]);

    sum_level(&final_op, part_values, 1, PARTS, 4.0, &pi, &tm[3]);
    int64_t t4 = now_ns();
    wall[3] = t4 - t3;
    print_level("final", &tm[3], wall[3]);

    struct timing all = { 0, 0, 0 };
    for (int l = 0; l < 4; l++) {
        all.tokens += tm[l].tokens;
        all.run_ns += tm[l].run_ns;
    }
    print_level("all", &all, t4 - t0);

    double error = pi - M_PI;
    if (error < 0)
        error = -error;
    int ok = error <= 2e-6 && all.tokens == (uint64_t)(TERMS + CHUNKS + PARTS + 1);
    printf("\n  A term runs for nanoseconds, so its tokens' time goes to scheduling\n"
           "  and their concurrency ratio stays low: this part measures overhead.\n");
    printf("\n  pi = %.15f   |pi - M_PI| = %.2e   %s\n\n", pi, error,
           ok ? "OK" : "WRONG");
    return !ok;
}

/* ================================================================ part 2 */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t rng_state = 0x5eed0fdecafbadull;

static uint64_t rng_next(void)
{
    rng_state += 0x9e3779b97f4a7c15ull;
    return mix64(rng_state);
}

static uint32_t rng_range(uint32_t lo, uint32_t hi)   /* lo..hi inclusive */
{
    return lo + (uint32_t)(rng_next() % (hi - lo + 1));
}

/* -- primes (LIGHT) */
struct primes_args { uint32_t below; };

static int primes_task(const void *args, tg_value *result)
{
    uint32_t below = ((const struct primes_args *)args)->below;
    uint64_t sum = 0;
    for (uint32_t n = 2; n < below; n++) {
        int prime = 1;
        for (uint32_t d = 2; d * d <= n; d++)
            if (n % d == 0) { prime = 0; break; }
        if (prime)
            sum += n;
    }
    result->u = sum;
    return 0;
}

/* -- string (LIGHT): reverse, then rot13 the even positions and swap the
   case of the odd ones; the result is the FNV-1a hash of the new string. */
#define STRING_LEN 300
struct string_args { char text[STRING_LEN + 1]; };

static int string_task(const void *args, tg_value *result)
{
    const char *in = ((const struct string_args *)args)->text;
    char out[STRING_LEN];
    for (int i = 0; i < STRING_LEN; i++) {
        char c = in[STRING_LEN - 1 - i];
        int upper = c >= 'A' && c <= 'Z';
        char base = upper ? 'A' : 'a';
        if (i % 2 == 0)
            c = (char)(base + (c - base + 13) % 26);
        else
            c = (char)(upper ? c - 'A' + 'a' : c - 'a' + 'A');
        out[i] = c;
    }
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < STRING_LEN; i++)
        h = (h ^ (unsigned char)out[i]) * 0x100000001b3ull;
    result->u = h;
    return 0;
}

/* -- sort (MEDIUM): generate, sort, check order, weighted sum. */
struct sort_args { uint64_t seed; uint32_t count; };

static int compare_ints(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int sort_task(const void *args, tg_value *result)
{
    const struct sort_args *a = args;
    int32_t v[700];
    if (a->count > 700)
        return 1;
    for (uint32_t i = 0; i < a->count; i++)
        v[i] = (int32_t)(mix64(a->seed + i) % 1000000u) - 500000;
    qsort(v, a->count, sizeof v[0], compare_ints);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < a->count; i++) {
        if (i > 0 && v[i - 1] > v[i])
            return 2;                       /* not sorted: FAILED */
        sum += (uint64_t)(int64_t)v[i] * (i + 1);
    }
    result->u = sum;
    return 0;
}

/* -- chain (HEAVY): each iteration runs 64 mixing rounds over a 32-byte
   state, standing in for one SHA-256 block. */
struct chain_args { uint64_t seed; uint32_t iterations; };

static int chain_task(const void *args, tg_value *result)
{
    const struct chain_args *a = args;
    uint64_t st[4] = { a->seed, ~a->seed, a->seed * 3, a->seed ^ 0x55aa55aa };
    for (uint32_t it = 0; it < a->iterations; it++)
        for (unsigned r = 0; r < 64; r++)
            st[r & 3] = mix64(st[r & 3] ^ (st[(r + 1) & 3] + r));
    result->u = st[0] ^ st[1] ^ st[2] ^ st[3];
    return 0;
}

static const tg_op primes_op = { .name = "primes", .fn = primes_task,
                                 .weight = TG_LIGHT };
static const tg_op string_op = { .name = "string", .fn = string_task,
                                 .weight = TG_LIGHT };
static const tg_op sort_op   = { .name = "sort",   .fn = sort_task,
                                 .weight = TG_MEDIUM };
static const tg_op chain_op  = { .name = "chain",  .fn = chain_task,
                                 .weight = TG_HEAVY };

#define WAVES     8
#define MAX_WAVE  (4 << (WAVES - 1))   /* 512 */

/* One token of a wave: its operation, arguments, and the result that a
   serial run of the same function gives. */
struct job {
    const tg_op *op;
    size_t size;
    union {
        struct primes_args primes;
        struct string_args string;
        struct sort_args sort;
        struct chain_args chain;
    } args;
    uint64_t expected;
};

static void prepare_job(uint32_t i, struct job *job)
{
    tg_value v;
    switch (i % 4) {
    case 0:
        job->op = &primes_op;
        job->size = sizeof job->args.primes;
        job->args.primes.below = rng_range(60, 85);
        break;
    case 1:
        job->op = &string_op;
        job->size = sizeof job->args.string;
        for (int k = 0; k < STRING_LEN; k++) {
            uint64_t r = rng_next();
            job->args.string.text[k] = (char)((r & 32 ? 'A' : 'a') + (r >> 8) % 26);
        }
        job->args.string.text[STRING_LEN] = '\0';
        break;
    case 2:
        job->op = &sort_op;
        job->size = sizeof job->args.sort;
        job->args.sort.seed = rng_next();
        job->args.sort.count = rng_range(400, 700);
        break;
    default:
        job->op = &chain_op;
        job->size = sizeof job->args.chain;
        job->args.chain.seed = rng_next();
        job->args.chain.iterations = rng_range(120, 200);
        break;
    }
    job->op->fn(&job->args, &v);
    job->expected = v.u;
}

static int run_waves(void)
{
    static struct job jobs[MAX_WAVE];
    static tg_token tokens[MAX_WAVE];

    printf("2. Mixed waves: primes (LIGHT), string (LIGHT), sort (MEDIUM), "
           "hash chain (HEAVY)\n\n");
    printf("  %4s %7s %6s %5s %9s %10s %12s %12s\n", "wave", "tokens", "ok",
           "fail", "time ms", "tokens/s", "mean lat us", "concurrency");

    uint64_t total_tokens = 0, total_ok = 0, total_fail = 0;
    int64_t total_wall = 0, total_run = 0;
    for (int w = 0; w < WAVES; w++) {
        uint32_t n = 4u << w;
        /* Arguments and expected results are drawn before the clock
           starts: the timed part only submits and awaits. */
        for (uint32_t i = 0; i < n; i++)
            prepare_job(i, &jobs[i]);

        int64_t t0 = now_ns();
        for (uint32_t i = 0; i < n; i++)
            check(tg_submit(sched, jobs[i].op, &jobs[i].args, jobs[i].size,
                            &tokens[i]), jobs[i].op->name);
        check(tg_wait_all(sched, tokens, n, -1), "tg_wait_all");
        int64_t wall = now_ns() - t0;

        struct timing tm = { 0, 0, 0 };
        uint64_t ok = 0, fail = 0;
        for (uint32_t i = 0; i < n; i++) {
            tg_value v;
            int rc = tg_wait(sched, tokens[i], 0, &v);
            if (rc == TG_OK && v.u == jobs[i].expected)
                ok++;
            else
                fail++;
            add_timing(tokens[i], &tm);
            check(tg_release(sched, tokens[i]), "tg_release");
        }
        printf("  %4d %7u %6llu %5llu %9.2f %10.0f %12.1f %11.2fx\n", w + 1, n,
               (unsigned long long)ok, (unsigned long long)fail,
               (double)wall / 1e6, (double)n / ((double)wall / 1e9),
               (double)tm.latency_ns / (double)n / 1e3,
               (double)tm.run_ns / (double)wall);
        total_tokens += n;
        total_ok += ok;
        total_fail += fail;
        total_wall += wall;
        total_run += tm.run_ns;
    }
    printf("  %4s %7llu %6llu %5llu %9.2f %10.0f %12s %11.2fx\n\n", "all",
           (unsigned long long)total_tokens, (unsigned long long)total_ok,
           (unsigned long long)total_fail, (double)total_wall / 1e6,
           (double)total_tokens / ((double)total_wall / 1e9), "",
           (double)total_run / (double)total_wall);
    return total_fail != 0;
}

/* ================================================================== main */

int main(void)
{
    check(tg_create(NULL, &sched), "tg_create");

    struct tg_stats st;
    check(tg_stats(sched, &st), "tg_stats");
    printf("TokenGate %s demo: %u workers, pinned to CPU", TG_VERSION_STRING,
           st.workers);
    for (unsigned c = 0; c < st.workers; c++)
        printf(c == 0 ? " %d" : ", %d", st.cores[c].cpu);
    printf(" (-1: not pinned)\n\n");

    int bad = run_leibniz();
    bad |= run_waves();

    check(tg_stats(sched, &st), "tg_stats");
    printf("3. Scheduler counters: %llu submitted, %llu completed, %llu failed, "
           "%llu killed, %llu live\n",
           (unsigned long long)st.submitted, (unsigned long long)st.completed,
           (unsigned long long)st.failed, (unsigned long long)st.killed,
           (unsigned long long)st.live);
    for (unsigned c = 0; c < st.workers; c++)
        printf("  core %u: ran %llu tokens, stole %llu\n", c,
               (unsigned long long)st.cores[c].executed,
               (unsigned long long)st.cores[c].stolen);
    tg_destroy(sched);

    printf("\n%s\n", bad ? "demo: some results were WRONG" : "demo: all results OK");
    return bad;
}
