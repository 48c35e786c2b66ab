/* empty: one outside thread submits N empty tokens (default 1,000,000),
   keeping every handle, then waits for all and releases them.
   Prints one result line:  empty tokengate tokens=N seconds=S tokens_per_s=R
   and exits non-zero unless every token completed exactly once. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t ran;

static int empty_task(const void *args, tg_value *result)
{
    (void)args;
    result->u = 1;
    __atomic_fetch_add(&ran, 1, __ATOMIC_RELAXED);
    return 0;
}

static const tg_op empty_op = { .name = "empty", .fn = empty_task };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
    tg_scheduler *s;
    if (tg_create(NULL, &s) != TG_OK) return 2;
    tg_token *tokens = (tg_token *)malloc(n * sizeof *tokens);
    if (!tokens) return 2;

    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        int rc = tg_submit(s, &empty_op, NULL, 0, &tokens[i]);
        if (rc != TG_OK) { fprintf(stderr, "submit: %s\n", tg_strerror(rc)); return 1; }
    }
    int rc = tg_wait_all(s, tokens, n, -1);
    double t1 = now_s();
    if (rc != TG_OK) { fprintf(stderr, "wait_all: %s\n", tg_strerror(rc)); return 1; }

    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        tg_value v;
        if (tg_wait(s, tokens[i], 0, &v) != TG_OK) return 1;
        sum += v.u;
        tg_release(s, tokens[i]);
    }
    tg_shutdown(s, TG_DRAIN, -1);
    tg_destroy(s);
    free(tokens);
    if (sum != n || __atomic_load_n(&ran, __ATOMIC_RELAXED) != n) {
        fprintf(stderr, "wrong: sum=%llu ran=%llu n=%zu\n", (unsigned long long)sum,
                (unsigned long long)ran, n);
        return 1;
    }
    printf("empty tokengate tokens=%zu seconds=%.4f tokens_per_s=%.0f\n", n, t1 - t0, (double)n / (t1 - t0));
    return 0;
}
