/* include_order.c - a system header before the implementation: without
   _GNU_SOURCE the build must stop with tokengate.h's own message (checks.sh
   greps for it); with -D_GNU_SOURCE it builds and runs. */
#include <stdio.h>
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"

int main(void)
{
    tg_scheduler *s;
    if (tg_create(NULL, &s) != TG_OK) return 1;
    tg_destroy(s);
    puts("ok");
    return 0;
}
