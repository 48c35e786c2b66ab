/* io: an I/O-bound mixed workload. In a fresh temporary directory, 4,000
   JSON-like file writes read back (TG_IO_SLOW), 4,000 log-line appends to 8
   files (TG_IO_FAST) and 400 64 KiB blob writes (TG_IO_MODERATE), each with a
   modelled device latency (a sleep of 2, 0.5 and 5 ms), and 2,000 CPU tokens
   of about 200 us alongside (a tenth of each with --quick). The outside
   thread submits every op at once in the interleaved order of wl_io_setup,
   holding the handles, waits for all (tg_wait_all), then reads each outcome
   and releases the handles; a token that did not end COMPLETED counts as
   failed. The tiers let up to their caps (10, 50, 25) of each I/O kind block
   at once while the cores run the CPU tokens.
   stdout: the RESULT line; stderr: the spare workers and hand-offs used. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "io"
#include "tg_bench.h"

struct io_args { const wl_io *io; wl_io_item it; };

static int io_task(const void *args, tg_value *result)
{
    const struct io_args *a = (const struct io_args *)args;
    int rc = wl_io_run(a->io, a->it);
    result->u = a->io->rec[a->it.kind][a->it.index].result;
    return rc != 0;
}

/* one operation per kind, indexed by WL_IO_*: each I/O kind in its tier, the
   CPU tokens plain (TG_MEDIUM) */
static const tg_op kind_ops[WL_IO_KINDS] = {
    [WL_IO_JSON] = { .name = "json_write", .fn = io_task, .io_tier = TG_IO_SLOW },
    [WL_IO_LOG]  = { .name = "log_append", .fn = io_task, .io_tier = TG_IO_FAST },
    [WL_IO_BLOB] = { .name = "blob_write", .fn = io_task, .io_tier = TG_IO_MODERATE },
    [WL_IO_CPU]  = { .name = "cpu",        .fn = io_task },
};

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    wl_io io;
    tg_scheduler *s;

    if (wl_io_setup(&io, &args) != 0) return 2;
    tg_token *tokens = (tg_token *)malloc(io.total * sizeof *tokens);
    if (!tokens) return 2;
    check(tg_create(NULL, &s), "tg_create");
    int threads = (int)tg_worker_count(s);

    uint64_t t0 = wl_now_ns();
    for (size_t i = 0; i < io.total; i++) {
        struct io_args a = { &io, io.order[i] };
        check(tg_submit(s, &kind_ops[a.it.kind], &a, sizeof a, &tokens[i]), "tg_submit");
    }
    check(tg_wait_all(s, tokens, io.total, -1), "tg_wait_all");
    uint64_t t1 = wl_now_ns();

    for (size_t i = 0; i < io.total; i++) {
        wl_io_item it = io.order[i];
        tg_value v;
        if (tg_wait(s, tokens[i], 0, &v) != TG_OK || v.u != io.rec[it.kind][it.index].result)
            io.rec[it.kind][it.index].runs = 0;   /* not COMPLETED: a failed op */
        check(tg_release(s, tokens[i]), "tg_release");
    }
    struct tg_stats st;
    check(tg_stats(s, &st), "tg_stats");
    fprintf(stderr, "io: %d workers, %llu ops in %.3f s; spare workers: peak %u running, "
            "%u alive; %llu hand-offs\n", threads, (unsigned long long)io.total,
            wl_seconds(t0, t1), (unsigned)st.spares_peak, (unsigned)st.spares_alive,
            (unsigned long long)st.handoffs);
    check(tg_shutdown(s, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(s);
    int ok = wl_io_finish("tokengate", threads, &io, wl_seconds(t0, t1));
    wl_io_free(&io);
    free(tokens);
    return wl_exit_code(ok);
}
