/* omp.c - the METG graph on OpenMP tasks; built as gomp (gcc -fopenmp,
   libgomp) and llvm-omp (clang -fopenmp, libomp) from this one source.

   One thread (single) creates one task per graph task, step by step, each
   with depend(in:) on the vals[] elements of its inputs at step t-1 and
   depend(out:) on its own element at step t (the full steps x width array,
   so no element is written twice); the implicit barrier at the end of
   single waits for every task.  OpenMP has no variable-length depend list
   without 5.0 iterators (not in every compiler here), so there is one
   pragma per dependency count. */
#include "metg.h"
#include <omp.h>

#ifndef SYSTEM_NAME
#define SYSTEM_NAME "omp"
#endif

/* Creates task (t, i) with n dependencies deps[] (n <= 3: every pattern's
   radix-3 bound; the driver checks the radix). */
static void spawn(mg_graph *g, int t, int i, const int *deps, int n)
{
    uint64_t *me = &g->vals[(size_t)t * g->width + i];
    const uint64_t *in = t > 0 ? &g->vals[(size_t)(t - 1) * g->width] : g->vals;
    (void)me, (void)in;   /* used only in depend clauses, which gcc 12 misses */
    switch (n) {
    case 0:
#pragma omp task firstprivate(g, t, i) depend(out: me[0])
        mg_run_task(g, t, i);
        break;
    case 1:
#pragma omp task firstprivate(g, t, i) depend(in: in[deps[0]]) depend(out: me[0])
        mg_run_task(g, t, i);
        break;
    case 2:
#pragma omp task firstprivate(g, t, i) depend(in: in[deps[0]], in[deps[1]]) depend(out: me[0])
        mg_run_task(g, t, i);
        break;
    default:
#pragma omp task firstprivate(g, t, i) \
    depend(in: in[deps[0]], in[deps[1]], in[deps[2]]) depend(out: me[0])
        mg_run_task(g, t, i);
        break;
    }
}

static int run_omp(void *ctx, mg_graph *g)
{
    (void)ctx;
#pragma omp parallel
#pragma omp single
    for (int t = 0; t < g->steps; t++)
        for (int i = 0; i < mg_active(g, t); i++) {
            int deps[MG_MAX_DEPS], n = mg_deps(g, t, i, deps);
            spawn(g, t, i, deps, n);
        }
    return 0;
}

int main(int argc, char **argv)
{
    mg_graph g = mg_parse(argc, argv, NULL);
    if (g.radix > 3) {
        fprintf(stderr, SYSTEM_NAME ": at most 3 dependencies per task (radix %d)\n", g.radix);
        return 2;
    }
    int rc = mg_main_loop(SYSTEM_NAME, &g, run_omp, NULL);
    mg_free(&g);
    return rc;
}
