/* memory on OpenMP tasks (LLVM libomp only): one thread creates N tasks that
   block on a gate, so all are live and unfinished at once (each other thread
   of the team holds one, the rest wait in the creator's task deque); max RSS
   before and after, then the gate opens and the creator taskwaits.
   A runtime may instead run a new task at once on the creating thread when
   too many are queued ("task throttling"): GNU libgomp always does beyond
   64 queued tasks per thread, so no million can be pending there (n/a);
   LLVM libomp does it when a thread's deque is full unless
   KMP_ENABLE_TASK_THROTTLING=0, which this program sets before the runtime
   starts, so that the deque grows instead.  A task that finds itself run by
   its creator while the gate is closed does not block (that would deadlock)
   but counts as throttled, and the result is then ok=0. */
#include "../../common/workload.h"
#include <omp.h>

#ifndef IMPL_NAME
#define IMPL_NAME "omp"
#endif

static int gate;
static uint64_t ran, throttled;

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_memory_n(&a);
    int threads, ok;
    long before = 0, after = 0;
    uint64_t t0 = 0, t1 = 0;
    setenv("KMP_ENABLE_TASK_THROTTLING", "0", 0);
    threads = omp_get_max_threads();
#pragma omp parallel
#pragma omp single
    {
        int me = omp_get_thread_num();
        unsigned i;
        before = wl_max_rss_kb();
        t0 = now_ns();
        for (i = 0; i < n; i++) {
#pragma omp task firstprivate(me)
            {
                if (omp_get_thread_num() == me && !wl_gate_is_open(&gate)) wl_count(&throttled, 1);
                else wl_gate_wait(&gate);
                wl_count(&ran, 1);
            }
        }
        t1 = now_ns();
        after = wl_max_rss_kb();
        wl_gate_open(&gate);
#pragma omp taskwait
    }
    if (wl_load(&throttled) > 0)
        fprintf(stderr, "memory: %llu tasks were run at once by their creator (task throttling)\n",
                (unsigned long long)wl_load(&throttled));
    ok = wl_memory_finish(IMPL_NAME, threads, wl_seconds(t0, t1), n, before, after,
                          wl_load(&throttled) ? 0 : wl_load(&ran));
    return wl_exit_code(ok);
}
