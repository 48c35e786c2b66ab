/* test_locality.c - the sticky registry and the hash conductor (sections 11
   and 12 of tokengate.h): leads, children and grandchildren on their lead's
   core for 1..4 workers, the seed's canonical form, sticky keys under a
   storm from two threads, pins never stolen, full pinned mailboxes, bounded
   tables, and a token that is both sticky and a lead. */
#include "harness.h"

#include <pthread.h>

/* ------------------------------------------------------------- conductor */

#define LOC_LEADS 3
#define LOC_KIDS 4
#define LOC_GRANDKIDS 2

typedef struct loc_node {
    int lead, kid, grandkid;   /* kid / grandkid -1 above that level */
} loc_node;

static tg_scheduler *loc_s;
static atomic_int loc_core[LOC_LEADS][1 + LOC_KIDS * (1 + LOC_GRANDKIDS)];
static char loc_seed[LOC_LEADS][1 + LOC_KIDS * (1 + LOC_GRANDKIDS)][65];
static atomic_int loc_errors;

static int loc_node_fn(const void *args, tg_value *result);

static const char *const loc_calls[] = { "kv.get", "db.read", "kv.get", "cache.put", NULL };
static const tg_op loc_lead_op = { .name = "lead", .fn = loc_node_fn, .weight = TG_HEAVY,
                                   .external_calls = loc_calls };
static const tg_op loc_child_op = { .name = "child", .fn = loc_node_fn, .weight = TG_LIGHT };

static int loc_pos(const loc_node *n)
{
    if (n->kid < 0) return 0;
    return 1 + n->kid * (1 + LOC_GRANDKIDS) + (n->grandkid < 0 ? 0 : 1 + n->grandkid);
}

/* Records where it ran and its seed, then submits its children (children
   of a lead: LOC_KIDS; of a kid: LOC_GRANDKIDS) and waits for them. */
static int loc_node_fn(const void *args, tg_value *result)
{
    const loc_node *n = args;
    tg_token_info info;
    int pos = loc_pos(n);
    (void)result;
    atomic_store(&loc_core[n->lead][pos], tg_current_core());
    if (tg_info(loc_s, tg_self(), &info) != TG_OK) atomic_fetch_add(&loc_errors, 1);
    else memcpy(loc_seed[n->lead][pos], info.seed, sizeof info.seed);
    if (n->grandkid >= 0) return 0;
    int count = n->kid < 0 ? LOC_KIDS : LOC_GRANDKIDS;
    tg_token t[LOC_KIDS];
    for (int i = 0; i < count; i++) {
        loc_node c = *n;
        if (n->kid < 0) c.kid = i;
        else c.grandkid = i;
        if (tg_submit(loc_s, &loc_child_op, &c, sizeof c, &t[i]) != TG_OK) {
            atomic_fetch_add(&loc_errors, 1);
            t[i] = TG_TOKEN_NONE;
        }
    }
    for (int i = 0; i < count; i++) {
        if (t[i].bits == 0) continue;
        if (tg_wait(loc_s, t[i], -1, NULL) != TG_OK) atomic_fetch_add(&loc_errors, 1);
        tg_release(loc_s, t[i]);
    }
    return 0;
}

static void loc_expected_seed(tg_token lead, const char *canonical, char hex[65])
{
    char text[256];
    uint8_t digest[32];
    int len = snprintf(text, sizeof text, "%llu:%s", (unsigned long long)lead.bits, canonical);
    tg_sha256(text, (size_t)len, digest);
    tg_sha256_hex(digest, hex);
}

static void loc_run_tree(unsigned workers)
{
    tg_config cfg = { .workers = workers };
    tg_token leads[LOC_LEADS];
    struct tg_stats st;
    REQUIRE(tg_create(&cfg, &loc_s) == TG_OK);
    memset(loc_seed, 0, sizeof loc_seed);
    for (int l = 0; l < LOC_LEADS; l++)
        for (int p = 0; p < 1 + LOC_KIDS * (1 + LOC_GRANDKIDS); p++) atomic_store(&loc_core[l][p], -2);
    atomic_store(&loc_errors, 0);

    for (int l = 0; l < LOC_LEADS; l++) {
        loc_node n = { l, -1, -1 };
        CHECK_RC(tg_submit(loc_s, &loc_lead_op, &n, sizeof n, &leads[l]), TG_OK);
    }
    int ran_on_lead_core = 0, same_seed = 0, nodes = 0;
    for (int l = 0; l < LOC_LEADS; l++) {
        tg_token_info info;
        char want[65];
        CHECK_RC(tg_wait(loc_s, leads[l], TH_LONG_NS, NULL), TG_OK);
        CHECK_RC(tg_info(loc_s, leads[l], &info), TG_OK);
        loc_expected_seed(leads[l], "cache.put,db.read,kv.get", want);
        CHECK(strcmp(info.seed, want) == 0);
        CHECK_EQ(strlen(info.seed), 64);
        CHECK_EQ(info.core, atomic_load(&loc_core[l][0]));
        for (int p = 0; p < 1 + LOC_KIDS * (1 + LOC_GRANDKIDS); p++) {
            nodes++;
            if (atomic_load(&loc_core[l][p]) == info.core) ran_on_lead_core++;
            if (strcmp(loc_seed[l][p], want) == 0) same_seed++;
        }
    }
    /* 3 leads + 12 children + 24 grandchildren, all on their lead's core
       and all carrying their lead's seed */
    CHECK_EQ(nodes, LOC_LEADS * (1 + LOC_KIDS * (1 + LOC_GRANDKIDS)));
    CHECK_EQ(ran_on_lead_core, nodes);
    CHECK_EQ(same_seed, nodes);
    CHECK(strcmp(loc_seed[0][0], loc_seed[1][0]) != 0);
    CHECK(strcmp(loc_seed[0][0], loc_seed[2][0]) != 0);
    CHECK(strcmp(loc_seed[1][0], loc_seed[2][0]) != 0);
    CHECK_EQ(atomic_load(&loc_errors), 0);

    CHECK_RC(tg_wait_idle(loc_s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(loc_s, &st), TG_OK);
    CHECK_EQ(st.domains_open, 0);        /* every seed released */
    CHECK_EQ(st.domains_kept, LOC_LEADS); /* the leads' handles still name theirs */
    CHECK_EQ(st.domain_overflow, 0);
    CHECK_EQ(st.domain_late, 0);
    for (int l = 0; l < LOC_LEADS; l++) CHECK_RC(tg_release(loc_s, leads[l]), TG_OK);
    CHECK_RC(tg_stats(loc_s, &st), TG_OK);
    CHECK_EQ(st.domains_kept, 0);
    CHECK_EQ(st.sticky_keys, 0);
    CHECK_EQ(st.slots_in_use, 0);
    tg_destroy(loc_s);
    loc_s = NULL;
}

TG_TEST(conductor_descendants_on_lead_core_1_worker) { loc_run_tree(1); }
TG_TEST(conductor_descendants_on_lead_core_2_workers) { loc_run_tree(2); }
TG_TEST(conductor_descendants_on_lead_core_3_workers) { loc_run_tree(3); }
TG_TEST(conductor_descendants_on_lead_core_4_workers) { loc_run_tree(4); }

static int loc_nop(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    return 0;
}

TG_TEST(conductor_seed_canonical_form)
{
    static const char *const calls[] = { "b", "a", "b", "c", "a", NULL };
    static const char *const empty[] = { NULL };
    const tg_op lead = { .name = "lead", .fn = loc_nop, .external_calls = calls };
    const tg_op none = { .name = "plain", .fn = loc_nop, .external_calls = empty };
    tg_scheduler *s;
    tg_token t, u;
    tg_token_info info;
    char want[65];
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &lead, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_info(s, t, &info), TG_OK);
    loc_expected_seed(t, "a,b,c", want);
    CHECK(strcmp(info.seed, want) == 0);
    /* an empty list of calls is no lead */
    CHECK_RC(tg_submit(s, &none, NULL, 0, &u), TG_OK);
    CHECK_RC(tg_wait(s, u, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_info(s, u, &info), TG_OK);
    CHECK_EQ(info.seed[0], '\0');
    tg_release(s, t);
    tg_release(s, u);
    tg_destroy(s);
}

TG_TEST(conductor_bad_calls_are_einval)
{
    static const char *const comma[] = { "a,b", NULL };
    static const char *const blank[] = { "x", "", NULL };
    static const char *many[66];
    static char names[65][16];
    for (int i = 0; i < 65; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        many[i] = names[i];
    }
    many[65] = NULL;
    const tg_op bad1 = { .name = "bad1", .fn = loc_nop, .external_calls = comma };
    const tg_op bad2 = { .name = "bad2", .fn = loc_nop, .external_calls = blank };
    const tg_op bad3 = { .name = "bad3", .fn = loc_nop, .external_calls = many };
    tg_scheduler *s;
    tg_token t;
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &bad1, NULL, 0, &t), TG_EINVAL);
    CHECK_RC(tg_submit(s, &bad2, NULL, 0, &t), TG_EINVAL);
    CHECK_RC(tg_submit(s, &bad3, NULL, 0, &t), TG_EINVAL);
    CHECK_EQ(th_stat_slots_in_use(s), 0);
    tg_destroy(s);
}

TG_TEST(conductor_full_domain_table_runs_lead_plain)
{
    static const char *const calls[] = { "svc", NULL };
    th_gate gate;
    th_gate *gp = &gate;
    const tg_op lead_gate = { .name = "lead_gate", .fn = th_gate_fn, .external_calls = calls };
    const tg_op lead = { .name = "lead", .fn = loc_nop, .external_calls = calls };
    tg_config cfg = { .workers = 2, .max_domains = 1 };  /* b runs while a holds a worker */
    tg_scheduler *s;
    tg_token a, b;
    tg_token_info info;
    struct tg_stats st;
    th_gate_init(&gate, 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &lead_gate, &gp, sizeof gp, &a), TG_OK);
    CHECK(th_gate_wait_entered(&gate, 1));
    CHECK_RC(tg_submit(s, &lead, NULL, 0, &b), TG_OK);
    CHECK_RC(tg_wait(s, b, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_info(s, b, &info), TG_OK);
    CHECK_EQ(info.seed[0], '\0');
    CHECK_RC(tg_info(s, a, &info), TG_OK);
    CHECK_EQ(strlen(info.seed), 64);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.domain_overflow, 1);
    CHECK_EQ(st.domains_open, 1);
    th_gate_open(&gate);
    CHECK_RC(tg_wait(s, a, TH_LONG_NS, NULL), TG_OK);
    tg_release(s, a);
    tg_release(s, b);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.domains_open, 0);
    CHECK_EQ(st.domains_kept, 0);
    /* the entry is free again: a new lead gets it */
    CHECK_RC(tg_submit(s, &lead, NULL, 0, &b), TG_OK);
    CHECK_RC(tg_wait(s, b, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_info(s, b, &info), TG_OK);
    CHECK_EQ(strlen(info.seed), 64);
    tg_release(s, b);
    tg_destroy(s);
}

/* ---------------------------------------------------------------- sticky */

#define LOC_KEYS 4
#define LOC_STORM 10000

static atomic_int loc_holder_open;
static atomic_int loc_holders_in;
static atomic_uint loc_key_cores[LOC_KEYS];   /* bit c: a token of the key ran on core c */
static atomic_int loc_key_runs[LOC_KEYS];

/* Holds its worker until loc_holder_open (at most 60 s). */
static int loc_holder_fn(const void *args, tg_value *result)
{
    int64_t end = th_now_ns() + 60 * TH_SEC;
    uint32_t key = *(const uint32_t *)args;
    (void)result;
    atomic_fetch_or(&loc_key_cores[key], 1u << tg_current_core());
    atomic_fetch_add(&loc_holders_in, 1);
    while (!atomic_load(&loc_holder_open) && th_now_ns() < end) th_sleep_us(100);
    return 0;
}

static int loc_storm_fn(const void *args, tg_value *result)
{
    uint32_t key = *(const uint32_t *)args;
    (void)result;
    atomic_fetch_or(&loc_key_cores[key], 1u << tg_current_core());
    atomic_fetch_add(&loc_key_runs[key], 1);
    return 0;
}

/* The key is the anchor plus the argument bytes, whatever the op. */
static const tg_op loc_holder_op = { .name = "holder", .fn = loc_holder_fn, .weight = TG_HEAVY,
                                     .sticky_anchor = "storm" };
static const tg_op loc_storm_op = { .name = "storm", .fn = loc_storm_fn, .weight = TG_HEAVY,
                                    .sticky_anchor = "storm" };

typedef struct loc_storm_arg {
    tg_scheduler *s;
    uint64_t seed;
    int count;
    atomic_int *errors;
} loc_storm_arg;

static void *loc_storm_thread(void *p)
{
    loc_storm_arg *a = p;
    for (int i = 0; i < a->count; i++) {
        uint32_t key = (uint32_t)(th_rand(&a->seed) % LOC_KEYS);
        if (tg_submit(a->s, &loc_storm_op, &key, sizeof key, NULL) != TG_OK) atomic_fetch_add(a->errors, 1);
    }
    return NULL;
}

static void loc_sticky_reset(void)
{
    atomic_store(&loc_holder_open, 0);
    atomic_store(&loc_holders_in, 0);
    for (int k = 0; k < LOC_KEYS; k++) {
        atomic_store(&loc_key_cores[k], 0u);
        atomic_store(&loc_key_runs[k], 0);
    }
}

static void loc_run_storm(unsigned workers)
{
    /* room for the whole storm: the holders keep every worker busy until
       the storm is in */
    tg_config cfg = { .workers = workers, .mailbox_capacity = 2 * LOC_STORM };
    tg_scheduler *s;
    tg_token holder[LOC_KEYS];
    int holder_core[LOC_KEYS];
    struct tg_stats st;
    atomic_int errors;
    atomic_init(&errors, 0);
    loc_sticky_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    /* a holder per key keeps the key live during the whole storm */
    for (uint32_t k = 0; k < LOC_KEYS; k++)
        CHECK_RC(tg_submit(s, &loc_holder_op, &k, sizeof k, &holder[k]), TG_OK);
    for (uint32_t k = 0; k < LOC_KEYS; k++) {
        tg_token_info info;
        CHECK_RC(tg_info(s, holder[k], &info), TG_OK);
        holder_core[k] = info.core;
        CHECK(info.core >= 0 && info.core < (int)workers);
    }
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.sticky_keys, LOC_KEYS);

    loc_storm_arg args[2] = { { s, 11, LOC_STORM / 2, &errors }, { s, 29, LOC_STORM / 2, &errors } };
    pthread_t th[2];
    for (int i = 0; i < 2; i++) REQUIRE(pthread_create(&th[i], NULL, loc_storm_thread, &args[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&errors), 0);
    atomic_store(&loc_holder_open, 1);
    CHECK_RC(tg_wait_all(s, holder, LOC_KEYS, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);

    int runs = 0;
    for (int k = 0; k < LOC_KEYS; k++) {
        runs += atomic_load(&loc_key_runs[k]);
        /* every token of the key, holder included, ran on the holder's core */
        CHECK_EQ(atomic_load(&loc_key_cores[k]), 1u << holder_core[k]);
    }
    CHECK_EQ(runs, LOC_STORM);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.sticky_keys, 0);          /* every pin released */
    CHECK_EQ(st.sticky_overflow, 0);
    for (unsigned c = 0; c < workers; c++) CHECK_EQ(st.cores[c].stolen, 0);
    for (int k = 0; k < LOC_KEYS; k++) tg_release(s, holder[k]);

    /* re-pinned later: each key pins again (wherever it lands) and lets go */
    loc_sticky_reset();
    atomic_store(&loc_holder_open, 1);
    for (uint32_t k = 0; k < LOC_KEYS; k++)
        for (int i = 0; i < 25; i++) CHECK_RC(tg_submit(s, &loc_storm_op, &k, sizeof k, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    for (int k = 0; k < LOC_KEYS; k++) CHECK_EQ(atomic_load(&loc_key_runs[k]), 25);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.sticky_keys, 0);
    CHECK_EQ(st.slots_in_use, 0);
    tg_destroy(s);
}

TG_TEST(sticky_storm_one_core_per_key_2_workers) { loc_run_storm(2); }
TG_TEST(sticky_storm_one_core_per_key_3_workers) { loc_run_storm(3); }

TG_TEST(sticky_pinned_tokens_are_never_stolen)
{
    /* two workers; the key is pinned to one of them, which a holder keeps
       busy while the other idles: the queued tokens must wait for their core */
    tg_config cfg = { .workers = 2 };
    tg_scheduler *s;
    tg_token holder;
    tg_token_info info;
    struct tg_stats st;
    uint32_t key = 1;
    loc_sticky_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &loc_holder_op, &key, sizeof key, &holder), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&loc_holders_in) == 1, 30000));
    for (int i = 0; i < 100; i++) CHECK_RC(tg_submit(s, &loc_storm_op, &key, sizeof key, NULL), TG_OK);
    th_sleep_ms(20);
    CHECK_EQ(atomic_load(&loc_key_runs[1]), 0);   /* nobody took them meanwhile */
    CHECK_RC(tg_info(s, holder, &info), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.cores[info.core].mailbox_depth, 100);
    atomic_store(&loc_holder_open, 1);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&loc_key_runs[1]), 100);
    CHECK_EQ(atomic_load(&loc_key_cores[1]), 1u << info.core);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.cores[0].stolen + st.cores[1].stolen, 0);
    tg_release(s, holder);
    tg_destroy(s);
}

TG_TEST(sticky_full_pinned_mailbox_rejects_and_unpins)
{
    /* REJECT: the key's core has a full pinned mailbox while the other core
       is empty: TG_EBUSY, not an overflow to the other core */
    tg_config cfg = { .workers = 2, .mailbox_capacity = 4, .full_policy = TG_FULL_REJECT };
    tg_scheduler *s;
    tg_token holder;
    struct tg_stats st;
    uint32_t key = 2;
    int ok = 0, busy = 0;
    loc_sticky_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &loc_holder_op, &key, sizeof key, &holder), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&loc_holders_in) == 1, 30000));
    for (int i = 0; i < 10; i++) {
        int rc = tg_submit(s, &loc_storm_op, &key, sizeof key, NULL);
        if (rc == TG_OK) ok++;
        else if (rc == TG_EBUSY) busy++;
    }
    CHECK_EQ(ok, 4);
    CHECK_EQ(busy, 6);
    atomic_store(&loc_holder_open, 1);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&loc_key_runs[2]), 4);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.sticky_keys, 0);    /* refused tokens gave their pin back */
    tg_release(s, holder);
    tg_destroy(s);
}

typedef struct loc_blocked {
    tg_scheduler *s;
    uint32_t key;
    atomic_int started;
    atomic_int done;
    int rc;
} loc_blocked;

static void *loc_blocked_submit(void *p)
{
    loc_blocked *b = p;
    atomic_store(&b->started, 1);
    b->rc = tg_submit(b->s, &loc_storm_op, &b->key, sizeof b->key, NULL);
    atomic_store(&b->done, 1);
    return NULL;
}

TG_TEST(sticky_full_pinned_mailbox_blocks_until_room)
{
    /* BLOCK: the fifth token of a key whose pinned mailbox (4) is full waits
       for room there, though the other core is idle */
    tg_config cfg = { .workers = 2, .mailbox_capacity = 4 };
    tg_scheduler *s;
    tg_token holder;
    pthread_t th;
    loc_blocked b;
    loc_sticky_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    b.s = s;
    b.key = 3;
    b.rc = -1;
    atomic_init(&b.started, 0);
    atomic_init(&b.done, 0);
    CHECK_RC(tg_submit(s, &loc_holder_op, &b.key, sizeof b.key, &holder), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&loc_holders_in) == 1, 30000));
    for (int i = 0; i < 4; i++) CHECK_RC(tg_submit(s, &loc_storm_op, &b.key, sizeof b.key, NULL), TG_OK);
    REQUIRE(pthread_create(&th, NULL, loc_blocked_submit, &b) == 0);
    /* the thread is about to submit; 50 ms later it must still wait */
    CHECK(TH_WAIT_UNTIL(atomic_load(&b.started), 10000));
    th_sleep_ms(50);
    CHECK_EQ(atomic_load(&b.done), 0);
    atomic_store(&loc_holder_open, 1);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&b.done), 1);
    CHECK_RC(b.rc, TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&loc_key_runs[3]), 5);
    CHECK_EQ(__builtin_popcount(atomic_load(&loc_key_cores[3])), 1);   /* one core */
    tg_release(s, holder);
    tg_destroy(s);
}

TG_TEST(sticky_full_registry_routes_freely_and_counts)
{
    tg_config cfg = { .workers = 2, .sticky_capacity = 1 };
    tg_scheduler *s;
    tg_token holder, other;
    struct tg_stats st;
    uint32_t k0 = 0, k1 = 1;
    loc_sticky_reset();
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_RC(tg_submit(s, &loc_holder_op, &k0, sizeof k0, &holder), TG_OK);
    CHECK(TH_WAIT_UNTIL(atomic_load(&loc_holders_in) == 1, 30000));
    /* the one entry is held by key 0: key 1 routes freely */
    CHECK_RC(tg_submit(s, &loc_storm_op, &k1, sizeof k1, &other), TG_OK);
    CHECK_RC(tg_wait(s, other, TH_LONG_NS, NULL), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.sticky_overflow, 1);
    CHECK_EQ(st.sticky_keys, 1);
    atomic_store(&loc_holder_open, 1);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.sticky_keys, 0);
    tg_release(s, holder);
    tg_release(s, other);
    tg_destroy(s);
}

/* -------------------------------------------------------------- together */

static atomic_int loc_both_cores[1 + 4];

static int loc_both_child_fn(const void *args, tg_value *result)
{
    (void)result;
    atomic_store(&loc_both_cores[1 + *(const int *)args], tg_current_core());
    return 0;
}

static const tg_op loc_both_child_op = { .name = "both_child", .fn = loc_both_child_fn };

static int loc_both_lead_fn(const void *args, tg_value *result)
{
    tg_token t[4];
    (void)args;
    (void)result;
    atomic_store(&loc_both_cores[0], tg_current_core());
    for (int i = 0; i < 4; i++)
        if (tg_submit(loc_s, &loc_both_child_op, &i, sizeof i, &t[i]) != TG_OK) return 1;
    for (int i = 0; i < 4; i++) {
        if (tg_wait(loc_s, t[i], -1, NULL) != TG_OK) return 1;
        tg_release(loc_s, t[i]);
    }
    return 0;
}

TG_TEST(locality_sticky_lead_lands_on_its_key_core)
{
    /* a lead with a sticky anchor goes where its key is pinned, and its
       domain (children included) follows: key, lead and domain share a core */
    static const char *const calls[] = { "store", NULL };
    const tg_op both = { .name = "both", .fn = loc_both_lead_fn, .weight = TG_HEAVY,
                         .sticky_anchor = "storm", .external_calls = calls };
    for (unsigned workers = 2; workers <= 3; workers++) {
        tg_config cfg = { .workers = workers };
        tg_token holders[3], lead;
        tg_token_info hinfo, linfo;
        uint32_t key = 0;
        loc_sticky_reset();
        for (int i = 0; i < 5; i++) atomic_store(&loc_both_cores[i], -2);   /* not run */
        REQUIRE(tg_create(&cfg, &loc_s) == TG_OK);
        /* pin key 0 first; more holders of other keys fill the other cores
           so that free routing would likely pick elsewhere */
        CHECK_RC(tg_submit(loc_s, &loc_holder_op, &key, sizeof key, &holders[0]), TG_OK);
        for (uint32_t k = 1; k < 3; k++)
            CHECK_RC(tg_submit(loc_s, &loc_holder_op, &k, sizeof k, &holders[k]), TG_OK);
        CHECK_RC(tg_submit(loc_s, &both, &key, sizeof key, &lead), TG_OK);
        atomic_store(&loc_holder_open, 1);
        CHECK_RC(tg_wait(loc_s, lead, TH_LONG_NS, NULL), TG_OK);
        CHECK_RC(tg_info(loc_s, holders[0], &hinfo), TG_OK);
        CHECK_RC(tg_info(loc_s, lead, &linfo), TG_OK);
        CHECK_EQ(linfo.core, hinfo.core);
        CHECK_EQ(strlen(linfo.seed), 64);
        for (int i = 0; i < 5; i++) CHECK_EQ(atomic_load(&loc_both_cores[i]), hinfo.core);
        CHECK_RC(tg_wait_idle(loc_s, TH_LONG_NS), TG_OK);
        for (int k = 0; k < 3; k++) tg_release(loc_s, holders[k]);
        tg_release(loc_s, lead);
        struct tg_stats st;
        CHECK_RC(tg_stats(loc_s, &st), TG_OK);
        CHECK_EQ(st.sticky_keys, 0);
        CHECK_EQ(st.domains_kept, 0);
        tg_destroy(loc_s);
        loc_s = NULL;
    }
}
