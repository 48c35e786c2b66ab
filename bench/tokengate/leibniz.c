/* leibniz: LEIBNIZ_TERMS term tokens (1,000,000; 100,000 with --quick), term
   k = 4 (-1)^k / (2k + 1) -> TERMS/1000 chunk tokens, each summing 1,000
   terms in order -> 10 partial tokens -> 1 final token. Each stage is
   submitted by the outside thread, waited (tg_wait_all), its results read
   from the tokens (tg_wait, 0) into an array the next stage sums, and its
   handles released. Weights as in the original demo: terms TG_LIGHT, chunks
   and partials TG_MEDIUM, the final TG_HEAVY. pi must match the serial
   reference in the same order to 1e-12 and be within 2/TERMS of M_PI. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "leibniz"
#include "tg_bench.h"

static int term_task(const void *args, tg_value *result)
{
    result->f = wl_leibniz_term(*(const uint64_t *)args);
    return 0;
}

struct sum_args { const double *values; uint32_t first, count; };

static int sum_task(const void *args, tg_value *result)
{
    const struct sum_args *a = (const struct sum_args *)args;
    result->f = wl_sum_doubles(a->values + a->first, a->count);
    return 0;
}

static const tg_op term_op    = { .name = "leibniz_term",    .fn = term_task,
                                  .weight = TG_LIGHT };
static const tg_op chunk_op   = { .name = "leibniz_chunk",   .fn = sum_task };
static const tg_op partial_op = { .name = "leibniz_partial", .fn = sum_task };
static const tg_op final_op   = { .name = "leibniz_final",   .fn = sum_task,
                                  .weight = TG_HEAVY };

static tg_scheduler *sched;

/* Waits for n tokens, stores their values in out[] and releases them. */
static void collect(tg_token *t, size_t n, double *out)
{
    check(tg_wait_all(sched, t, n, -1), "tg_wait_all");
    for (size_t i = 0; i < n; i++) {
        tg_value v;
        check(tg_wait(sched, t[i], 0, &v), "reading a result");
        out[i] = v.f;
        check(tg_release(sched, t[i]), "tg_release");
    }
}

/* One summing stage: group i sums in[first(i) .. first(i+1)). */
static void sum_stage(const tg_op *op, const double *in, size_t groups, const uint32_t *first,
                      tg_token *t, double *out)
{
    for (size_t i = 0; i < groups; i++) {
        struct sum_args a = { in, first[i], first[i + 1] - first[i] };
        check(tg_submit(sched, op, &a, sizeof a, &t[i]), op->name);
    }
    collect(t, groups, out);
}

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    unsigned terms = wl_leibniz_terms(&args);
    unsigned chunks = wl_leibniz_chunks(terms);
    double *term_v = (double *)malloc(terms * sizeof *term_v);
    double *chunk_v = (double *)malloc(chunks * sizeof *chunk_v);
    tg_token *t = (tg_token *)malloc(terms * sizeof *t);
    uint32_t *chunk_first = (uint32_t *)malloc((chunks + 1) * sizeof *chunk_first);
    uint32_t part_first[LEIBNIZ_PARTIALS + 1], final_first[2] = { 0, LEIBNIZ_PARTIALS };
    double part_v[LEIBNIZ_PARTIALS], pi;

    if (!term_v || !chunk_v || !t || !chunk_first) return 2;
    for (unsigned c = 0; c <= chunks; c++) chunk_first[c] = c * LEIBNIZ_CHUNK;
    for (unsigned p = 0; p <= LEIBNIZ_PARTIALS; p++) part_first[p] = wl_leibniz_partial_first(chunks, p);

    check(tg_create(NULL, &sched), "tg_create");
    uint64_t t0 = wl_now_ns();
    for (uint64_t k = 0; k < terms; k++)
        check(tg_submit(sched, &term_op, &k, sizeof k, &t[k]), "leibniz_term");
    collect(t, terms, term_v);
    sum_stage(&chunk_op, term_v, chunks, chunk_first, t, chunk_v);
    sum_stage(&partial_op, chunk_v, LEIBNIZ_PARTIALS, part_first, t, part_v);
    sum_stage(&final_op, part_v, 1, final_first, t, &pi);
    uint64_t t1 = wl_now_ns();

    int threads = (int)tg_worker_count(sched);
    check(tg_shutdown(sched, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(sched);
    int ok = wl_leibniz_finish("tokengate", threads, wl_seconds(t0, t1), terms, pi);
    free(term_v);
    free(chunk_v);
    free(t);
    free(chunk_first);
    return wl_exit_code(ok);
}
