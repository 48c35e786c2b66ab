/* leibniz, serial: the four stages as loops, in the same order and with the
   same intermediate arrays as the task versions. */
#include "../../common/workload.h"

#ifndef IMPL_NAME
#define IMPL_NAME "serial"
#endif

int main(int argc, char **argv)
{
    wl_args a = wl_parse_args(argc, argv);
    unsigned n = wl_leibniz_terms(&a), nchunks = wl_leibniz_chunks(n), i;
    double *terms = (double *)malloc(n * sizeof *terms);
    double *chunks = (double *)malloc(nchunks * sizeof *chunks);
    double partials[LEIBNIZ_PARTIALS], pi;
    uint64_t t0, t1;
    int ok;
    if (!terms || !chunks) return 2;
    t0 = now_ns();
    for (i = 0; i < n; i++) terms[i] = wl_leibniz_term(i);
    for (i = 0; i < nchunks; i++)
        chunks[i] = wl_sum_doubles(terms + (size_t)i * LEIBNIZ_CHUNK, LEIBNIZ_CHUNK);
    for (i = 0; i < LEIBNIZ_PARTIALS; i++) {
        unsigned c0 = wl_leibniz_partial_first(nchunks, i);
        partials[i] = wl_sum_doubles(chunks + c0, wl_leibniz_partial_first(nchunks, i + 1) - c0);
    }
    pi = wl_sum_doubles(partials, LEIBNIZ_PARTIALS);
    t1 = now_ns();
    ok = wl_leibniz_finish(IMPL_NAME, 1, wl_seconds(t0, t1), n, pi);
    free(terms);
    free(chunks);
    return wl_exit_code(ok);
}
