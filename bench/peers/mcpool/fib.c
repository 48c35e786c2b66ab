/* fib on the mutex + condvar pool: one task per call with n >= 2; a parent
   waits for its children (running queued tasks meanwhile, see mcpool.h). */
#include "../../common/workload.h"
#include "mcpool.h"

#ifndef IMPL_NAME
#define IMPL_NAME "mcpool"
#endif

typedef struct fib_arg {
    int n;
    uint64_t r;
} fib_arg;

static mcpool *pool;

static void fib_task(void *arg)
{
    fib_arg *f = (fib_arg *)arg, kid[2];
    mcpool_task *h[2] = { NULL, NULL };
    int i;
    for (i = 0; i < 2; i++) {
        kid[i].n = f->n - 1 - i;
        kid[i].r = (uint64_t)kid[i].n;
        if (kid[i].n >= 2) h[i] = mcpool_submit(pool, fib_task, &kid[i]);
    }
    for (i = 0; i < 2; i++) {
        if (h[i]) {
            mcpool_wait(pool, h[i]);
            mcpool_release(h[i]);
        }
    }
    f->r = kid[0].r + kid[1].r;
}

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    int n = wl_fib_n(&a), ok;
    fib_arg root;
    mcpool_task *h;
    uint64_t t0, t1;
    pool = mcpool_create(0);
    if (!pool) return 2;
    root.n = n;
    root.r = 0;
    t0 = now_ns();
    h = mcpool_submit(pool, fib_task, &root);
    mcpool_wait(pool, h);
    t1 = now_ns();
    mcpool_release(h);
    ok = wl_value_finish("fib", IMPL_NAME, mcpool_threads(pool), wl_seconds(t0, t1), root.r,
                         wl_fib_expected(n), wl_fib_tasks(n));
    mcpool_destroy(pool);
    return wl_exit_code(ok);
}
