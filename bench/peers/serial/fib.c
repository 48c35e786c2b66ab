/* fib, serial: the plain recursion, one call per n >= 2 as the task
   versions have one task. */
#include "../../common/workload.h"

#ifndef IMPL_NAME
#define IMPL_NAME "serial"
#endif

__attribute__((noinline)) static uint64_t fib(int n)
{
    uint64_t r[2];
    int i;
    for (i = 0; i < 2; i++) {
        int m = n - 1 - i;
        r[i] = m >= 2 ? fib(m) : (uint64_t)m;
    }
    return r[0] + r[1];
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int n = wl_fib_n(&a), ok;
    uint64_t t0 = now_ns(), value = fib(n), t1 = now_ns();
    ok = wl_value_finish("fib", IMPL_NAME, 1, wl_seconds(t0, t1), value, wl_fib_expected(n), wl_fib_tasks(n));
    return wl_exit_code(ok);
}
