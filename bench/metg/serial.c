/* serial.c - the METG graph as a plain loop on one thread: the floor every
   task system is measured against.  Also the kernel's calibration
   (--calibrate: nanoseconds per iteration, the best of several timings). */
#include "metg.h"

static int run_serial(void *ctx, mg_graph *g)
{
    (void)ctx;
    for (int t = 0; t < g->steps; t++)
        for (int i = 0; i < mg_active(g, t); i++)
            mg_run_task(g, t, i);
    return 0;
}

/* Times mg_kernel over about 20 ms, 9 times, and prints the fastest rate:
   the noise on a shared VM only ever makes a timing slower. */
static int calibrate(void)
{
    uint64_t n = 10000000, sink = 0;
    double best = 1e30;
    sink += mg_kernel(n);   /* warm up the core's clock */
    for (int k = 0; k < 9; k++) {
        uint64_t t0 = mg_now_ns();
        sink += mg_kernel(n);
        uint64_t t1 = mg_now_ns();
        double ns = (double)(t1 - t0) / (double)n;
        if (ns < best) best = ns;
    }
    printf("CALIBRATE ns_per_iter=%.6f sink=%016" PRIx64 "\n", best, sink);
    return 0;
}

int main(int argc, char **argv)
{
    int cal = 0;
    mg_graph g = mg_parse(argc, argv, &cal);
    if (cal) return calibrate();
    int rc = mg_main_loop("serial", &g, run_serial, NULL);
    mg_free(&g);
    return rc;
}
