/* quickstart.c - the smallest complete TokenGate program: one operation,
   one token submitted, awaited, printed, released. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"
#include <stdio.h>

/* A plain synchronous function: read the copied arguments, write the result,
   return 0 for success. */
static int square(const void *args, tg_value *result)
{
    int x = *(const int *)args;
    result->i = (int64_t)x * x;
    return 0;
}

static const tg_op square_op = { .name = "square", .fn = square };

int main(void)
{
    tg_scheduler *s;
    tg_token t;
    tg_value v;
    int x = 7;

    int rc = tg_create(NULL, &s);                    /* one worker per CPU */
    if (rc != TG_OK) {
        fprintf(stderr, "tg_create: %s\n", tg_strerror(rc));
        return 1;
    }
    rc = tg_submit(s, &square_op, &x, sizeof x, &t); /* x is copied */
    if (rc == TG_OK)
        rc = tg_wait(s, t, -1, &v);                  /* -1: no time limit */
    if (rc == TG_OK) {
        printf("square(%d) = %lld\n", x, (long long)v.i);
        tg_release(s, t);
    } else {
        fprintf(stderr, "square: %s\n", tg_strerror(rc));
    }
    tg_destroy(s);
    return rc == TG_OK ? 0 : 1;
}
