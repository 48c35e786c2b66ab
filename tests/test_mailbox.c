/* test_mailbox.c - bounded per-core mailboxes: TG_FULL_REJECT refuses,
   TG_FULL_BLOCK waits, and one full mailbox does not stall submissions
   bound for other cores. */
#include "harness.h"

#include <pthread.h>

static atomic_int mb_ran;
static atomic_int mb_core_count[8];

static int mb_count_fn(const void *args, tg_value *result)
{
    int c = tg_current_core();
    (void)args;
    if (c >= 0 && c < 8) atomic_fetch_add(&mb_core_count[c], 1);
    atomic_fetch_add(&mb_ran, 1);
    result->i = c;
    return 0;
}

static const tg_op mb_light_op = { .name = "mb_light", .fn = mb_count_fn,
                                   .weight = TG_LIGHT };
static const tg_op mb_medium_op = { .name = "mb_medium", .fn = mb_count_fn,
                                    .weight = TG_MEDIUM };
static const tg_op mb_heavy_op = { .name = "mb_heavy", .fn = mb_count_fn,
                                   .weight = TG_HEAVY };

static void mb_reset(void)
{
    atomic_store(&mb_ran, 0);
    for (int i = 0; i < 8; i++) atomic_store(&mb_core_count[i], 0);
}

/* One worker held by a gate; its mailbox of `capacity` (rounded up to a power
   of two: `room`) takes exactly `room` tokens, then refuses. */
static void mb_reject_when_full(unsigned capacity, int room)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .mailbox_capacity = capacity,
                      .full_policy = TG_FULL_REJECT };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, t[64], extra;
    int accepted = 0, busy_at = -1;

    mb_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    for (int i = 0; i < 64; i++) {
        int rc = tg_submit(s, &mb_medium_op, NULL, 0, &t[accepted]);
        if (rc == TG_OK) {
            accepted++;
        } else {
            CHECK_RC(rc, TG_EBUSY);
            busy_at = i;
            break;
        }
    }
    CHECK_EQ(accepted, room);
    CHECK_EQ(busy_at, room);
    /* Refused again, detached or not, and nothing was taken. */
    extra.bits = 0xdeadbeef;
    CHECK_RC(tg_submit(s, &mb_medium_op, NULL, 0, &extra), TG_EBUSY);
    CHECK_EQ(extra.bits, 0);
    CHECK_RC(tg_submit(s, &mb_medium_op, NULL, 0, NULL), TG_EBUSY);
    CHECK_EQ(th_stat_slots_in_use(s), (uint64_t)accepted + 1);

    th_gate_open(&g);
    CHECK_RC(tg_wait_all(s, t, (size_t)accepted, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&mb_ran), accepted);
    /* Room again once the worker drained its mailbox. */
    CHECK_RC(tg_submit(s, &mb_medium_op, NULL, 0, &extra), TG_OK);
    CHECK_RC(tg_wait(s, extra, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, extra), TG_OK);
    for (int i = 0; i < accepted; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

TG_TEST(mailbox_reject_when_full_capacity_2)
{
    mb_reject_when_full(2, 2);
}

TG_TEST(mailbox_reject_when_full_capacity_3_rounds_to_4)
{
    mb_reject_when_full(3, 4);
}

typedef struct mb_submitter {
    tg_scheduler *s;
    const tg_op *op;
    int count;
    int retry_busy;
    atomic_int started;
    atomic_int done;
    atomic_int ok;
    tg_token t[128];
} mb_submitter;

static void *mb_submit_main(void *arg)
{
    mb_submitter *m = arg;
    int64_t end = th_now_ns() + 20 * TH_SEC;
    atomic_store(&m->started, 1);
    for (int i = 0; i < m->count; i++) {
        int rc;
        /* Under TG_FULL_REJECT a full mailbox is retried, as a caller would. */
        while ((rc = tg_submit(m->s, m->op, NULL, 0, &m->t[i])) == TG_EBUSY &&
               m->retry_busy && th_now_ns() < end)
            th_sleep_us(100);
        if (rc == TG_OK)
            atomic_fetch_add(&m->ok, 1);
        else
            m->t[i] = TG_TOKEN_NONE;
    }
    atomic_store(&m->done, 1);
    return NULL;
}

static void mb_submitter_init(mb_submitter *m, tg_scheduler *s, const tg_op *op,
                              int count)
{
    m->s = s;
    m->op = op;
    m->count = count;
    m->retry_busy = 0;
    atomic_init(&m->started, 0);
    atomic_init(&m->done, 0);
    atomic_init(&m->ok, 0);
    for (int i = 0; i < 128; i++) m->t[i] = TG_TOKEN_NONE;
}

static int mb_finish(tg_scheduler *s, mb_submitter *m)
{
    int ok = 0;
    for (int i = 0; i < m->count; i++) {
        if (m->t[i].bits == 0) continue;
        if (tg_wait(s, m->t[i], TH_LONG_NS, NULL) == TG_OK) ok++;
        tg_release(s, m->t[i]);
    }
    return ok;
}

TG_TEST(mailbox_block_when_full_then_proceeds)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .mailbox_capacity = 2,
                      .full_policy = TG_FULL_BLOCK };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, t[2];
    mb_submitter m;
    pthread_t th;

    mb_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    for (int i = 0; i < 2; i++)
        REQUIRE(tg_submit(s, &mb_medium_op, NULL, 0, &t[i]) == TG_OK);

    /* A third submission has to wait for room. */
    mb_submitter_init(&m, s, &mb_medium_op, 10);
    REQUIRE(pthread_create(&th, NULL, mb_submit_main, &m) == 0);
    CHECK(TH_WAIT_UNTIL(atomic_load(&m.started), 10000));   /* then it blocks */
    th_sleep_ms(50);
    CHECK_EQ(atomic_load(&m.done), 0);
    CHECK_EQ(atomic_load(&m.ok), 0);
    CHECK_EQ(atomic_load(&mb_ran), 0);

    th_gate_open(&g);
    CHECK(TH_WAIT_UNTIL(atomic_load(&m.done), 20000));
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&m.ok), 10);
    CHECK_EQ(mb_finish(s, &m), 10);
    CHECK_RC(tg_wait_all(s, t, 2, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&mb_ran), 12);
    for (int i = 0; i < 2; i++) CHECK_RC(tg_release(s, t[i]), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

/* strict_routing, 3 workers: LIGHT tokens live on core 2 only. Core 2 is held
   by a gate and its mailbox (capacity 2) is full; one thread is blocked
   submitting a third LIGHT token. MEDIUM (cores 1..2) and HEAVY (0..2)
   tokens must still be admitted and run, on cores 0 and 1, while core 2
   stays blocked. */
static void mb_full_core_does_not_stall_others(int policy)
{
    tg_config cfg = { .workers = 3, .no_pin = 1, .mailbox_capacity = 2,
                      .strict_routing = 1, .full_policy = policy };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, light[2];
    tg_token_info info;
    mb_submitter blocked, medium, heavy;
    pthread_t th_blocked = 0, th_medium, th_heavy;
    int progressed;

    mb_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_light_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    CHECK_RC(tg_info(s, gate_t, &info), TG_OK);
    CHECK_EQ(info.core, 2);
    for (int i = 0; i < 2; i++)
        REQUIRE(tg_submit(s, &mb_light_op, NULL, 0, &light[i]) == TG_OK);

    if (policy == TG_FULL_REJECT) {
        tg_token extra;
        /* Strict: no overflow to another core. */
        CHECK_RC(tg_submit(s, &mb_light_op, NULL, 0, &extra), TG_EBUSY);
    } else {
        mb_submitter_init(&blocked, s, &mb_light_op, 1);
        REQUIRE(pthread_create(&th_blocked, NULL, mb_submit_main, &blocked) == 0);
        CHECK(TH_WAIT_UNTIL(atomic_load(&blocked.started), 10000));
        th_sleep_ms(20);
        CHECK_EQ(atomic_load(&blocked.done), 0);
    }

    mb_submitter_init(&medium, s, &mb_medium_op, 100);
    mb_submitter_init(&heavy, s, &mb_heavy_op, 100);
    medium.retry_busy = heavy.retry_busy = (policy == TG_FULL_REJECT);
    REQUIRE(pthread_create(&th_medium, NULL, mb_submit_main, &medium) == 0);
    REQUIRE(pthread_create(&th_heavy, NULL, mb_submit_main, &heavy) == 0);
    progressed = TH_WAIT_UNTIL(atomic_load(&medium.done) &&
                                   atomic_load(&heavy.done) &&
                                   atomic_load(&mb_ran) >=
                                       atomic_load(&medium.ok) +
                                           atomic_load(&heavy.ok),
                               20000);
    /* Checked before the gate opens: all this happened with core 2 stuck. */
    CHECK(progressed);
    CHECK_EQ(atomic_load(&g.left), 0);
    CHECK_EQ(atomic_load(&mb_core_count[2]), 0);
    CHECK_EQ(atomic_load(&medium.ok), 100);
    CHECK_EQ(atomic_load(&heavy.ok), 100);
    if (policy == TG_FULL_BLOCK) CHECK_EQ(atomic_load(&blocked.done), 0);
    if (!progressed)
        th_note("medium %d/%d heavy %d/%d ran %d", atomic_load(&medium.ok),
                atomic_load(&medium.done), atomic_load(&heavy.ok),
                atomic_load(&heavy.done), atomic_load(&mb_ran));

    th_gate_open(&g);
    pthread_join(th_medium, NULL);
    pthread_join(th_heavy, NULL);
    CHECK_EQ(mb_finish(s, &medium), atomic_load(&medium.ok));
    CHECK_EQ(mb_finish(s, &heavy), atomic_load(&heavy.ok));
    if (policy == TG_FULL_BLOCK) {
        pthread_join(th_blocked, NULL);
        CHECK_EQ(atomic_load(&blocked.ok), 1);
        CHECK_EQ(mb_finish(s, &blocked), 1);
    }
    CHECK_RC(tg_wait_all(s, light, 2, TH_LONG_NS), TG_OK);
    for (int i = 0; i < 2; i++) {
        CHECK_RC(tg_info(s, light[i], &info), TG_OK);
        CHECK_EQ(info.core, 2);
        CHECK_RC(tg_release(s, light[i]), TG_OK);
    }
    CHECK_RC(tg_wait(s, gate_t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

TG_TEST(mailbox_full_core_does_not_stall_others_block)
{
    mb_full_core_does_not_stall_others(TG_FULL_BLOCK);
}

TG_TEST(mailbox_full_core_does_not_stall_others_reject)
{
    mb_full_core_does_not_stall_others(TG_FULL_REJECT);
}

/* Without strict routing, LIGHT tokens whose home core (2 of 3) is stuck
   run elsewhere: they overflow or get stolen. */
TG_TEST(mailbox_home_range_overflows_when_stuck)
{
    tg_config cfg = { .workers = 3, .no_pin = 1, .mailbox_capacity = 2,
                      .full_policy = TG_FULL_BLOCK };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t;
    mb_submitter light;
    pthread_t th;
    int progressed;

    mb_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_light_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));

    mb_submitter_init(&light, s, &mb_light_op, 100);
    REQUIRE(pthread_create(&th, NULL, mb_submit_main, &light) == 0);
    progressed = TH_WAIT_UNTIL(atomic_load(&light.done) &&
                                   atomic_load(&mb_ran) == 100,
                               20000);
    CHECK(progressed);
    CHECK_EQ(atomic_load(&g.left), 0);
    th_gate_open(&g);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&light.ok), 100);
    CHECK_EQ(mb_finish(s, &light), 100);
    CHECK_RC(tg_wait(s, gate_t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, gate_t), TG_OK);
    tg_destroy(s);
}

/* Every worker held (3 gates, 3 workers), mailboxes of 2, TG_FULL_REJECT,
   home ranges: LIGHT tokens fill their home core 2, then overflow to the
   other cores; only when every mailbox is full is a submission refused. */
TG_TEST(mailbox_overflow_only_when_every_mailbox_full)
{
    tg_config cfg = { .workers = 3, .no_pin = 1, .mailbox_capacity = 2,
                      .full_policy = TG_FULL_REJECT };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gates[3], t[64];
    int accepted = 0, rc = TG_OK;

    mb_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 3; i++)
        REQUIRE(th_submit_gate(s, &th_gate_heavy_op, &g, &gates[i]) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 3));
    while (accepted < 64) {
        rc = tg_submit(s, &mb_light_op, NULL, 0, &t[accepted]);
        if (rc != TG_OK) break;
        accepted++;
    }
    CHECK_RC(rc, TG_EBUSY);
    CHECK_EQ(accepted, 6);
    th_gate_open(&g);
    CHECK_RC(tg_wait_all(s, t, (size_t)accepted, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_wait_all(s, gates, 3, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&mb_ran), accepted);
    for (int i = 0; i < accepted; i++) tg_release(s, t[i]);
    for (int i = 0; i < 3; i++) tg_release(s, gates[i]);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

/* strict_routing, 3 workers, TG_FULL_REJECT: core 2 is held and its mailbox
   full. HEAVY tokens (range 0..2) submitted one at a time, each awaited, so
   cores 0 and 1 always have room: none may be refused, even when core 2's
   position counter makes it the first pick. */
TG_TEST(mailbox_strict_full_core_skipped_within_range)
{
    tg_config cfg = { .workers = 3, .no_pin = 1, .mailbox_capacity = 2,
                      .strict_routing = 1, .full_policy = TG_FULL_REJECT };
    tg_scheduler *s = NULL;
    th_gate g;
    tg_token gate_t, light[2], extra;
    int accepted = 0, completed = 0, first_rc = TG_OK;

    mb_reset();
    th_gate_init(&g, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(th_submit_gate(s, &th_gate_light_op, &g, &gate_t) == TG_OK);
    CHECK(th_gate_wait_entered(&g, 1));
    for (int i = 0; i < 2; i++)
        REQUIRE(tg_submit(s, &mb_light_op, NULL, 0, &light[i]) == TG_OK);
    CHECK_RC(tg_submit(s, &mb_light_op, NULL, 0, &extra), TG_EBUSY);

    for (int i = 0; i < 200; i++) {
        tg_token t;
        int rc = tg_submit(s, &mb_heavy_op, NULL, 0, &t);
        if (rc != TG_OK) {
            if (first_rc == TG_OK) first_rc = rc;
            continue;
        }
        accepted++;
        if (tg_wait(s, t, TH_LONG_NS, NULL) == TG_OK) completed++;
        tg_release(s, t);
    }
    CHECK_EQ(accepted, 200);
    CHECK_EQ(completed, 200);
    CHECK_RC(first_rc, TG_OK);
    CHECK_EQ(atomic_load(&mb_core_count[2]), 0);
    th_gate_open(&g);
    CHECK_RC(tg_wait_all(s, light, 2, TH_LONG_NS), TG_OK);
    for (int i = 0; i < 2; i++) tg_release(s, light[i]);
    CHECK_RC(tg_wait(s, gate_t, TH_LONG_NS, NULL), TG_OK);
    tg_release(s, gate_t);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}
