/* pingpong: PINGPONG_ROUNDS rounds (100,000; 10,000 with --quick) of one
   outside thread submitting one token and waiting for it. The latency of a
   round runs from before tg_submit to after tg_wait returns; the handle is
   released after the clock stops. The token returns its round number and
   tg_current_core(): a round counts only if the number comes back and the
   token ran on a worker (core >= 0), never on the waiting thread. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "pingpong"
#include "tg_bench.h"

static int ping_task(const void *args, tg_value *result)
{
    uint64_t round = *(const uint64_t *)args;
    int core = tg_current_core();
    /* round in the high bits, core + 1 in the low 16 (0: not on a worker) */
    result->u = round << 16 | (uint64_t)(core + 1);
    return 0;
}

static const tg_op ping_op = { .name = "ping", .fn = ping_task };

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    size_t rounds = wl_pingpong_rounds(&args);
    uint64_t *lat = (uint64_t *)malloc(rounds * sizeof *lat);
    tg_scheduler *s;
    uint64_t ran = 0, on_worker = 0;

    if (!lat) return 2;
    check(tg_create(NULL, &s), "tg_create");
    int threads = (int)tg_worker_count(s);

    uint64_t t0 = wl_now_ns();
    for (uint64_t i = 0; i < rounds; i++) {
        tg_token t;
        tg_value v;
        uint64_t a = wl_now_ns();
        check(tg_submit(s, &ping_op, &i, sizeof i, &t), "tg_submit");
        check(tg_wait(s, t, -1, &v), "tg_wait");
        uint64_t b = wl_now_ns();
        lat[i] = b - a;
        check(tg_release(s, t), "tg_release");
        int core = (int)(v.u & 0xffff) - 1;
        if (v.u >> 16 == i) {
            if (core >= 0 && core < threads) {
                on_worker++;
                ran++;
            }
        }
    }
    uint64_t t1 = wl_now_ns();

    check(tg_shutdown(s, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(s);
    if (on_worker != rounds)
        wl_fail("pingpong", "a token did not run on a worker");
    int ok = wl_pingpong_finish("tokengate", threads, wl_seconds(t0, t1), lat, rounds, ran,
                                on_worker);
    free(lat);
    return wl_exit_code(ok);
}
