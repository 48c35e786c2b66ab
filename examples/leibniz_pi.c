/* leibniz_pi.c - pi from 1,000,000 tokens, in a four-level token tree.

   Level 1: 1,000,000 term tokens, term k = (-1)^k / (2k + 1).
   Level 2: 1,000 chunk tokens, each summing the results of 1,000 terms.
   Level 3: 10 partial tokens, each summing the results of 100 chunks.
   Level 4: 1 final token: 4 * (sum of the 10 partials) = pi.

   One outside thread drives every level: it submits tokens, waits for them
   with tg_wait_all, reads each result with tg_wait(..., 0, ...), releases
   the handles and hands the values to the next level as copied arguments.
   Terms are submitted chunk by chunk with a few chunks in flight, so the
   workers always have work while only a few thousand handles are held.

   The series after N terms is off by about 1/N, so the printed error is
   about 1e-6; the program exits non-zero if it is larger than 2e-6. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define TERMS            1000000
#define TERMS_PER_CHUNK  1000
#define CHUNKS           (TERMS / TERMS_PER_CHUNK)      /* 1,000 */
#define CHUNKS_PER_PART  100
#define PARTS            (CHUNKS / CHUNKS_PER_PART)     /* 10 */
#define CHUNKS_IN_FLIGHT 4   /* chunks of terms submitted ahead of the wait */

/* ---------------------------------------------------------------- tasks */

/* Level 1: one term per token. TG_OPERATION declares leibniz_term_op and
   the typed leibniz_term_submit(scheduler, int64_t k, &token). */
static int leibniz_term(const int64_t *k, tg_value *result)
{
    double sign = (*k % 2 == 0) ? 1.0 : -1.0;
    result->f = sign / (double)(2 * *k + 1);
    return 0;
}
TG_OPERATION(leibniz_term, int64_t, .weight = TG_LIGHT)

/* Levels 2 to 4 all sum a list of doubles and scale the sum. Only the
   used part of the struct is submitted (and so copied): count values. */
struct sum_args {
    double scale;
    uint32_t count;
    double values[TERMS_PER_CHUNK];
};

static size_t sum_args_size(uint32_t count)
{
    return offsetof(struct sum_args, values) + count * sizeof(double);
}

static int sum_values(const void *args, tg_value *result)
{
    const struct sum_args *a = args;
    double sum = 0.0;
    for (uint32_t i = 0; i < a->count; i++)
        sum += a->values[i];
    result->f = a->scale * sum;
    return 0;
}

static const tg_op chunk_op   = { .name = "leibniz_chunk",   .fn = sum_values };
static const tg_op partial_op = { .name = "leibniz_partial", .fn = sum_values };
static const tg_op final_op   = { .name = "leibniz_final",   .fn = sum_values,
                                  .weight = TG_HEAVY };

/* -------------------------------------------------------------- helpers */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void check(int rc, const char *what)
{
    if (rc != TG_OK) {
        fprintf(stderr, "leibniz_pi: %s: %s\n", what, tg_strerror(rc));
        exit(1);
    }
}

/* Waits for n tokens, stores their results in values[], releases them. */
static void collect(tg_scheduler *s, const tg_token *tokens, uint32_t n,
                    double *values)
{
    check(tg_wait_all(s, tokens, n, -1), "tg_wait_all");
    for (uint32_t i = 0; i < n; i++) {
        tg_value v;
        check(tg_wait(s, tokens[i], 0, &v), "reading a result");
        values[i] = v.f;
        check(tg_release(s, tokens[i]), "tg_release");
    }
}

/* Submits one summing token over values[0..count). */
static tg_token submit_sum(tg_scheduler *s, const tg_op *op,
                           const double *values, uint32_t count, double scale)
{
    static struct sum_args args;   /* only the outside thread uses it */
    tg_token t;
    args.scale = scale;
    args.count = count;
    for (uint32_t i = 0; i < count; i++)
        args.values[i] = values[i];
    check(tg_submit(s, op, &args, sum_args_size(count), &t), op->name);
    return t;
}

/* ----------------------------------------------------------------- main */

int main(void)
{
    static tg_token terms[CHUNKS_IN_FLIGHT][TERMS_PER_CHUNK];
    static tg_token chunks[CHUNKS];
    static double values[CHUNKS];
    tg_token parts[PARTS], final_token;
    tg_scheduler *s;

    check(tg_create(NULL, &s), "tg_create");
    printf("Leibniz pi: %d terms on %u workers\n", TERMS, tg_worker_count(s));

    double t0 = now_seconds();

    /* Levels 1 and 2: terms chunk by chunk; once a chunk's terms are done,
       its chunk token is submitted with their values. */
    for (uint32_t c = 0; c < CHUNKS + CHUNKS_IN_FLIGHT; c++) {
        tg_token *batch = terms[c % CHUNKS_IN_FLIGHT];
        if (c >= CHUNKS_IN_FLIGHT) {        /* chunk c - CHUNKS_IN_FLIGHT */
            uint32_t done = c - CHUNKS_IN_FLIGHT;
            double done_terms[TERMS_PER_CHUNK];
            collect(s, batch, TERMS_PER_CHUNK, done_terms);
            chunks[done] = submit_sum(s, &chunk_op, done_terms,
                                      TERMS_PER_CHUNK, 1.0);
        }
        if (c < CHUNKS) {                   /* reuse its handle array */
            for (uint32_t i = 0; i < TERMS_PER_CHUNK; i++) {
                int64_t k = (int64_t)c * TERMS_PER_CHUNK + i;
                check(leibniz_term_submit(s, k, &batch[i]), "leibniz_term");
            }
        }
    }
    double t1 = now_seconds();

    /* Level 3: all chunk tokens, then 10 partial tokens of 100 each. */
    collect(s, chunks, CHUNKS, values);
    for (uint32_t p = 0; p < PARTS; p++)
        parts[p] = submit_sum(s, &partial_op, values + p * CHUNKS_PER_PART,
                              CHUNKS_PER_PART, 1.0);

    /* Level 4: the final token scales by 4. */
    collect(s, parts, PARTS, values);
    final_token = submit_sum(s, &final_op, values, PARTS, 4.0);
    double pi;
    collect(s, &final_token, 1, &pi);
    double t2 = now_seconds();

    struct tg_stats st;
    check(tg_stats(s, &st), "tg_stats");
    tg_destroy(s);

    long tokens = TERMS + CHUNKS + PARTS + 1;
    double error = pi - M_PI;
    if (error < 0)
        error = -error;
    printf("pi           %.15f\n", pi);
    printf("M_PI         %.15f\n", M_PI);
    printf("abs error    %.3e (series bound ~%.1e)\n", error, 1.0 / TERMS);
    printf("tokens       %ld (%d terms + %d chunks + %d partials + 1 final)\n",
           tokens, TERMS, CHUNKS, PARTS);
    printf("completed    %llu\n", (unsigned long long)st.completed);
    printf("wall time    %.3f s (terms and chunks %.3f s, the rest %.3f s)\n",
           t2 - t0, t1 - t0, t2 - t1);
    printf("throughput   %.0f tokens/s\n", (double)tokens / (t2 - t0));

    if (error > 2e-6) {
        fprintf(stderr, "leibniz_pi: error %.3e is larger than 2e-6\n", error);
        return 1;
    }
    if (st.completed != (uint64_t)tokens) {
        fprintf(stderr, "leibniz_pi: %llu tokens completed, expected %ld\n",
                (unsigned long long)st.completed, tokens);
        return 1;
    }
    return 0;
}
