/* waves: the original's max-concurrency run. WAVES_COUNT doubling waves (15
   waves of 4 ... 65,536 tokens, 131,068 in all; 12 waves with --quick) of
   the four mixed kinds of token g (wl_token): primes and string (TG_LIGHT),
   sort (TG_MEDIUM), a SHA-256 chain (TG_HEAVY). Per wave the outside thread
   stamps and submits every token, waits for all (tg_wait_all), then reads
   each outcome and releases the handles. Each token records its start and
   end (wl_waves_run_token); a token whose outcome is not COMPLETED with the
   recorded value counts as failed.
   stdout: a WAVE line per wave and the RESULT line; stderr: the same per-wave
   table in the form the original printed it. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "waves"
#include "tg_bench.h"

struct wave_args { wl_wave_rec *rec; uint64_t g; };

static int16_t *core_of;   /* the worker that ran token g (for the stderr summary) */

static int wave_task(const void *args, tg_value *result)
{
    const struct wave_args *a = (const struct wave_args *)args;
    wl_waves_run_token(a->rec, a->g);
    core_of[a->g] = (int16_t)tg_current_core();
    result->u = a->rec->result;
    return 0;
}

/* one operation per kind, indexed by wl_token_kind(g) */
static const tg_op kind_ops[4] = {
    { .name = "primes", .fn = wave_task, .weight = TG_LIGHT },
    { .name = "string", .fn = wave_task, .weight = TG_LIGHT },
    { .name = "sort",   .fn = wave_task, .weight = TG_MEDIUM },
    { .name = "sha",    .fn = wave_task, .weight = TG_HEAVY },
};

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    int waves = wl_waves_count(&args);
    uint64_t total = wl_waves_total(waves);
    wl_wave_rec *recs = (wl_wave_rec *)calloc(total, sizeof *recs);
    tg_token *tokens = (tg_token *)malloc(wl_wave_size(waves - 1) * sizeof *tokens);
    tg_scheduler *s;
    uint64_t fails = 0, busy_all = 0;
    double total_seconds = 0.0;

    core_of = (int16_t *)calloc(total, sizeof *core_of);
    if (!recs || !tokens || !core_of) return 2;
    if (!wl_sha256_selfcheck()) {
        wl_fail("waves", "SHA-256 self-check");
        return 1;
    }
    check(tg_create(NULL, &s), "tg_create");
    int threads = (int)tg_worker_count(s);

    fprintf(stderr, "TokenGate %s, %d workers: %d waves of mixed tokens "
            "(primes, string: LIGHT; sort: MEDIUM; sha chain: HEAVY)\n\n",
            TG_VERSION_STRING, threads, waves);
    fprintf(stderr, "  %4s %7s %7s %5s %10s %10s %12s %11s %8s\n", "wave", "tokens", "ok",
            "fail", "time ms", "tok/s", "latency us", "concurrency", "overlap");

    for (int k = 0; k < waves; k++) {
        uint64_t n = wl_wave_size(k), g0 = wl_wave_first(k);
        uint64_t t0 = wl_now_ns();
        for (uint64_t i = 0; i < n; i++) {
            uint64_t g = g0 + i;
            struct wave_args a = { &recs[g], g };
            recs[g].submit_ns = wl_now_ns();
            check(tg_submit(s, &kind_ops[wl_token_kind(g)], &a, sizeof a, &tokens[i]),
                  "tg_submit");
        }
        check(tg_wait_all(s, tokens, n, -1), "tg_wait_all");
        uint64_t t1 = wl_now_ns();

        for (uint64_t i = 0; i < n; i++) {
            tg_value v;
            if (tg_wait(s, tokens[i], 0, &v) != TG_OK || v.u != recs[g0 + i].result)
                recs[g0 + i].runs = 0;          /* not COMPLETED: a failed token */
            check(tg_release(s, tokens[i]), "tg_release");
        }
        uint64_t wave_fails = wl_waves_report("tokengate", k, recs + g0, t0, t1);
        fails += wave_fails;

        /* the same figures, as a table */
        const wl_wave_rec *r = recs + g0;
        uint64_t ok = n - wave_fails, busy = wl_busy_ns(r, n);
        double wall = wl_seconds(t0, t1), lat = 0.0;
        for (uint64_t i = 0; i < n; i++) lat += (double)(r[i].end_ns - r[i].submit_ns);
        fprintf(stderr, "  %4d %7llu %7llu %5llu %10.2f %10.0f %12.1f %11d %7.2fx\n", k + 1,
                (unsigned long long)n, (unsigned long long)ok, (unsigned long long)(n - ok),
                wall * 1e3, (double)n / wall, lat / (double)n * 1e-3,
                wl_peak_concurrency(r, n), (double)busy * 1e-9 / wall);
        total_seconds += wall;
        busy_all += busy;
    }
    fprintf(stderr, "  %4s %7llu %7llu %5llu %10.2f %10.0f %12s %11s %7.2fx\n\n", "all",
            (unsigned long long)total, (unsigned long long)(total - fails),
            (unsigned long long)fails, total_seconds * 1e3, (double)total / total_seconds,
            "", "", (double)busy_all * 1e-9 / total_seconds);

    struct tg_stats st;
    check(tg_stats(s, &st), "tg_stats");
    for (unsigned c = 0; c < st.workers; c++) {
        uint64_t busy = 0;
        for (uint64_t g = 0; g < total; g++)
            if (core_of[g] == (int)c) busy += recs[g].end_ns - recs[g].start_ns;
        fprintf(stderr, "  core %u (cpu %d): ran %llu tokens, stole %llu, busy %.0f ms of %.0f ms\n",
                c, st.cores[c].cpu, (unsigned long long)st.cores[c].executed,
                (unsigned long long)st.cores[c].stolen, (double)busy * 1e-6, total_seconds * 1e3);
    }
    check(tg_shutdown(s, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(s);
    int ok = wl_waves_finish("tokengate", threads, recs, total, total_seconds, fails);
    free(recs);
    free(tokens);
    free(core_of);
    return wl_exit_code(ok);
}
