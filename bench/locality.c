/* locality: what sticky keys buy when every key has a private working set.

   LOC_KEYS keys (16), each owning a working set of LOC_SET_KIB (256 KiB) of
   uint64_t words, 4 MiB in all, and a stream of LOC_TOKENS small tokens:
   token g belongs to key stream[g] and read-modify-writes a window of
   LOC_WINDOW_KIB (128 KiB, half of the set) of its key's set, starting at a
   line chosen from (key, how many tokens of the key ran before it). The
   stream is a sequence of shuffled rounds of all keys, so two consecutive
   tokens never share a key.

   The same stream runs in one process, on one scheduler, in two modes:
     sticky  an op with sticky_anchor "locality" whose argument is the key
             id: all tokens of a key run on the core the key is pinned to
             (section 11 of tokengate.h), so a set is only ever written by
             one core;
     free    the identical op without the anchor: tokens spread over the
             cores by weight and stealing, so every core works on every set.
   Both ops are TG_HEAVY (home range: every core). Each token takes its
   key's spin lock around the update: in sticky mode it is never contended
   (one core per key), in free mode two cores can want the same key at once
   (reported: free_contended, and free_lock_wait_seconds, the time spent
   waiting summed over the workers). The update adds a value that depends
   only on (key, n) to each word of the window; additions commute, so each
   key's final set is the same whatever the order the tokens ran in.

   Timed: submitting the whole stream (detached tokens, one outside thread)
   and tg_wait_idle. Each run resets the sets first. One untimed run per
   mode, then LOC_REPS repetitions of both modes, alternating which goes
   first; the medians are reported. Verified after every run: each key ran
   its number of tokens and its checksum (a hash of its final set) equals
   the serial computation's; afterwards no key is pinned. Reported, not a
   failure: sticky_moved_keys, keys whose tokens ran on more than one core
   in a sticky run (a key whose tokens all ended is unpinned, and its next
   token may be pinned elsewhere; the submitter normally stays ahead of the
   workers, so it is 0, unless the submitting thread is held up, say by
   another process on its CPU).

     RESULT bench=locality impl=tokengate ok=<0|1> keys=<K> set_kib=<kib>
            tokens=<N> sticky_seconds=<s> free_seconds=<s> ratio=<free/sticky>
            threads=<workers> reps=<R> free_contended=<n>
            free_lock_wait_seconds=<s> sticky_moved_keys=<n> window_kib=<kib>
            round_trip_ns_before=<ns> round_trip_ns_after=<ns>

   Also reported: round_trip_ns_before/after, the time a cache line takes
   to go from the first CPU of the affinity mask to the second and back
   (two plain threads pinned there, before the scheduler starts and after
   it is gone), because the result depends on it.

   This machine (a 2-core AMD EPYC VM): L1d 48 KiB and L2 1 MiB per core
   (getconf LEVEL2_CACHE_SIZE; the VM has no cache entries in sysfs, lscpu
   shows 1 thread per core, so each worker has an L2 of its own) and a large
   L3. One set fits a core's L2, the 16 together do not. Why the gain is
   modest, and what it is made of:
   - With 2 cores, half of the free tokens land on the core their key's
     previous token ran on anyway.
   - Neither mode keeps its sets in L2 (a sticky core still cycles through
     8 sets, 2 MiB); the difference is where a missed line comes from. In
     sticky mode it was last written by the same core: it is in its own L2
     or in the L3. In free mode it is often dirty in the other core's cache
     and has to be fetched from there. Making the sets smaller or fewer (so
     that sticky sets stay in L2) changes the sticky time very little here.
   - So the gain is what a transfer between the two cores costs, and on a
     VM that depends on where the host runs the two virtual CPUs, which can
     change from minute to minute: measured here, free/sticky was 1.2-1.3
     while the round trip was 400-650 ns, and 1.0-1.05 while it was about
     110 ns (the two vCPUs then sit close together on the host).
   - Part of the free mode's extra time is waiting for a key's lock held by
     the other core: free_lock_wait_seconds / threads, roughly a fifth of
     the difference when the cores are far apart. Without sticky keys that
     lock (or another way to serialise a key's updates) is needed anyway.
   On machines with more cores (in free mode a key's previous token then
   ran on another core most of the time) and farther caches the gap should
   be larger. With one worker both modes are the same (ratio 1.00).

   --quick: a tenth of the tokens and 3 repetitions (well under a second). */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"
#include "common/workload.h"

#include <pthread.h>

#ifndef LOC_KEYS
#define LOC_KEYS        16
#endif
#ifndef LOC_SET_KIB
#define LOC_SET_KIB     256
#endif
#ifndef LOC_WINDOW_KIB
#define LOC_WINDOW_KIB  128
#endif
#define LOC_TOKENS       96000u     /* full run */
#define LOC_TOKENS_QUICK 9600u
#define LOC_REPS         7
#define LOC_REPS_QUICK   3

#define LOC_SET_WORDS    ((size_t)LOC_SET_KIB * 1024 / sizeof(uint64_t))
#define LOC_WINDOW_WORDS ((size_t)LOC_WINDOW_KIB * 1024 / sizeof(uint64_t))
#define LOC_LINE_WORDS   8          /* 64-byte lines */

#if LOC_WINDOW_KIB > LOC_SET_KIB
#  error "the window must fit in the set"
#endif

static void check(int rc, const char *what)
{
    if (rc != TG_OK) {
        fprintf(stderr, "locality: %s: %s\n", what, tg_strerror(rc));
        exit(1);
    }
}

/* ------------------------------------------------------------ the keys */

typedef struct loc_key {
    int lock;                   /* 0 free, 1 held */
    uint64_t seq;               /* tokens applied so far (under the lock) */
    uint64_t contended;         /* lock acquisitions that had to wait */
    uint64_t wait_ns;           /* time those spent waiting */
    int core;                   /* core of the key's first token, -1: none yet */
    int moved;                  /* a later token ran on another core */
    uint64_t *set;              /* LOC_SET_WORDS words, line-aligned */
} __attribute__((aligned(64))) loc_key;

static loc_key keys[LOC_KEYS];

static inline void loc_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void loc_lock(loc_key *k)
{
    if (!__atomic_exchange_n(&k->lock, 1, __ATOMIC_ACQUIRE)) return;
    uint64_t t0 = wl_now_ns();
    for (unsigned spins = 0;;) {
        while (__atomic_load_n(&k->lock, __ATOMIC_RELAXED)) {
            /* a holder preempted on a shared CPU gets it back */
            if (++spins > 2000) sched_yield();
            else loc_pause();
        }
        if (!__atomic_exchange_n(&k->lock, 1, __ATOMIC_ACQUIRE)) break;
    }
    /* under the lock now */
    k->contended++;
    k->wait_ns += wl_now_ns() - t0;
}

static void loc_unlock(loc_key *k) { __atomic_store_n(&k->lock, 0, __ATOMIC_RELEASE); }

/* The initial contents of key k's set. */
static void loc_init_set(uint64_t *set, uint32_t k)
{
    for (size_t i = 0; i < LOC_SET_WORDS; i++) set[i] = ((uint64_t)k << 48) ^ (i * 0x9e3779b97f4a7c15ull);
}

/* The n-th update of key k: adds v + i to word start + i of the window
   (wrapping at the end of the set). Depends only on (k, n). */
static void loc_apply(uint64_t *set, uint32_t k, uint64_t n)
{
    uint64_t h = wl_mix64(((uint64_t)k << 40) ^ n ^ 0x6c6f63616c697479ull);
    size_t start = (size_t)(h % (LOC_SET_WORDS / LOC_LINE_WORDS)) * LOC_LINE_WORDS;
    size_t first = LOC_SET_WORDS - start;
    uint64_t v = h | 1;
    if (first > LOC_WINDOW_WORDS) first = LOC_WINDOW_WORDS;
    uint64_t *p = set + start;
    for (size_t i = 0; i < first; i++) p[i] += v + i;
    for (size_t i = first; i < LOC_WINDOW_WORDS; i++) set[i - first] += v + i;
}

static uint64_t loc_checksum(const uint64_t *set)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < LOC_SET_WORDS; i++) h = (h ^ set[i]) * 0x100000001b3ull;
    return wl_mix64(h);
}

/* ------------------------------------------------------------- the ops */

static int loc_token(const void *args, tg_value *result)
{
    uint32_t k = *(const uint32_t *)args;
    loc_key *key = &keys[k];
    (void)result;
    loc_lock(key);
    int core = tg_current_core();
    if (key->core < 0) key->core = core;
    else if (key->core != core) key->moved = 1;
    loc_apply(key->set, k, key->seq++);
    loc_unlock(key);
    return 0;
}

static const tg_op sticky_op = { .name = "locality", .fn = loc_token, .weight = TG_HEAVY,
                                 .sticky_anchor = "locality" };
static const tg_op free_op   = { .name = "locality", .fn = loc_token, .weight = TG_HEAVY };

/* ---------------------------------------------------------- the stream */

/* n tokens: shuffled rounds of all keys, no key twice in a row. */
static void loc_make_stream(uint32_t *stream, uint32_t n)
{
    uint64_t state = 0x73747265616d0001ull;
    uint32_t perm[LOC_KEYS];
    uint32_t g = 0;
    while (g < n) {
        for (uint32_t i = 0; i < LOC_KEYS; i++) perm[i] = i;
        for (uint32_t i = LOC_KEYS - 1; i > 0; i--) {
            uint32_t j = (uint32_t)(wl_splitmix64(&state) % (i + 1));
            uint32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        if (g > 0 && perm[0] == stream[g - 1]) {
            uint32_t t = perm[0]; perm[0] = perm[1]; perm[1] = t;
        }
        for (uint32_t i = 0; i < LOC_KEYS && g < n; i++) stream[g++] = perm[i];
    }
}

/* --------------------------------------------------------------- a run */

typedef struct loc_run {
    double seconds;
    uint64_t contended;
    double wait_s;              /* summed over the workers */
    int moved;                  /* keys whose tokens ran on more than one core */
    int ok;
} loc_run;

static loc_run loc_run_mode(tg_scheduler *s, const tg_op *op, const uint32_t *stream, uint32_t n,
                            const uint64_t *want_sum, const uint64_t *want_count)
{
    loc_run r = { 0.0, 0, 0.0, 0, 1 };
    for (uint32_t k = 0; k < LOC_KEYS; k++) {
        loc_init_set(keys[k].set, k);
        keys[k].seq = 0;
        keys[k].contended = 0;
        keys[k].wait_ns = 0;
        keys[k].core = -1;
        keys[k].moved = 0;
    }
    uint64_t t0 = wl_now_ns();
    for (uint32_t g = 0; g < n; g++)
        check(tg_submit(s, op, &stream[g], sizeof stream[g], NULL), "tg_submit");
    check(tg_wait_idle(s, -1), "tg_wait_idle");
    uint64_t t1 = wl_now_ns();
    r.seconds = wl_seconds(t0, t1);
    for (uint32_t k = 0; k < LOC_KEYS; k++) {
        /* taking the lock orders the last token's writes before our reads */
        loc_lock(&keys[k]);
        if (keys[k].seq != want_count[k] || loc_checksum(keys[k].set) != want_sum[k]) r.ok = 0;
        r.contended += keys[k].contended;
        r.wait_s += (double)keys[k].wait_ns * 1e-9;
        r.moved += keys[k].moved;
        loc_unlock(&keys[k]);
    }
    return r;
}

/* ------------------------------------------- core-to-core round trip */

/* How far apart the first two CPUs of the affinity mask (those of workers
   0 and 1) are: the mean time for a cache line to go from one to the other
   and back, from two threads pinned there taking turns writing it. 0 when
   there is one CPU or pinning fails. */
#define LOC_TRIPS 20000

static int loc_turn __attribute__((aligned(64)));

static int loc_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void loc_await_turn(int value)
{
    for (unsigned spins = 0; __atomic_load_n(&loc_turn, __ATOMIC_ACQUIRE) != value;)
        if (++spins > 100000) sched_yield(); else loc_pause();
}

static void *loc_echo(void *arg)
{
    if (loc_pin(*(int *)arg) != 0) {
        __atomic_store_n(&loc_turn, -1, __ATOMIC_RELEASE);
        return NULL;
    }
    __atomic_store_n(&loc_turn, 1, __ATOMIC_RELEASE);     /* ready */
    for (int i = 0; i < LOC_TRIPS; i++) {
        loc_await_turn(2 * i + 2);
        __atomic_store_n(&loc_turn, 2 * i + 3, __ATOMIC_RELEASE);
    }
    return NULL;
}

static double loc_round_trip_ns(void)
{
    cpu_set_t mask, saved;
    int cpu[2], found = 0;
    pthread_t t;
    double ns = 0.0;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) return 0.0;
    for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
        if (CPU_ISSET(c, &mask)) cpu[found++] = c;
    if (found < 2) return 0.0;
    if (pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) != 0) return 0.0;
    __atomic_store_n(&loc_turn, 0, __ATOMIC_RELAXED);
    if (pthread_create(&t, NULL, loc_echo, &cpu[1]) != 0) return 0.0;
    int pinned = loc_pin(cpu[0]) == 0;
    int turn;
    while ((turn = __atomic_load_n(&loc_turn, __ATOMIC_ACQUIRE)) == 0) sched_yield();
    if (turn == 1) {
        uint64_t t0 = wl_now_ns();
        for (int i = 0; i < LOC_TRIPS; i++) {
            __atomic_store_n(&loc_turn, 2 * i + 2, __ATOMIC_RELEASE);
            loc_await_turn(2 * i + 3);
        }
        ns = (double)(wl_now_ns() - t0) / LOC_TRIPS;
    }
    pthread_join(t, NULL);
    pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    return pinned ? ns : 0.0;
}

static int loc_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double loc_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, loc_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    uint32_t n = args.quick ? LOC_TOKENS_QUICK : LOC_TOKENS;
    int reps = args.quick ? LOC_REPS_QUICK : LOC_REPS;
    uint32_t *stream = (uint32_t *)malloc(n * sizeof *stream);
    uint64_t want_sum[LOC_KEYS], want_count[LOC_KEYS] = { 0 };
    double sticky_s[LOC_REPS], free_s[LOC_REPS], contended[LOC_REPS], wait_s[LOC_REPS];
    int ok = 1;

    if (!stream) {
        fprintf(stderr, "locality: out of memory\n");
        return 1;
    }
    for (uint32_t k = 0; k < LOC_KEYS; k++) {
        if (posix_memalign((void **)&keys[k].set, 64, LOC_SET_WORDS * sizeof(uint64_t)) != 0) {
            fprintf(stderr, "locality: out of memory\n");
            return 1;
        }
    }
    loc_make_stream(stream, n);
    for (uint32_t g = 0; g < n; g++) want_count[stream[g]]++;

    /* the serial computation: each key's updates in order, on one thread */
    for (uint32_t k = 0; k < LOC_KEYS; k++) {
        uint64_t *set = keys[k].set;
        loc_init_set(set, k);
        for (uint64_t i = 0; i < want_count[k]; i++) loc_apply(set, k, i);
        want_sum[k] = loc_checksum(set);
    }

    double trip_before = loc_round_trip_ns();
    tg_scheduler *s;
    check(tg_create(NULL, &s), "tg_create");
    int threads = (int)tg_worker_count(s);
    struct tg_stats st0, st1;
    uint64_t sticky_exec[TG_MAX_WORKERS] = { 0 };
    int moved = 0;

    /* warm-up, untimed: one run per mode */
    ok &= loc_run_mode(s, &sticky_op, stream, n, want_sum, want_count).ok;
    ok &= loc_run_mode(s, &free_op, stream, n, want_sum, want_count).ok;

    for (int r = 0; r < reps; r++) {
        /* alternate which mode goes first */
        for (int m = 0; m < 2; m++) {
            int sticky = (m == 0) == (r % 2 == 0);
            check(tg_stats(s, &st0), "tg_stats");
            loc_run run = loc_run_mode(s, sticky ? &sticky_op : &free_op, stream, n,
                                       want_sum, want_count);
            check(tg_stats(s, &st1), "tg_stats");
            ok &= run.ok;
            if (sticky) {
                sticky_s[r] = run.seconds;
                moved += run.moved;
                if (run.contended) ok = wl_fail("locality", "a sticky key's lock was contended");
                for (unsigned c = 0; c < st1.workers && c < TG_MAX_WORKERS; c++)
                    sticky_exec[c] += st1.cores[c].executed - st0.cores[c].executed;
            } else {
                free_s[r] = run.seconds;
                contended[r] = (double)run.contended;
                wait_s[r] = run.wait_s;
            }
        }
    }
    check(tg_stats(s, &st1), "tg_stats");
    if (st1.sticky_keys != 0) ok = wl_fail("locality", "keys still pinned once idle");
    if (st1.failed || st1.killed) ok = wl_fail("locality", "tokens failed or were killed");
    check(tg_shutdown(s, TG_DRAIN, -1), "tg_shutdown");
    tg_destroy(s);
    double trip_after = loc_round_trip_ns();
    if (!ok) wl_fail("locality", "a key's count or checksum differs from the serial run");

    double sticky_med = loc_median(sticky_s, reps), free_med = loc_median(free_s, reps);
    double contended_med = loc_median(contended, reps), wait_med = loc_median(wait_s, reps);
    printf("RESULT bench=locality impl=tokengate ok=%d keys=%d set_kib=%d tokens=%u "
           "sticky_seconds=%.6f free_seconds=%.6f ratio=%.3f threads=%d reps=%d "
           "free_contended=%.0f free_lock_wait_seconds=%.6f sticky_moved_keys=%d window_kib=%d "
           "round_trip_ns_before=%.0f round_trip_ns_after=%.0f\n",
           ok, LOC_KEYS, LOC_SET_KIB, n, sticky_med, free_med, free_med / sticky_med,
           threads, reps, contended_med, wait_med, moved, LOC_WINDOW_KIB, trip_before, trip_after);
    printf("locality: %d keys x %d KiB, %u tokens touching %d KiB each, %d workers: "
           "sticky %.3f s, free %.3f s (medians of %d) -> free/sticky %.2fx; "
           "free lock waits %.0f (%.3f s over all workers); sticky keys moved %d; "
           "core round trip %.0f ns before, %.0f ns after; sticky tokens per core:",
           LOC_KEYS, LOC_SET_KIB, n, LOC_WINDOW_KIB, threads, sticky_med, free_med, reps,
           free_med / sticky_med, contended_med, wait_med, moved, trip_before, trip_after);
    for (int c = 0; c < threads && c < TG_MAX_WORKERS; c++)
        printf(" %llu", (unsigned long long)sticky_exec[c]);
    printf("\n");
    fflush(stdout);
    for (uint32_t k = 0; k < LOC_KEYS; k++) free(keys[k].set);
    free(stream);
    return wl_exit_code(ok);
}
