/* test_chains.c - a domain stopped as a unit: tg_kill of a lead kills its
   unstarted members and asks running ones to stop, while members keep
   spawning; after the lead ended too; a member's kill stays its own; a
   nested lead heads a domain of its own; an entry reused after a kill
   starts clean; stale handles. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static const char *const ch_calls[] = { "db.read", NULL };

/* ------------------------------------------ a lead killed while spawning */

/* Every member spawns three more (inheriting the domain) down to depth 6
   and then runs a while; the lead runs (in a blocking section, its core
   handed to a spare for its members) until asked to stop. Once tg_kill
   of the lead has returned, no member's function may begin without
   tg_should_stop() set, and every member ends once. */
static atomic_int ch_killed;        /* tg_kill of the lead has returned */
static atomic_int ch_late_starts;   /* began after it, not asked to stop */
static atomic_int ch_lead_stopped;
static atomic_long ch_runs, ch_submitted;

static int ch_member_fn(const void *args, tg_value *result);
static const tg_op ch_member_op = { .name = "ch_member", .fn = ch_member_fn };

static int ch_spawn(int depth)
{
    int next = depth + 1;
    for (int i = 0; i < 3; i++) {
        int rc = tg_submit(tg_current_scheduler(), &ch_member_op, &next, sizeof next, NULL);
        if (rc != TG_OK) return 1;
        atomic_fetch_add(&ch_submitted, 1);
    }
    return 0;
}

static int ch_member_fn(const void *args, tg_value *result)
{
    int depth = *(const int *)args;
    if (atomic_load(&ch_killed) && !tg_should_stop()) atomic_fetch_add(&ch_late_starts, 1);
    atomic_fetch_add(&ch_runs, 1);
    if (depth < 6 && ch_spawn(depth)) return 1;
    for (int i = 0; i < 20 && !tg_should_stop(); i++) th_sleep_us(100);
    result->i = 0;
    return 0;
}

static int ch_lead_fn(const void *args, tg_value *result)
{
    (void)args;
    if (ch_spawn(0)) return 1;
    /* members run on the lead's core: a blocking section hands it on */
    if (tg_blocking_begin() != TG_OK) return 1;
    int64_t end = th_now_ns() + 30 * TH_SEC;
    while (!tg_should_stop() && th_now_ns() < end) th_sleep_us(100);
    if (tg_should_stop()) atomic_fetch_add(&ch_lead_stopped, 1);
    tg_blocking_end();
    result->i = 0;
    return 0;
}

static const tg_op ch_lead_op = { .name = "ch_lead", .fn = ch_lead_fn, .external_calls = ch_calls };

static void ch_reset(void)
{
    atomic_store(&ch_killed, 0);
    atomic_store(&ch_late_starts, 0);
    atomic_store(&ch_lead_stopped, 0);
    atomic_store(&ch_runs, 0);
    atomic_store(&ch_submitted, 0);
}

TG_TEST(chains_kill_lead_while_members_spawn)
{
    for (int workers = 1; workers <= 3; workers++) {
        tg_scheduler *s = th_sched(workers);
        ch_reset();
        tg_token lead;
        REQUIRE(tg_submit(s, &ch_lead_op, NULL, 0, &lead) == TG_OK);
        REQUIRE(TH_WAIT_UNTIL(atomic_load(&ch_runs) >= 20, 30000));
        CHECK_RC(tg_kill(s, lead), TG_OK);
        atomic_store(&ch_killed, 1);
        CHECK_RC(tg_wait(s, lead, TH_LONG_NS, NULL), TG_EKILLED);
        CHECK_EQ(atomic_load(&ch_lead_stopped), 1);
        CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
        CHECK_EQ(atomic_load(&ch_late_starts), 0);
        /* every submission ended once: by a run or by the kill */
        struct tg_stats st2;
        CHECK_RC(tg_stats(s, &st2), TG_OK);
        CHECK_EQ(st2.live, 0);
        CHECK_EQ(st2.domains_open, 0);
        long members = atomic_load(&ch_submitted);
        CHECK_EQ(st2.completed + st2.killed, (uint64_t)members + 1);
        CHECK(st2.killed >= 1);
        CHECK(atomic_load(&ch_runs) <= members);
        CHECK(members < 1092);   /* the kill cut the tree short */
        CHECK_RC(tg_release(s, lead), TG_OK);
        TH_FINISH(s);
    }
}

/* ------------------------------------ the lead has ended, members live */

static th_gate ch_gate;
static int ch_gated_fn(const void *args, tg_value *result)
{
    (void)args;
    const th_gate *g = &ch_gate;
    return th_gate_fn(&g, result);
}
static const tg_op ch_gated_op = { .name = "ch_gated", .fn = ch_gated_fn };

static int ch_short_lead_fn(const void *args, tg_value *result)
{
    int n = *(const int *)args;
    for (int i = 0; i < n; i++)
        if (tg_submit(tg_current_scheduler(), &ch_gated_op, NULL, 0, NULL) != TG_OK) return 1;
    result->i = n;
    return 0;
}
static const tg_op ch_short_lead_op = { .name = "ch_short_lead", .fn = ch_short_lead_fn,
                                        .external_calls = ch_calls };

TG_TEST(chains_kill_of_an_ended_lead_still_kills_its_members)
{
    for (int workers = 1; workers <= 2; workers++) {
        tg_scheduler *s = th_sched(workers);
        th_gate_init(&ch_gate, 1);
        int n = 6;
        tg_token lead;
        REQUIRE(tg_submit(s, &ch_short_lead_op, &n, sizeof n, &lead) == TG_OK);
        tg_state st;
        CHECK_RC(tg_wait(s, lead, TH_LONG_NS, NULL), TG_OK);
        /* all on the lead's core: one runs, the others wait in its queue */
        REQUIRE(th_gate_wait_entered(&ch_gate, 1));
        CHECK_RC(tg_kill(s, lead), TG_OK);
        CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
        CHECK_RC(tg_poll(s, lead, &st), TG_OK);
        CHECK_EQ(st, TG_COMPLETED);   /* an ended token stays as it ended */
        CHECK_EQ(atomic_load(&ch_gate.stopped), 1);
        CHECK_EQ(atomic_load(&ch_gate.entered), 1);
        CHECK_EQ(atomic_load(&ch_gate.expired), 0);
        struct tg_stats ss;
        CHECK_RC(tg_stats(s, &ss), TG_OK);
        CHECK_EQ(ss.killed, (uint64_t)n);
        CHECK_EQ(ss.completed, 1);
        CHECK_RC(tg_release(s, lead), TG_OK);
        TH_FINISH(s);
    }
}

/* ------------------------------------------ a member's kill is its own */

static tg_token ch_first_member;
static int ch_hold_lead_fn(const void *args, tg_value *result)
{
    int n = *(const int *)args;
    for (int i = 0; i < n; i++) {
        tg_token t;
        if (tg_submit(tg_current_scheduler(), &ch_gated_op, NULL, 0, i ? NULL : &t) != TG_OK) return 1;
        if (!i) ch_first_member = t;
    }
    result->i = n;
    return 0;
}
static const tg_op ch_hold_lead_op = { .name = "ch_hold_lead", .fn = ch_hold_lead_fn,
                                       .external_calls = ch_calls };

TG_TEST(chains_kill_of_a_member_kills_that_member_only)
{
    tg_scheduler *s = th_sched(2);
    th_gate_init(&ch_gate, 1);
    int n = 5;
    tg_token lead;
    REQUIRE(tg_submit(s, &ch_hold_lead_op, &n, sizeof n, &lead) == TG_OK);
    CHECK_RC(tg_wait(s, lead, TH_LONG_NS, NULL), TG_OK);
    REQUIRE(th_gate_wait_entered(&ch_gate, 1));
    CHECK_RC(tg_kill(s, ch_first_member), TG_OK);
    CHECK_RC(tg_wait(s, ch_first_member, TH_LONG_NS, NULL), TG_EKILLED);
    th_gate_open(&ch_gate);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    struct tg_stats ss;
    CHECK_RC(tg_stats(s, &ss), TG_OK);
    CHECK_EQ(ss.killed, 1);
    CHECK_EQ(ss.completed, (uint64_t)n);   /* the lead and n - 1 members */
    CHECK_RC(tg_release(s, ch_first_member), TG_OK);
    CHECK_RC(tg_release(s, lead), TG_OK);
    TH_FINISH(s);
}

/* ---------------------------------------- a nested lead is its own chain */

static atomic_int ch_inner_stopped;
static int ch_inner_fn(const void *args, tg_value *result)
{
    (void)args;
    /* runs until the outer chain is surely killed, then says if it was asked */
    if (!TH_WAIT_UNTIL(atomic_load(&ch_killed), 30000)) return 1;
    th_sleep_ms(5);
    if (tg_should_stop()) atomic_fetch_add(&ch_inner_stopped, 1);
    result->i = 1;
    return 0;
}
static const char *const ch_inner_calls[] = { "kv.get", NULL };
static const tg_op ch_inner_op = { .name = "ch_inner", .fn = ch_inner_fn, .external_calls = ch_inner_calls };

static tg_token ch_inner;
static int ch_outer_fn(const void *args, tg_value *result)
{
    (void)args;
    if (tg_submit(tg_current_scheduler(), &ch_inner_op, NULL, 0, &ch_inner) != TG_OK) return 1;
    result->i = 0;
    return 0;
}
static const tg_op ch_outer_op = { .name = "ch_outer", .fn = ch_outer_fn, .external_calls = ch_calls };

TG_TEST(chains_a_nested_lead_heads_its_own_domain)
{
    tg_scheduler *s = th_sched(2);
    ch_reset();
    atomic_store(&ch_inner_stopped, 0);
    ch_inner = TG_TOKEN_NONE;
    tg_token outer;
    REQUIRE(tg_submit(s, &ch_outer_op, NULL, 0, &outer) == TG_OK);
    /* the outer lead has ended; the inner one (on its core) runs */
    CHECK_RC(tg_wait(s, outer, TH_LONG_NS, NULL), TG_OK);
    tg_state st = TG_CREATED;
    REQUIRE(TH_WAIT_UNTIL(tg_poll(s, ch_inner, &st) == TG_OK && st == TG_EXECUTING, 30000));
    CHECK_RC(tg_kill(s, outer), TG_OK);
    atomic_store(&ch_killed, 1);
    CHECK_RC(tg_wait(s, ch_inner, TH_LONG_NS, NULL), TG_OK);
    CHECK_EQ(atomic_load(&ch_inner_stopped), 0);
    CHECK_RC(tg_release(s, ch_inner), TG_OK);
    CHECK_RC(tg_release(s, outer), TG_OK);
    TH_FINISH(s);
}

/* ---------------------------------------- an entry reused after a kill */

/* One domain entry: the killed domain's entry, once free, serves the next
   lead, whose members run. */
TG_TEST(chains_an_entry_reused_after_a_kill_starts_clean)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .max_domains = 1 };
    tg_scheduler *s;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    th_gate_init(&ch_gate, 1);
    int n = 4;
    tg_token lead;
    REQUIRE(tg_submit(s, &ch_short_lead_op, &n, sizeof n, &lead) == TG_OK);
    CHECK_RC(tg_wait(s, lead, TH_LONG_NS, NULL), TG_OK);
    REQUIRE(th_gate_wait_entered(&ch_gate, 1));
    CHECK_RC(tg_kill(s, lead), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_release(s, lead), TG_OK);   /* the entry's last ref goes */
    struct tg_stats ss;
    CHECK_RC(tg_stats(s, &ss), TG_OK);
    CHECK_EQ(ss.killed, (uint64_t)n);
    th_gate_init(&ch_gate, 1);
    th_gate_open(&ch_gate);
    REQUIRE(tg_submit(s, &ch_short_lead_op, &n, sizeof n, &lead) == TG_OK);
    CHECK_RC(tg_wait(s, lead, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    tg_token_info info;
    CHECK_RC(tg_info(s, lead, &info), TG_OK);
    CHECK(info.seed[0] != '\0');   /* it did get the entry */
    CHECK_RC(tg_stats(s, &ss), TG_OK);
    CHECK_EQ(ss.killed, (uint64_t)n);   /* no more */
    CHECK_EQ(ss.domain_overflow, 0);
    CHECK_EQ(atomic_load(&ch_gate.left), n);
    CHECK_RC(tg_release(s, lead), TG_OK);
    TH_FINISH(s);
}

/* ------------------------------------------------------------ bad input */

TG_TEST(chains_kill_of_a_stale_or_forged_lead_is_refused)
{
    tg_scheduler *s = th_sched(1);
    th_gate_init(&ch_gate, 1);
    th_gate_open(&ch_gate);
    int n = 2;
    tg_token lead;
    REQUIRE(tg_submit(s, &ch_short_lead_op, &n, sizeof n, &lead) == TG_OK);
    CHECK_RC(tg_wait(s, lead, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_release(s, lead), TG_OK);
    CHECK_RC(tg_kill(s, lead), TG_ESTALE);
    tg_token forged = { lead.bits ^ 0x5a5a000000000000ull };
    int rc = tg_kill(s, forged);
    CHECK(rc == TG_ESTALE || rc == TG_EINVAL);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    struct tg_stats ss;
    CHECK_RC(tg_stats(s, &ss), TG_OK);
    CHECK_EQ(ss.killed, 0);
    CHECK_EQ(ss.completed, (uint64_t)n + 1);
    TH_FINISH(s);
}

/* ---------------------------------------- slots of killed queued tokens */

/* A token killed while queued ends at once; its slot comes back when the
   worker reaches its queue entry (README: max_tokens). While the one
   worker is held, the killed tokens' slots stay out; once it goes on,
   every slot comes back without any further call. */
TG_TEST(chains_killed_queued_tokens_give_their_slots_back_when_reached)
{
    tg_scheduler *s = th_sched(1);
    th_gate gate;
    th_gate_init(&gate, 0);
    tg_token held;
    REQUIRE(th_submit_gate(s, &th_gate_op, &gate, &held) == TG_OK);
    REQUIRE(th_gate_wait_entered(&gate, 1));
    enum { N = 100 };
    tg_token t[N];
    for (int i = 0; i < N; i++) REQUIRE(tg_submit(s, &th_nop_op, NULL, 0, &t[i]) == TG_OK);
    for (int i = 0; i < N; i++) CHECK_RC(tg_kill(s, t[i]), TG_OK);
    for (int i = 0; i < N; i++) CHECK_RC(tg_wait_release(s, t[i], 0, NULL), TG_EKILLED);
    CHECK_EQ(th_stat_live(s), 1);
    CHECK_EQ(th_stat_slots_in_use(s), 1 + N);   /* the queue still names them */
    th_gate_open(&gate);
    CHECK_RC(tg_wait_release(s, held, TH_LONG_NS, NULL), TG_OK);
    CHECK(TH_WAIT_UNTIL(th_stat_slots_in_use(s) == 0, 10000));
    TH_FINISH(s);
}
