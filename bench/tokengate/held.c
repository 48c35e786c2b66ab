/* held: the common pattern written with the basic calls: one outside
   thread submits EMPTY_N empty tokens (1,000,000; 100,000 with --quick)
   one tg_submit at a time, keeping every handle, waits for all with one
   tg_wait_all, then reads each value with tg_wait_release (ended: it does
   not wait) and so gives the handles back. The measured region runs from
   the first submit to the last release (the handles' array is allocated
   and touched before it).
   Verified: the function ran exactly EMPTY_N times, every wait returned
   TG_OK with its token's argument, and the scheduler counts EMPTY_N tokens
   submitted and completed, none live, no slot in use. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "held"
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
    tg_token *tokens = calloc(n, sizeof *tokens);
    if (!tokens) { fprintf(stderr, "held: out of memory\n"); return 1; }
    tg_scheduler *s;
    struct tg_stats st;
    uint64_t wrong = 0;

    check(tg_create(NULL, &s), "tg_create");
    uint64_t t0 = wl_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)i;
        check(tg_submit(s, &echo_op, &x, sizeof x, &tokens[i]), "tg_submit");
    }
    check(tg_wait_all(s, tokens, n, -1), "tg_wait_all");
    for (uint64_t i = 0; i < n; i++) {
        tg_value v;
        wrong += tg_wait_release(s, tokens[i], 0, &v) != TG_OK || v.u != i;
    }
    uint64_t t1 = wl_now_ns();

    check(tg_stats(s, &st), "tg_stats");
    int threads = (int)tg_worker_count(s);
    check(tg_shutdown(s, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(s);
    uint64_t count = wl_load(&ran);
    if (wrong || st.submitted != n || st.completed != n || st.live || st.slots_in_use) {
        fprintf(stderr, "held: %llu wrong outcomes; scheduler: %llu submitted, %llu completed, %llu live, "
                "%llu slots in use\n", (unsigned long long)wrong, (unsigned long long)st.submitted,
                (unsigned long long)st.completed, (unsigned long long)st.live,
                (unsigned long long)st.slots_in_use);
        count = 0;
    }
    free(tokens);
    int ok = wl_empty_finish("held", "tokengate", threads, wl_seconds(t0, t1), n, count, n);
    return wl_exit_code(ok);
}
