/* event_loop.c - a single-threaded poll() loop drives a three-stage pipeline
   through the completion fd.

   Every item is a text record "rec:<index>:<value>" and goes through
       stage 1  parse      (TG_LIGHT)   text  -> value, fails on a bad record
       stage 2  transform  (TG_MEDIUM)  value -> 64-bit mixed value
       stage 3  checksum   (TG_HEAVY)   (index, value) -> checksum
   Each stage is a TG_OP_NOTIFY operation, so its ended tokens are reported on
   tg_completion_fd. The loop blocks only in poll(); when the fd is readable it
   drains the ended tokens with tg_completions, reads each outcome with a
   non-blocking tg_wait(..., 0, ...), and submits the item's next stage. This
   is the C form of an async orchestrator awaiting tokens: the loop stays
   single-threaded and never waits on a token, the work stays plain
   synchronous functions that receive copies of their arguments.

   Every 997th record is malformed; its parse fails with code 22 and the loop
   counts it. At the end the loop checks every item against a serial run and
   exits non-zero on any difference. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ITEMS       20000
#define IN_FLIGHT   256   /* items in the pipeline at once */
#define BAD_EVERY   997   /* every BAD_EVERY-th record is malformed */
#define PARSE_ERROR 22    /* failure code of a malformed record */

/* ------------------------------------------------------------- the work */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

struct record { char text[32]; };

static int parse_record(const struct record *r, int64_t *value)
{
    const char *p = r->text;
    if (strncmp(p, "rec:", 4) != 0)
        return PARSE_ERROR;
    p = strchr(p + 4, ':');
    if (p == NULL || p[1] < '0' || p[1] > '9')
        return PARSE_ERROR;
    int64_t v = 0;
    for (p++; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    if (*p != '\0')
        return PARSE_ERROR;
    *value = v;
    return 0;
}

static uint64_t transform_value(int64_t value)
{
    uint64_t x = (uint64_t)value;
    for (int round = 0; round < 64; round++)
        x = mix64(x + (uint64_t)round);
    return x;
}

struct checksum_args { uint32_t index; uint64_t value; };

static uint64_t checksum_of(const struct checksum_args *a)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ a->index;
    for (int round = 0; round < 256; round++)
        h = mix64(h ^ a->value);
    return h;
}

/* The tasks: arguments in, one value out, 0 for success. */
static int stage_parse(const void *args, tg_value *result)
{
    int64_t value;
    int rc = parse_record(args, &value);
    if (rc != 0)
        return rc;             /* the token ends FAILED, failure_code rc */
    result->i = value;
    return 0;
}

static int stage_transform(const void *args, tg_value *result)
{
    result->u = transform_value(*(const int64_t *)args);
    return 0;
}

static int stage_checksum(const void *args, tg_value *result)
{
    result->u = checksum_of(args);
    return 0;
}

static const tg_op parse_op = { .name = "parse", .fn = stage_parse,
    .weight = TG_LIGHT, .flags = TG_OP_NOTIFY };
static const tg_op transform_op = { .name = "transform", .fn = stage_transform,
    .weight = TG_MEDIUM, .flags = TG_OP_NOTIFY };
static const tg_op checksum_op = { .name = "checksum", .fn = stage_checksum,
    .weight = TG_HEAVY, .flags = TG_OP_NOTIFY };

/* ------------------------------------------------------- the loop's state */

struct item {
    int stage;              /* stage now running: 1, 2, 3; 4 = done */
    int failure_code;       /* nonzero: the parse failed */
    int64_t value;          /* stage 1 result */
    uint64_t transformed;   /* stage 2 result */
    uint64_t checksum;      /* stage 3 result */
};

static struct item items[ITEMS];

static void make_record(uint32_t index, struct record *r)
{
    long long value = (long long)(index * 7919u % 100003u) + 1;
    memset(r, 0, sizeof *r);
    if (index % BAD_EVERY == BAD_EVERY - 1)
        snprintf(r->text, sizeof r->text, "rec:%u:x%lld", index, value);
    else
        snprintf(r->text, sizeof r->text, "rec:%u:%lld", index, value);
}

/* Which item a pending token belongs to: a small open-addressing map from
   handle to item index, the loop's equivalent of "future -> request". */
#define MAP_SIZE 1024   /* power of two, more than twice IN_FLIGHT */
static struct { uint64_t key; uint32_t item; } pending[MAP_SIZE];

static size_t map_home(uint64_t key) { return (size_t)mix64(key) & (MAP_SIZE - 1); }

static void map_put(tg_token t, uint32_t item)
{
    size_t i = map_home(t.bits);
    while (pending[i].key != 0)
        i = (i + 1) & (MAP_SIZE - 1);
    pending[i].key = t.bits;
    pending[i].item = item;
}

static int map_take(tg_token t, uint32_t *item)
{
    size_t i = map_home(t.bits);
    while (pending[i].key != t.bits) {
        if (pending[i].key == 0)
            return 0;
        i = (i + 1) & (MAP_SIZE - 1);
    }
    *item = pending[i].item;
    /* Backward-shift deletion keeps every probe chain unbroken. */
    for (size_t j = (i + 1) & (MAP_SIZE - 1); pending[j].key != 0;
         j = (j + 1) & (MAP_SIZE - 1)) {
        size_t home = map_home(pending[j].key);
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            pending[i] = pending[j];
            i = j;
        }
    }
    pending[i].key = 0;
    return 1;
}

/* --------------------------------------------------------------- the loop */

static tg_scheduler *sched;
static uint32_t next_item, items_done, items_in_flight;
static uint64_t completions_by_stage[4];

static void fail(const char *what, int rc)
{
    fprintf(stderr, "event_loop: %s: %s\n", what, tg_strerror(rc));
    exit(1);
}

/* Submits stage `stage` of item i. With at most IN_FLIGHT items in the
   pipeline, far below the mailbox capacity, tg_submit never has to wait. */
static void submit_stage(uint32_t i, int stage)
{
    tg_token t;
    int rc;
    items[i].stage = stage;
    if (stage == 1) {
        struct record r;
        make_record(i, &r);
        rc = tg_submit(sched, &parse_op, &r, sizeof r, &t);
    } else if (stage == 2) {
        rc = tg_submit(sched, &transform_op, &items[i].value,
                       sizeof items[i].value, &t);
    } else {
        struct checksum_args a = { .index = i, .value = items[i].transformed };
        rc = tg_submit(sched, &checksum_op, &a, sizeof a, &t);
    }
    if (rc != TG_OK)
        fail("tg_submit", rc);
    map_put(t, i);
}

static void start_items(void)
{
    while (items_in_flight < IN_FLIGHT && next_item < ITEMS) {
        submit_stage(next_item++, 1);
        items_in_flight++;
    }
}

static void finish_item(uint32_t i)
{
    items[i].stage = 4;
    items_done++;
    items_in_flight--;
}

/* One ended token: read its outcome, advance its item, release it. */
static void on_completion(tg_token t)
{
    uint32_t i;
    tg_value v;
    if (!map_take(t, &i)) {
        fprintf(stderr, "event_loop: completion of an unknown token\n");
        exit(1);
    }
    int stage = items[i].stage;
    completions_by_stage[stage]++;
    int rc = tg_wait(sched, t, 0, &v);   /* terminal already: never waits */
    if (rc == TG_OK) {
        if (stage == 1)
            items[i].value = v.i;
        else if (stage == 2)
            items[i].transformed = v.u;
        else
            items[i].checksum = v.u;
        if (stage < 3)
            submit_stage(i, stage + 1);
        else
            finish_item(i);
    } else if (rc == TG_EFAILED) {
        tg_token_info info;
        if ((rc = tg_info(sched, t, &info)) != TG_OK)
            fail("tg_info", rc);
        items[i].failure_code = info.failure_code;
        finish_item(i);
    } else {
        fail("outcome of a completed token", rc);
    }
    if ((rc = tg_release(sched, t)) != TG_OK)
        fail("tg_release", rc);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
    int rc = tg_create(NULL, &sched);
    if (rc != TG_OK)
        fail("tg_create", rc);
    int fd = tg_completion_fd(sched);
    if (fd < 0)
        fail("tg_completion_fd", fd);

    printf("event loop: %d items x 3 stages on %u workers, "
           "at most %d items in flight\n", ITEMS, tg_worker_count(sched),
           IN_FLIGHT);

    double t0 = now_seconds();
    uint64_t wakeups = 0, batches = 0, largest_batch = 0;
    start_items();
    while (items_done < ITEMS) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int ready = poll(&p, 1, 10000);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0) {
            perror("poll");
            return 1;
        }
        if (ready == 0) {
            fprintf(stderr, "event_loop: no completion for 10 s\n");
            return 1;
        }
        wakeups++;

        /* Reset the eventfd first, then drain: a token that ends after the
           drain makes the fd readable again, so none is missed. */
        uint64_t counter;
        if (read(fd, &counter, sizeof counter) < 0 && errno != EAGAIN) {
            perror("read");
            return 1;
        }
        tg_token ended[64];
        size_t n;
        while ((n = tg_completions(sched, ended, 64)) > 0) {
            batches++;
            if (n > largest_batch)
                largest_batch = n;
            for (size_t k = 0; k < n; k++)
                on_completion(ended[k]);
        }
        start_items();
    }
    double elapsed = now_seconds() - t0;
    tg_destroy(sched);

    /* Check every item against a serial run of the same functions. */
    uint64_t total = 0, expected_total = 0;
    uint32_t failed = 0, expected_failed = 0, wrong = 0;
    for (uint32_t i = 0; i < ITEMS; i++) {
        struct record r;
        int64_t value;
        make_record(i, &r);
        if (parse_record(&r, &value) != 0) {
            expected_failed++;
            if (items[i].failure_code != PARSE_ERROR)
                wrong++;
        } else {
            struct checksum_args a = { .index = i,
                                       .value = transform_value(value) };
            uint64_t sum = checksum_of(&a);
            expected_total += sum;
            if (items[i].failure_code != 0 || items[i].checksum != sum)
                wrong++;
        }
        if (items[i].failure_code != 0)
            failed++;
        else
            total += items[i].checksum;
    }

    printf("  completions    %llu (parse %llu, transform %llu, checksum %llu)\n",
           (unsigned long long)(completions_by_stage[1] +
                                completions_by_stage[2] +
                                completions_by_stage[3]),
           (unsigned long long)completions_by_stage[1],
           (unsigned long long)completions_by_stage[2],
           (unsigned long long)completions_by_stage[3]);
    printf("  failed parses  %u (expected %u, failure code %d)\n",
           failed, expected_failed, PARSE_ERROR);
    printf("  poll wakeups   %llu, %llu drained batches, largest %llu\n",
           (unsigned long long)wakeups, (unsigned long long)batches,
           (unsigned long long)largest_batch);
    printf("  checksum       %016llx (expected %016llx)\n",
           (unsigned long long)total, (unsigned long long)expected_total);
    printf("  wall time      %.3f s, %.0f tokens/s\n", elapsed,
           (double)(completions_by_stage[1] + completions_by_stage[2] +
                    completions_by_stage[3]) / elapsed);

    if (wrong != 0 || failed != expected_failed || total != expected_total) {
        printf("  result         WRONG (%u items differ)\n", wrong);
        return 1;
    }
    printf("  result         OK\n");
    return 0;
}
