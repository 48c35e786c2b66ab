/* batch_gather.c - many tokens in two calls: tg_submit_batch submits one
   token per argument block, tg_gather_release waits for all of them,
   collects each value and outcome, and gives the handles back (the C form
   of the original's `tokens = submit_batch(...)` then `await gather(...)`).
   Checked: every square is right.

   Build: cc -O2 -pthread examples/batch_gather.c -o batch_gather */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <stdio.h>

#define COUNT 1000

static int square(const void *args, tg_value *result)
{
    int x = *(const int *)args;
    result->i = (int64_t)x * x;
    return 0;
}

static const tg_op square_op = { .name = "square", .fn = square };

int main(void)
{
    static int xs[COUNT];
    static tg_token tokens[COUNT];
    static tg_value values[COUNT];
    static int codes[COUNT];
    for (int i = 0; i < COUNT; i++) xs[i] = i;

    tg_scheduler *s;
    if (tg_create(NULL, &s) != TG_OK) return 1;
    size_t n = 0;   /* how many went in, even if the batch stopped early */
    int rc = tg_submit_batch(s, &square_op, xs, sizeof xs[0], COUNT, tokens, &n);
    int got = tg_gather_release(s, tokens, n, -1, values, codes);
    int ok = rc == TG_OK && got == TG_OK && n == COUNT;
    for (size_t i = 0; i < n && ok; i++) ok = codes[i] == TG_OK && values[i].i == (int64_t)i * (int64_t)i;
    printf("%zu squares, the last %lld: %s\n", n, n ? (long long)values[n - 1].i : 0LL, ok ? "all right" : "WRONG");
    tg_destroy(s);
    return ok ? 0 : 1;
}
