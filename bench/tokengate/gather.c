/* gather: the original's own pattern, `tokens = submit_batch(...)` then
   `results = gather(*tokens)`: one outside thread submits EMPTY_N empty
   tokens (1,000,000; 100,000 with --quick) with held handles in one
   tg_submit_batch, then collects every value and outcome and gives the
   handles back with one tg_gather_release. The measured region runs from
   the batch to the return of tg_gather_release (the handles' array is
   allocated and touched before it).
   Verified: the function ran exactly EMPTY_N times, every code is TG_OK
   and every value is its token's argument, and the scheduler counts
   EMPTY_N tokens submitted and completed, none live, no slot in use. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "gather"
#include "tg_bench.h"

static uint64_t ran;

static int echo_task(const void *args, tg_value *result)
{
    result->u = *(const uint32_t *)args;
    wl_count(&ran, 1);
    return 0;
}

static const tg_op echo_op = { .name = "echo", .fn = echo_task };

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    uint64_t n = wl_empty_n(&args);
    uint32_t *in = calloc(n, sizeof *in);
    tg_token *tokens = calloc(n, sizeof *tokens);
    tg_value *values = calloc(n, sizeof *values);
    int *codes = calloc(n, sizeof *codes);
    if (!in || !tokens || !values || !codes) { fprintf(stderr, "gather: out of memory\n"); return 1; }
    for (uint64_t i = 0; i < n; i++) in[i] = (uint32_t)i;
    tg_scheduler *s;
    struct tg_stats st;
    size_t submitted = 0;

    check(tg_create(NULL, &s), "tg_create");
    uint64_t t0 = wl_now_ns();
    check(tg_submit_batch(s, &echo_op, in, sizeof in[0], n, tokens, &submitted), "tg_submit_batch");
    check(tg_gather_release(s, tokens, n, -1, values, codes), "tg_gather_release");
    uint64_t t1 = wl_now_ns();

    check(tg_stats(s, &st), "tg_stats");
    int threads = (int)tg_worker_count(s);
    check(tg_shutdown(s, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(s);
    uint64_t count = wl_load(&ran), wrong = 0;
    for (uint64_t i = 0; i < n; i++) wrong += codes[i] != TG_OK || values[i].u != i;
    if (submitted != n || wrong || st.submitted != n || st.completed != n || st.live || st.slots_in_use) {
        fprintf(stderr, "gather: %zu submitted, %llu wrong outcomes; scheduler: %llu submitted, %llu completed, "
                "%llu live, %llu slots in use\n", submitted, (unsigned long long)wrong,
                (unsigned long long)st.submitted, (unsigned long long)st.completed,
                (unsigned long long)st.live, (unsigned long long)st.slots_in_use);
        count = 0;
    }
    free(in);
    free(tokens);
    free(values);
    free(codes);
    int ok = wl_empty_finish("gather", "tokengate", threads, wl_seconds(t0, t1), n, count, n);
    return wl_exit_code(ok);
}
