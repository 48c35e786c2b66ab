/* fib: fib(FIB_N) (30; 25 with --quick) with one token per call n >= 2.
   Such a token submits each child call n-1, n-2 as a token when it is >= 2
   (a call below 2 is its own value), waits for both children with tg_wait
   and releases them. The result must be wl_fib_expected(FIB_N) (832040). */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "fib"
#include "tg_bench.h"

static tg_scheduler *sched;

static int fib_task(const void *args, tg_value *result);
static const tg_op fib_op = { .name = "fib", .fn = fib_task };

static int fib_task(const void *args, tg_value *result)
{
    int n = *(const int *)args;
    int child[2] = { n - 1, n - 2 };
    tg_token t[2];
    uint64_t sum = 0;
    int bad = 0;

    for (int i = 0; i < 2; i++) {
        if (child[i] >= 2 && tg_submit(sched, &fib_op, &child[i], sizeof child[i], &t[i]) != TG_OK)
            return 1;
    }
    for (int i = 1; i >= 0; i--) {       /* the last submitted first */
        if (child[i] < 2) {
            sum += (uint64_t)child[i];
            continue;
        }
        tg_value v;
        if (tg_wait(sched, t[i], -1, &v) == TG_OK)
            sum += v.u;
        else
            bad = 1;
        tg_release(sched, t[i]);
    }
    result->u = sum;
    return bad;
}

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    int n = wl_fib_n(&args);
    double seconds;
    int threads;
    uint64_t value = tgb_run_root(&sched, &fib_op, &n, sizeof n, &seconds, &threads);
    int ok = wl_value_finish("fib", "tokengate", threads, seconds, value,
                             wl_fib_expected(n), wl_fib_tasks(n));
    return wl_exit_code(ok);
}
