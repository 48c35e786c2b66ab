/* io on the mutex + condvar pool: the I/O-bound mixed workload (JSON writes
   read back, log appends, blob writes, each with its modelled latency, and
   CPU tokens alongside); every op submitted by the main thread in the
   interleaved order, then each waited.  An op blocks its worker while it
   sleeps or waits on a system call. */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
#endif

static wl_io io;

static void io_task(void *arg)
{
    wl_io_run(&io, *(const wl_io_item *)arg);
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    mcpool *p = mcpool_create(0);
    mcpool_task **h;
    uint64_t t0, t1;
    size_t i;
    int ok;
    if (!p || wl_io_setup(&io, &a) != 0) return 2;
    h = (mcpool_task **)malloc(io.total * sizeof *h);
    if (!h) return 2;
    t0 = now_ns();
    for (i = 0; i < io.total; i++) h[i] = mcpool_submit(p, io_task, &io.order[i]);
    for (i = 0; i < io.total; i++) mcpool_wait(p, h[i]);
    t1 = now_ns();
    for (i = 0; i < io.total; i++) mcpool_release(h[i]);
    ok = wl_io_finish(IMPL_NAME, mcpool_threads(p), &io, wl_seconds(t0, t1));
    mcpool_destroy(p);
    wl_io_free(&io);
    free(h);
    return wl_exit_code(ok);
}
