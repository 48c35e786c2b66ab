/* burst: (1) BURST_TASKS = 8 TG_MEDIUM tokens released at once, each sorting
   BURST_SORT_N ints (wl_burst_run); burst_ratio = their summed run time /
   wall time from the first submit to the end of tg_wait_all.
   (2) a sustained window (--window, default 10 s; 1 s with --quick) of
   bursts of 8..64 mixed tokens (wl_window_burst_size; token g as in waves,
   with the weights of its kind), each burst submitted at once and waited
   before the next; sustained_ratio = summed run time / window wall time.
   Every token's outcome must be COMPLETED with the value it recorded. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "burst"
#include "tg_bench.h"

struct rec_args { wl_wave_rec *rec; uint64_t g; };

static int burst_task(const void *args, tg_value *result)
{
    const struct rec_args *a = (const struct rec_args *)args;
    wl_burst_run(a->rec, a->g);
    result->u = a->rec->result;
    return 0;
}

static int window_task(const void *args, tg_value *result)
{
    const struct rec_args *a = (const struct rec_args *)args;
    wl_waves_run_token(a->rec, a->g);
    result->u = a->rec->result;
    return 0;
}

static const tg_op burst_op = { .name = "burst_sort", .fn = burst_task, .weight = TG_MEDIUM };

/* window tokens: one operation per kind, indexed by wl_token_kind(g) */
static const tg_op kind_ops[4] = {
    { .name = "primes", .fn = window_task, .weight = TG_LIGHT },
    { .name = "string", .fn = window_task, .weight = TG_LIGHT },
    { .name = "sort",   .fn = window_task, .weight = TG_MEDIUM },
    { .name = "sha",    .fn = window_task, .weight = TG_HEAVY },
};

static tg_scheduler *sched;

/* Waits for n tokens and releases them; a token that did not complete with
   its recorded value is marked failed (runs = 0). Returns 1 if all did. */
static int finish_tokens(tg_token *t, wl_wave_rec *r, size_t n)
{
    int all = 1;
    check(tg_wait_all(sched, t, n, -1), "tg_wait_all");
    for (size_t i = 0; i < n; i++) {
        tg_value v;
        if (tg_wait(sched, t[i], 0, &v) != TG_OK || v.u != r[i].result) {
            r[i].runs = 0;
            all = 0;
        }
        check(tg_release(sched, t[i]), "tg_release");
    }
    return all;
}

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    wl_wave_rec burst[BURST_TASKS];
    tg_token t[64];
    wl_recs win = { NULL, 0, 0 };

    if (!wl_sha256_selfcheck()) {
        wl_fail("burst", "SHA-256 self-check");
        return 1;
    }
    memset(burst, 0, sizeof burst);
    check(tg_create(NULL, &sched), "tg_create");
    int threads = (int)tg_worker_count(sched);

    /* (1) the burst */
    uint64_t b0 = wl_now_ns();
    for (uint64_t i = 0; i < BURST_TASKS; i++) {
        struct rec_args a = { &burst[i], i };
        burst[i].submit_ns = wl_now_ns();
        check(tg_submit(sched, &burst_op, &a, sizeof a, &t[i]), "tg_submit");
    }
    check(tg_wait_all(sched, t, BURST_TASKS, -1), "tg_wait_all");
    uint64_t b1 = wl_now_ns();
    finish_tokens(t, burst, BURST_TASKS);

    /* (2) the sustained window */
    uint64_t g = 0, nb = 0;
    uint64_t w0 = wl_now_ns(), w1 = w0, window_ns = (uint64_t)(args.window_s * 1e9);
    while (w1 - w0 < window_ns) {
        unsigned n = wl_window_burst_size(nb++);
        wl_wave_rec *r = wl_recs_grow(&win, n);
        if (!r) return 2;
        for (unsigned i = 0; i < n; i++) {
            struct rec_args a = { &r[i], g + i };
            r[i].submit_ns = wl_now_ns();
            check(tg_submit(sched, &kind_ops[wl_token_kind(g + i)], &a, sizeof a, &t[i]),
                  "tg_submit");
        }
        finish_tokens(t, r, n);
        g += n;
        w1 = wl_now_ns();
    }

    check(tg_shutdown(sched, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(sched);
    fprintf(stderr, "burst: %llu window bursts, %llu tokens\n", (unsigned long long)nb,
            (unsigned long long)g);
    int ok = wl_burst_finish("tokengate", threads, burst, wl_seconds(b0, b1), wl_burst_check(burst),
                             &win, wl_seconds(w0, w1));
    free(win.r);
    return wl_exit_code(ok);
}
