/* memory: MEMORY_N tokens (1,000,000; 100,000 with --quick) live and
   unfinished at once. Every token blocks on a gate (wl_gate_wait), so the
   first ones hold the workers and the rest stay queued in the mailboxes.
   This is the one benchmark that does not use the default config: the
   default mailbox (4,096 per core) cannot queue a million tokens, so
   mailbox_capacity is MEMORY_N rounded up to a power of two (1,048,576 per
   core) and max_tokens is MEMORY_N plus 4,096 (slot caches and headroom);
   everything else is default. The tokens take no arguments (the gate and the
   counter are globals) and are detached (no handle kept), as a pool's jobs
   would be; the program waits for them with tg_wait_idle. So every byte
   measured is the token's own overhead.
   The max RSS (getrusage) is read before tg_create, so bytes_per_token also
   carries the scheduler itself with its enlarged mailboxes (stderr gives
   that part), and again after the last submit; seconds is the time of the
   submits. Then the gate opens and all must complete: the function ran
   exactly MEMORY_N times, and the scheduler saw MEMORY_N tokens live at
   once and MEMORY_N completed, none failed or killed. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define TGB_NAME "memory"
#include "tg_bench.h"

static int gate;
static uint64_t ran;

static int gated_task(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    wl_gate_wait(&gate);
    wl_count(&ran, 1);
    return 0;
}

static const tg_op gated_op = { .name = "gated", .fn = gated_task };

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    uint64_t n = wl_memory_n(&args);
    unsigned capacity = 2;
    while (capacity < n) capacity *= 2;
    tg_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mailbox_capacity = capacity;
    cfg.max_tokens = (unsigned)n + 4096;
    struct tg_stats full, end;

    long rss_start = wl_max_rss_kb();
    tg_scheduler *s;
    check(tg_create(&cfg, &s), "tg_create");
    long rss_created = wl_max_rss_kb();

    uint64_t t0 = wl_now_ns();
    for (uint64_t i = 0; i < n; i++)
        check(tg_submit(s, &gated_op, NULL, 0, NULL), "tg_submit");
    uint64_t t1 = wl_now_ns();
    long rss_full = wl_max_rss_kb();
    check(tg_stats(s, &full), "tg_stats");

    wl_gate_open(&gate);
    check(tg_wait_idle(s, -1), "tg_wait_idle");
    check(tg_stats(s, &end), "tg_stats");
    int threads = (int)tg_worker_count(s);
    check(tg_shutdown(s, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(s);

    fprintf(stderr, "memory: %llu tokens, %llu live after the last submit; max RSS %ld KiB at "
            "start, %ld after tg_create (%.1f B/token of it), %ld with all tokens live\n",
            (unsigned long long)n, (unsigned long long)full.live, rss_start, rss_created,
            (double)(rss_created - rss_start) * 1024.0 / (double)n, rss_full);
    uint64_t count = wl_load(&ran);
    if (full.live != n || end.completed != n || end.failed || end.killed || end.live) {
        wl_fail("memory", "the scheduler did not hold every token live, or not all completed");
        count = 0;
    }
    int ok = wl_memory_finish("tokengate", threads, wl_seconds(t0, t1), n, rss_start, rss_full,
                              count);
    return wl_exit_code(ok);
}
