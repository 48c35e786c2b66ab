// fib on oneTBB: one task per call with n >= 2, run in the parent's
// task_group, which the parent waits for.
#include "../../common/workload.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

static uint64_t fib(int n)
{
    uint64_t r[2];
    tbb::task_group g;
    for (int i = 0; i < 2; i++) {
        int m = n - 1 - i;
        if (m >= 2) g.run([&r, i, m] { r[i] = fib(m); });
        else r[i] = (uint64_t)m;
    }
    g.wait();
    return r[0] + r[1];
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int n = wl_fib_n(&a), threads = tbb::this_task_arena::max_concurrency();
    uint64_t value = 0;
    tbb::task_group root;
    uint64_t t0 = now_ns();
    root.run([&] { value = fib(n); });
    root.wait();
    uint64_t t1 = now_ns();
    int ok = wl_value_finish("fib", IMPL_NAME, threads, wl_seconds(t0, t1), value, wl_fib_expected(n),
                             wl_fib_tasks(n));
    return wl_exit_code(ok);
}
