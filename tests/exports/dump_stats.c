/* dump_stats.c - runs a mixed workload and prints tg_stats_json (argument
   "json") or tg_stats_prometheus ("prometheus"), for the external checks
   of `make test` (python3 -m json.tool, promtool check metrics). The op
   names need escaping in both formats; one op is paused with tokens held,
   one fails and retries, one is past its deadline. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int quick(const void *args, tg_value *result)
{
    result->i = *(const int *)args;
    return 0;
}

static int flaky(const void *args, tg_value *result)
{
    (void)result;
    return *(const int *)args % 3 == 0;
}

static int slow(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    struct timespec ts = { 0, 2000000 };
    nanosleep(&ts, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    int json = argc > 1 && strcmp(argv[1], "json") == 0;
    if (argc < 2 || (!json && strcmp(argv[1], "prometheus") != 0)) {
        fprintf(stderr, "usage: %s json|prometheus\n", argv[0]);
        return 2;
    }
    const tg_op ops[] = {
        { .name = "quick", .fn = quick },
        { .name = "flaky \"retry\"\\", .fn = flaky, .max_retries = 1 },
        { .name = "slow\nline", .fn = slow, .timeout_ns = 1000000, .io_tier = TG_IO_SLOW },
        { .name = "held \xc3\xa9\xff", .fn = quick },   /* é and an ill-formed byte */
    };
    tg_scheduler *s;
    if (tg_create(NULL, &s) != TG_OK) return 1;
    tg_op_pause(s, "held \xc3\xa9\xff");                  /* TG_ENOOP before a submit: fine */
    for (int i = 0; i < 2000; i++) {
        const tg_op *op = &ops[i % 4];
        if (tg_submit(s, op, &i, sizeof i, NULL) != TG_OK) return 1;
        if (i == 3 && tg_op_pause(s, ops[3].name) != TG_OK) return 1;
    }
    struct timespec ts = { 0, 50000000 };
    nanosleep(&ts, NULL);
    size_t need = 0;
    int (*dump)(tg_scheduler *, char *, size_t, size_t *) = json ? tg_stats_json : tg_stats_prometheus;
    if (dump(s, NULL, 0, &need) != TG_ERANGE) return 1;
    char *buf = malloc(need + 4096);          /* the figures may grow meanwhile */
    size_t len = 0;
    if (!buf || dump(s, buf, need + 4096, &len) != TG_OK) return 1;
    fwrite(buf, 1, len, stdout);
    free(buf);
    tg_shutdown(s, TG_CANCEL, -1);
    tg_destroy(s);
    return 0;
}
