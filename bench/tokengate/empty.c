/* empty: one outside thread submits EMPTY_N empty tokens (1,000,000; 100,000
   with --quick), then waits for all of them. Like a pool's "run, then wait
   for all", the tokens are detached (no handle kept: each releases itself
   when it ends) and the wait is tg_wait_idle. The measured region runs from
   the first submit to the return of tg_wait_idle.
   Verified: the function ran exactly EMPTY_N times, and the scheduler counts
   EMPTY_N tokens submitted and completed, none failed or killed, none live. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "empty"
#include "tg_bench.h"

static uint64_t ran;

static int empty_task(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    wl_count(&ran, 1);
    return 0;
}

static const tg_op empty_op = { .name = "empty", .fn = empty_task };

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    uint64_t n = wl_empty_n(&args);
    tg_scheduler *s;
    struct tg_stats st;

    check(tg_create(NULL, &s), "tg_create");
    uint64_t t0 = wl_now_ns();
    for (uint64_t i = 0; i < n; i++)
        check(tg_submit(s, &empty_op, NULL, 0, NULL), "tg_submit");
    check(tg_wait_idle(s, -1), "tg_wait_idle");
    uint64_t t1 = wl_now_ns();

    check(tg_stats(s, &st), "tg_stats");
    int threads = (int)tg_worker_count(s);
    check(tg_shutdown(s, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(s);
    uint64_t count = wl_load(&ran);
    if (st.submitted != n || st.completed != n || st.failed || st.killed || st.live) {
        fprintf(stderr, "empty: scheduler counts %llu submitted, %llu completed, %llu failed, "
                "%llu killed, %llu live\n", (unsigned long long)st.submitted,
                (unsigned long long)st.completed, (unsigned long long)st.failed,
                (unsigned long long)st.killed, (unsigned long long)st.live);
        count = 0;
    }
    int ok = wl_empty_finish("empty", "tokengate", threads, wl_seconds(t0, t1), n, count, n);
    return wl_exit_code(ok);
}
