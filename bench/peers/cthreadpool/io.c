/* io on C-Thread-Pool: the I/O-bound mixed workload (JSON writes read back,
   log appends, blob writes, each with its modelled latency, and CPU tokens
   alongside); every op added by the main thread in the interleaved order,
   then thpool_wait.  The pool has one thread per core, and an op that sleeps
   or waits on a system call holds its thread meanwhile. */
#include "../../common/workload.h"
#include <thpool.h>

#ifndef IMPL_NAME
#define IMPL_NAME "cthreadpool"
#endif

static wl_io io;

static void io_task(void *arg)
{
    wl_io_run(&io, *(const wl_io_item *)arg);
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int threads = wl_cpu_count(), ok;
    threadpool p;
    uint64_t t0, t1;
    size_t i;
    if (wl_io_setup(&io, &a) != 0) return 2;
    p = thpool_init(threads);
    if (!p) return 2;
    t0 = now_ns();
    for (i = 0; i < io.total; i++) thpool_add_work(p, io_task, &io.order[i]);
    thpool_wait(p);
    t1 = now_ns();
    thpool_destroy(p);
    ok = wl_io_finish(IMPL_NAME, threads, &io, wl_seconds(t0, t1));
    wl_io_free(&io);
    return wl_exit_code(ok);
}
