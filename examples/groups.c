/* groups.c - structured concurrency with tg_group_*.

   1. A parallel quicksort: each call partitions its range, puts the two
      halves into a group of its own as tokens, and waits for the group.
      Groups nest (a member makes its own group), and the wait runs the
      halves beneath itself, so one worker is enough. Checked: the array
      is sorted and holds the same numbers.
   2. A search with a cancel: members scan blocks of an array for a value;
      the one that finds it cancels the group, and the blocks not started
      by then never start (their tokens end KILLED). Checked: the position
      found holds the value, and fewer blocks ran than were submitted.

   Build: cc -O2 -pthread examples/groups.c -o groups */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define N        (1 << 20)
#define CUTOFF   2048         /* below it, a range is sorted in place */
#define BLOCKS   256

/* ----------------------------------------------------------- quicksort */

struct range { int *a; long lo, hi; };   /* [lo, hi) */

static int sort_task(const void *args, tg_value *result);
static const tg_op sort_op = { .name = "sort", .fn = sort_task };

static void insertion_sort(int *a, long lo, long hi)
{
    for (long i = lo + 1; i < hi; i++) {
        int v = a[i];
        long j = i - 1;
        while (j >= lo && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
}

static long partition(int *a, long lo, long hi)
{
    int pivot = a[lo + (hi - lo) / 2];
    long i = lo - 1, j = hi;
    for (;;) {
        do i++; while (a[i] < pivot);
        do j--; while (a[j] > pivot);
        if (i >= j) return j + 1;
        int t = a[i]; a[i] = a[j]; a[j] = t;
    }
}

static int sort_task(const void *args, tg_value *result)
{
    struct range r = *(const struct range *)args;
    result->i = 0;
    if (r.hi - r.lo <= CUTOFF) {
        insertion_sort(r.a, r.lo, r.hi);
        return 0;
    }
    long mid = partition(r.a, r.lo, r.hi);
    struct range half[2] = { { r.a, r.lo, mid }, { r.a, mid, r.hi } };
    tg_group *g;
    if (tg_group_create(tg_current_scheduler(), &g) != TG_OK) return 1;
    int rc = TG_OK;
    for (int i = 0; i < 2 && rc == TG_OK; i++)
        rc = tg_group_submit(g, &sort_op, &half[i], sizeof half[i], NULL);
    int waited = tg_group_wait(g, -1);   /* both halves, and all below them */
    tg_group_destroy(g);
    return rc != TG_OK || waited != TG_OK;
}

static int sort_demo(tg_scheduler *s)
{
    int *a = malloc(sizeof(int) * N);
    if (!a) return 0;
    unsigned long long x = 88172645463325252ull, sum = 0, sorted_sum = 0;
    for (long i = 0; i < N; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        a[i] = (int)(x % 1000000);
        sum += (unsigned long long)a[i];
    }
    tg_group *g;
    if (tg_group_create(s, &g) != TG_OK) return 0;
    struct range all = { a, 0, N };
    int rc = tg_group_submit(g, &sort_op, &all, sizeof all, NULL);
    if (rc == TG_OK) rc = tg_group_wait(g, -1);
    tg_group_destroy(g);
    int ok = rc == TG_OK;
    for (long i = 0; i < N; i++) {
        sorted_sum += (unsigned long long)a[i];
        if (i && a[i - 1] > a[i]) ok = 0;
    }
    ok = ok && sum == sorted_sum;
    printf("quicksort of %d numbers on %u workers: %s\n", N, tg_worker_count(s), ok ? "sorted" : "WRONG");
    free(a);
    return ok;
}

/* --------------------------------------------------- search and cancel */

struct block { const int *a; long lo, hi; int want; tg_group *g; atomic_long *found; };

static atomic_int blocks_run;

static int search_task(const void *args, tg_value *result)
{
    const struct block *b = (const struct block *)args;
    atomic_fetch_add(&blocks_run, 1);
    result->i = -1;
    for (long i = b->lo; i < b->hi; i++) {
        if ((i & 1023) == 0 && tg_should_stop()) return 0;   /* another block found it */
        if (b->a[i] == b->want) {
            long none = -1;
            if (atomic_compare_exchange_strong(b->found, &none, i)) tg_group_cancel(b->g);
            result->i = i;
            return 0;
        }
    }
    return 0;
}

static const tg_op search_op = { .name = "search", .fn = search_task };

static int search_demo(tg_scheduler *s)
{
    int *a = malloc(sizeof(int) * N);
    if (!a) return 0;
    for (long i = 0; i < N; i++) a[i] = (int)(i % 1000003);
    a[N / 8 + 12345] = -7;   /* the one to find, in an early block */
    atomic_long found = -1;
    atomic_store(&blocks_run, 0);
    tg_group *g;
    if (tg_group_create(s, &g) != TG_OK) return 0;
    long per = N / BLOCKS;
    int submitted = 0;
    for (int k = 0; k < BLOCKS; k++) {
        struct block b = { a, k * per, (k + 1) * per, -7, g, &found };
        if (tg_group_submit(g, &search_op, &b, sizeof b, NULL) == TG_OK) submitted++;
    }
    int rc = tg_group_wait(g, -1);   /* TG_EKILLED: the cancel stopped some */
    tg_group_destroy(g);
    long at = atomic_load(&found);
    int ran = atomic_load(&blocks_run);
    int ok = at >= 0 && a[at] == -7 && ran <= submitted && (rc == TG_OK || rc == TG_EKILLED);
    printf("search: found at %ld after %d of %d blocks ran (group wait: %s): %s\n", at, ran, submitted,
           tg_strerror(rc), ok ? "ok" : "WRONG");
    free(a);
    return ok;
}

int main(void)
{
    int ok = 1;
    for (int workers = 1; workers <= 2; workers++) {
        tg_config cfg = { .workers = workers == 1 ? 1u : 0u };
        tg_scheduler *s;
        if (tg_create(&cfg, &s) != TG_OK) return 1;
        ok &= sort_demo(s);
        ok &= search_demo(s);
        tg_destroy(s);
    }
    return ok ? 0 : 1;
}
