// io on oneTBB: the I/O-bound mixed workload (JSON writes read back, log
// appends, blob writes, each with its modelled latency, and CPU tokens
// alongside); one task_group filled by the main thread in the interleaved
// order, then waited.  An op blocks its worker while it sleeps or waits on a
// system call, as a task does that calls blocking code.
#include "../../common/workload.h"
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#ifndef IMPL_NAME
#define IMPL_NAME "tbb"
#endif

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int threads = tbb::this_task_arena::max_concurrency();
    wl_io io;
    if (wl_io_setup(&io, &a) != 0) return 2;
    const wl_io *iop = &io;
    tbb::task_group g;
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < io.total; i++) {
        wl_io_item it = io.order[i];
        g.run([iop, it] { wl_io_run(iop, it); });
    }
    g.wait();
    uint64_t t1 = now_ns();
    int ok = wl_io_finish(IMPL_NAME, threads, &io, wl_seconds(t0, t1));
    wl_io_free(&io);
    return wl_exit_code(ok);
}
