/* Compile check: the header included twice (with the implementation, then
   plainly, as a second header of the same file would), an operation declared
   with TG_OPERATION, tokens run. Built as C99, C11 and C++ with every warning
   as an error. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../../tokengate.h"

#include <stdio.h>

static int twice(const int *x, tg_value *result)
{
    result->i = 2 * (int64_t)*x;
    return 0;
}

#ifndef __cplusplus
TG_OPERATION(twice, int, .weight = TG_LIGHT)
#endif

static int twice_raw(const void *args, tg_value *result)
{
    return twice((const int *)args, result);
}

int main(void)
{
    tg_scheduler *s = NULL;
    tg_op op;
    memset(&op, 0, sizeof op);
    op.name = "twice";
    op.fn = twice_raw;
    tg_token t;
    tg_value v;
    int x = 21;
    int failures = 0;
    if (tg_create(NULL, &s) != TG_OK) return 1;
    if (tg_submit(s, &op, &x, sizeof x, &t) != TG_OK) failures++;
    else if (tg_wait(s, t, -1, &v) != TG_OK || v.i != 42) failures++;
    else if (tg_release(s, t) != TG_OK) failures++;
#ifndef __cplusplus
    if (twice_submit(s, 5, &t) != TG_OK) failures++;
    else if (tg_wait(s, t, -1, &v) != TG_OK || v.i != 10) failures++;
    else tg_release(s, t);
    if (twice_op.weight != TG_LIGHT) failures++;
#endif
    tg_destroy(s);
    if (failures) fprintf(stderr, "%d failures\n", failures);
    return failures != 0;
}
