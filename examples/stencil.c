/* stencil.c - a 1-D stencil built only from tg_submit_after.

   W points, T steps: point i of step t is the average of points i-1, i,
   i+1 of step t-1 (the ends take their one neighbour twice). The token of
   (t, i) is submitted at once, before anything ran, with the tokens of its
   three inputs as its dependencies: no thread waits for them, the last
   input to end admits it. Handles of step t-1 are released as soon as
   step t is submitted (a dependency may be released right after the call).
   The result is checked against a serial run, bit for bit.

   Build: cc -O2 -pthread examples/stencil.c -o stencil */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 64
#define T 500

static double grid[2][W];   /* step t lives in grid[t & 1] */

struct point { int t, i; };

static double step_value(const double *prev, int i)
{
    double l = prev[i > 0 ? i - 1 : i + 1], r = prev[i < W - 1 ? i + 1 : i - 1];
    return (l + prev[i] + r) / 3.0;
}

static int point_task(const void *args, tg_value *result)
{
    const struct point *p = (const struct point *)args;
    grid[p->t & 1][p->i] = step_value(grid[(p->t - 1) & 1], p->i);
    result->i = 0;
    return 0;
}

static const tg_op point_op = { .name = "point", .fn = point_task };

static void initial(double *v)
{
    for (int i = 0; i < W; i++) v[i] = (i % 7) * 1.5 + (i == W / 2 ? 100.0 : 0.0);
}

int main(void)
{
    /* the serial reference */
    double a[W], b[W];
    initial(a);
    for (int t = 1; t <= T; t++) {
        for (int i = 0; i < W; i++) b[i] = step_value(a, i);
        memcpy(a, b, sizeof a);
    }

    tg_scheduler *s;
    if (tg_create(NULL, &s) != TG_OK) return 1;
    initial(grid[0]);
    /* two buffers are enough: step t+2 writes grid[t & 1][i] only after
       the tokens that read it (step t+1's points i-1, i, i+1) ended, and
       those are exactly its dependencies */
    tg_token prev[W], cur[W];
    for (int i = 0; i < W; i++) prev[i] = TG_TOKEN_NONE;
    int rc = TG_OK;
    for (int t = 1; t <= T && rc == TG_OK; t++) {
        for (int i = 0; i < W && rc == TG_OK; i++) {
            struct point p = { t, i };
            tg_token deps[3];
            size_t n = 0;
            if (t > 1) {
                if (i > 0) deps[n++] = prev[i - 1];
                deps[n++] = prev[i];
                if (i < W - 1) deps[n++] = prev[i + 1];
            }
            rc = tg_submit_after(s, &point_op, &p, sizeof p, deps, n, &cur[i]);
        }
        if (t > 1)
            for (int i = 0; i < W; i++) tg_release(s, prev[i]);
        memcpy(prev, cur, sizeof prev);
    }
    if (rc == TG_OK) rc = tg_gather_release(s, prev, W, -1, NULL, NULL);
    int same = rc == TG_OK && memcmp(grid[T & 1], a, sizeof a) == 0;
    printf("stencil %d points x %d steps on %u workers: %s (%s)\n", W, T, tg_worker_count(s),
           same ? "same as serial" : "DIFFERENT", tg_strerror(rc));
    tg_destroy(s);
    return same ? 0 : 1;
}
