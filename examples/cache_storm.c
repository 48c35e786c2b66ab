/* cache_storm.c - sticky keys under a storm (section 11 of tokengate.h).

   Four accounts are sticky keys: every operation below has the sticky
   anchor "account" and takes the account number (a uint32_t) as its only
   argument, so a token's key is "account" + those 4 bytes, whichever op it
   belongs to. The first token of a key pins the key to the core it lands
   on; every later token of the key goes to that core while any token of
   the key is live, and the pin is released when the last one ends.

     account_open  (one per account, first): builds the account's working
                   set (a 16 KiB ledger), then hands its place over to an
                   account_hold token.
     account_hold  keeps the key live until the storm has been submitted:
                   if it has not, it submits another account_hold of the
                   same account (which joins the pin before this one ends)
                   and returns. A hold never blocks its worker, so the
                   storm's tokens keep running meanwhile, on any number of
                   workers, and no mailbox size matters.
     account_post  the storm: two threads submit STORM_PER_THREAD posts
                   each, the accounts interleaved, every post adding an
                   amount to its account's balance and to a slice of its
                   ledger.

   Because the open/hold chain keeps each key live from its first token to
   the end of the storm, every token of an account must run on one core.
   The verdict is computed from what ran: the core tg_info reports for each
   post's handle and the core each task saw (tg_current_core()) must be the
   account's one core, and each balance must equal the sum of the amounts
   posted to it. (The ledger and balance are plain memory without a lock:
   one core means one worker running the account's tokens one at a time.)
   Once everything ended, tg_stats must show no key pinned any more.
   Exits 0 on PASS, 1 on FAIL. Works with any number of workers. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCOUNTS          4
#define SUBMITTERS        2
#define STORM_PER_THREAD  3000
#define LEDGER_WORDS      2048        /* 16 KiB of working set per account */
#define SLICE_WORDS       64          /* ledger words one post updates */
#define MAX_CORES         TG_MAX_WORKERS

struct account {
    uint64_t ledger[LEDGER_WORDS];
    uint64_t balance;
    uint64_t posts;
    uint64_t opened;
};

static tg_scheduler *sched;
static struct account accounts[ACCOUNTS];
static atomic_bool storm_submitted;
static atomic_int task_errors;
/* per account: the tasks that ran on each core, as the tasks saw it */
static atomic_uint ran_on[ACCOUNTS][MAX_CORES];
static atomic_uint holds[ACCOUNTS];

static void note_core(uint32_t a)
{
    int core = tg_current_core();
    if (core >= 0 && core < MAX_CORES)
        atomic_fetch_add_explicit(&ran_on[a][core], 1, memory_order_relaxed);
    else
        atomic_fetch_add(&task_errors, 1);
}

/* ------------------------------------------------------------ the tasks */

static int account_hold(const void *args, tg_value *result);

static const tg_op account_hold_op = {
    .name = "account_hold", .fn = account_hold, .sticky_anchor = "account"
};

/* Submits the next hold of account a unless the storm is all submitted.
   When the core has nothing else queued the holds would follow each other
   back to back: yielding first lets a submitter sharing this CPU run. */
static int hold_on(uint32_t a)
{
    if (atomic_load_explicit(&storm_submitted, memory_order_acquire))
        return 0;
    sched_yield();
    atomic_fetch_add_explicit(&holds[a], 1, memory_order_relaxed);
    /* detached: it releases itself when it ends */
    return tg_submit(sched, &account_hold_op, &a, sizeof a, NULL) == TG_OK ? 0 : 1;
}

static int account_hold(const void *args, tg_value *result)
{
    uint32_t a = *(const uint32_t *)args;
    (void)result;
    note_core(a);
    return hold_on(a);
}

static int account_open(const void *args, tg_value *result)
{
    uint32_t a = *(const uint32_t *)args;
    struct account *acc = &accounts[a];
    (void)result;
    note_core(a);
    for (uint32_t i = 0; i < LEDGER_WORDS; i++)
        acc->ledger[i] = (uint64_t)a << 32 | i;
    acc->opened++;
    return hold_on(a);
}

static int account_post(const void *args, tg_value *result)
{
    uint32_t a = *(const uint32_t *)args;
    struct account *acc = &accounts[a];
    /* the amount is derived from the post's sequence number in its account */
    uint64_t amount = acc->posts % 97 + 1;
    uint32_t first = (uint32_t)(acc->posts * SLICE_WORDS) % LEDGER_WORDS;
    note_core(a);
    for (uint32_t i = 0; i < SLICE_WORDS; i++)
        acc->ledger[first + i] += amount;
    acc->balance += amount;
    acc->posts++;
    result->i = tg_current_core();
    return 0;
}

/* Every op of an account shares the anchor, hence the key. Weight
   TG_HEAVY: a key's first token may land on any core (TG_MEDIUM would
   start at core 1). */
static const tg_op account_open_op = {
    .name = "account_open", .fn = account_open, .weight = TG_HEAVY,
    .sticky_anchor = "account"
};
static const tg_op account_post_op = {
    .name = "account_post", .fn = account_post, .weight = TG_HEAVY,
    .sticky_anchor = "account"
};

/* ------------------------------------------------------- the submitters */

struct submitter {
    pthread_t thread;
    int id;
    int rc;                               /* first tg_submit error, or TG_OK */
    tg_token handle[STORM_PER_THREAD];
    uint32_t account[STORM_PER_THREAD];
};

static struct submitter submitters[SUBMITTERS];

static void *storm(void *arg)
{
    struct submitter *sub = arg;
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(sub->id + 1);
    uint32_t last = ACCOUNTS;
    sub->rc = TG_OK;
    for (int i = 0; i < STORM_PER_THREAD; i++) {
        /* a pseudo-random account, never the same twice in a row */
        uint32_t a;
        do {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            a = (uint32_t)(x >> 32) % ACCOUNTS;
        } while (a == last);
        last = a;
        sub->account[i] = a;
        int rc = tg_submit(sched, &account_post_op, &a, sizeof a, &sub->handle[i]);
        if (rc != TG_OK && sub->rc == TG_OK)
            sub->rc = rc;
    }
    return NULL;
}

/* ------------------------------------------------------------------ main */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
    tg_token open[ACCOUNTS];
    struct tg_stats during, after;
    static unsigned info_on[ACCOUNTS][MAX_CORES];  /* per tg_info */
    uint64_t posted[ACCOUNTS] = { 0 };
    int errors = 0;

    int rc = tg_create(NULL, &sched);
    if (rc != TG_OK) {
        fprintf(stderr, "cache_storm: tg_create: %s\n", tg_strerror(rc));
        return 1;
    }
    unsigned workers = tg_worker_count(sched);
    printf("cache storm: %d accounts, %d threads x %d posts on %u worker%s\n",
           ACCOUNTS, SUBMITTERS, STORM_PER_THREAD, workers, workers == 1 ? "" : "s");

    double t0 = now_seconds();
    for (uint32_t a = 0; a < ACCOUNTS; a++) {
        rc = tg_submit(sched, &account_open_op, &a, sizeof a, &open[a]);
        if (rc != TG_OK) {
            fprintf(stderr, "cache_storm: account_open: %s\n", tg_strerror(rc));
            tg_destroy(sched);
            return 1;
        }
    }
    for (int i = 0; i < SUBMITTERS; i++) {
        submitters[i].id = i;
        if (pthread_create(&submitters[i].thread, NULL, storm, &submitters[i]) != 0) {
            fprintf(stderr, "cache_storm: pthread_create failed\n");
            exit(1);
        }
    }
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(submitters[i].thread, NULL);
    /* every key is still held: this is the storm at its height */
    tg_stats(sched, &during);
    atomic_store_explicit(&storm_submitted, 1, memory_order_release);
    rc = tg_wait_idle(sched, -1);
    double t1 = now_seconds();
    if (rc != TG_OK) {
        fprintf(stderr, "cache_storm: tg_wait_idle: %s\n", tg_strerror(rc));
        errors++;
    }

    /* Where did each post run, by its handle? tg_info on an ended token
       also makes the task's writes visible here. */
    for (int i = 0; i < SUBMITTERS; i++) {
        struct submitter *sub = &submitters[i];
        if (sub->rc != TG_OK) {
            fprintf(stderr, "cache_storm: submitter %d: %s\n", i, tg_strerror(sub->rc));
            errors++;
            continue;
        }
        for (int k = 0; k < STORM_PER_THREAD; k++) {
            tg_token_info info;
            uint32_t a = sub->account[k];
            if (tg_info(sched, sub->handle[k], &info) != TG_OK || info.state != TG_COMPLETED ||
                info.core < 0 || info.core >= MAX_CORES) {
                errors++;
            } else {
                info_on[a][info.core]++;
            }
            posted[a]++;
            tg_release(sched, sub->handle[k]);
        }
    }
    for (uint32_t a = 0; a < ACCOUNTS; a++) {
        if (tg_wait(sched, open[a], 0, NULL) != TG_OK)
            errors++;
        tg_release(sched, open[a]);
    }
    tg_stats(sched, &after);

    /* The expected balance of an account: its n posts added 1..97 in turn. */
    printf("\naccount  posts  holds  tasks per core (tg_current_core)  posts per core (tg_info)  balance\n");
    int split = 0;
    for (uint32_t a = 0; a < ACCOUNTS; a++) {
        uint64_t want = 0;
        for (uint64_t p = 0; p < posted[a]; p++)
            want += p % 97 + 1;
        int cores_seen = 0, info_cores = 0, home = -1, same = 1;
        char by_task[96] = "", by_info[96] = "";
        size_t lt = 0, li = 0;
        for (int c = 0; c < MAX_CORES; c++) {
            unsigned n = atomic_load(&ran_on[a][c]);
            if (n) {
                cores_seen++;
                lt += (size_t)snprintf(by_task + lt, sizeof by_task - lt, "%score %d: %u",
                                       lt ? ", " : "", c, n);
                if (home < 0) home = c;
            }
            if (info_on[a][c]) {
                info_cores++;
                li += (size_t)snprintf(by_info + li, sizeof by_info - li, "%score %d: %u",
                                       li ? ", " : "", c, info_on[a][c]);
                if (c != home) same = 0;
            }
        }
        int ok = cores_seen == 1 && info_cores == 1 && same &&
                 accounts[a].balance == want && accounts[a].posts == posted[a] &&
                 accounts[a].opened == 1;
        if (!ok)
            split++;
        printf("%7u  %5llu  %5u  %-32s  %-24s  %llu %s\n", a, (unsigned long long)posted[a],
               atomic_load(&holds[a]), by_task, by_info, (unsigned long long)accounts[a].balance,
               accounts[a].balance == want ? "ok" : "WRONG");
    }

    printf("\nduring the storm: sticky_keys %llu, sticky_overflow %llu\n",
           (unsigned long long)during.sticky_keys, (unsigned long long)during.sticky_overflow);
    printf("afterwards:       sticky_keys %llu (pins released), %llu tokens completed in %.3f s\n",
           (unsigned long long)after.sticky_keys, (unsigned long long)after.completed, t1 - t0);
    printf("per core:        ");
    for (unsigned c = 0; c < after.workers; c++)
        printf(" [%u] ran %llu stole %llu", c, (unsigned long long)after.cores[c].executed,
               (unsigned long long)after.cores[c].stolen);
    printf("\n");
    tg_destroy(sched);

    if (during.sticky_keys != ACCOUNTS || during.sticky_overflow != 0) {
        fprintf(stderr, "cache_storm: %llu keys pinned during the storm, %llu overflowed\n",
                (unsigned long long)during.sticky_keys,
                (unsigned long long)during.sticky_overflow);
        errors++;
    }
    if (after.sticky_keys != 0) {
        fprintf(stderr, "cache_storm: %llu keys still pinned once idle\n",
                (unsigned long long)after.sticky_keys);
        errors++;
    }
    errors += atomic_load(&task_errors);
    if (split == 0 && errors == 0) {
        printf("PASS: one core per key while live\n");
        return 0;
    }
    printf("FAIL: %d account(s) not on exactly one core or with a wrong balance, %d other error(s)\n",
           split, errors);
    return 1;
}
