/* test_stress.c - 4 threads submit TG_STRESS_TOKENS tokens (default
   1,000,000) of mixed weights, half detached, half kept and awaited in
   batches, with random kills; afterwards every token is accounted for. */
#include "harness.h"

#include <pthread.h>

typedef struct st_args {
    uint32_t id;
    uint32_t value;
} st_args;

static atomic_uchar *st_ran;     /* runs per token id */
static atomic_llong st_sum;      /* sum of the values of every run */

static int st_fn(const void *args, tg_value *result)
{
    const st_args *a = args;
    atomic_fetch_add(&st_ran[a->id], 1);
    atomic_fetch_add(&st_sum, a->value);
    result->i = (int64_t)a->value * 2;
    return 0;
}

static const tg_op st_ops[3] = {
    [TG_MEDIUM] = { .name = "stress_m", .fn = st_fn, .weight = TG_MEDIUM },
    [TG_LIGHT] = { .name = "stress_l", .fn = st_fn, .weight = TG_LIGHT },
    [TG_HEAVY] = { .name = "stress_h", .fn = st_fn, .weight = TG_HEAVY },
};

enum { ST_THREADS = 4, ST_BATCH = 256 };
enum { ST_NONE = 0, ST_COMPLETED = 1, ST_KILLED = 2, ST_OTHER = 3 };

typedef struct st_worker {
    tg_scheduler *s;
    uint32_t first, end;         /* token ids [first, end) */
    unsigned char *outcome;      /* per id, kept tokens only */
    uint64_t seed;
    /* Written by this thread, read by the test after the join. */
    long long completed_result_sum;
    long submit_errors, wait_all_errors, outcome_errors, release_errors;
    long state_mismatch, kills, result_mismatch;
    int first_bad_rc;
} st_worker;

static uint32_t st_value(uint32_t id) { return id % 1000 + 1; }

static void st_finish_batch(st_worker *w, tg_token *t, uint32_t *ids, int n)
{
    if (n == 0) return;
    if (tg_wait_all(w->s, t, (size_t)n, 300 * TH_SEC) != TG_OK)
        w->wait_all_errors++;
    for (int i = 0; i < n; i++) {
        tg_value v = { 0 };
        tg_state st = TG_CREATED;
        int rc = tg_wait(w->s, t[i], 0, &v);
        int prc = tg_poll(w->s, t[i], &st);
        if (rc == TG_OK) {
            /* the result is summed whatever it is: the test compares the
               sum with the values the completed tokens should have given */
            w->outcome[ids[i]] = ST_COMPLETED;
            w->completed_result_sum += v.i;
            if (v.i != (int64_t)st_value(ids[i]) * 2) w->result_mismatch++;
            if (prc != TG_OK || st != TG_COMPLETED) w->state_mismatch++;
        } else if (rc == TG_EKILLED) {
            w->outcome[ids[i]] = ST_KILLED;
            if (prc != TG_OK || st != TG_KILLED) w->state_mismatch++;
        } else {
            w->outcome[ids[i]] = ST_OTHER;
            w->outcome_errors++;
            if (!w->first_bad_rc) w->first_bad_rc = rc ? rc : 1;
        }
        if (tg_release(w->s, t[i]) != TG_OK) w->release_errors++;
    }
}

static void *st_submit_main(void *arg)
{
    st_worker *w = arg;
    tg_token t[ST_BATCH];
    uint32_t ids[ST_BATCH];
    int n = 0;

    for (uint32_t id = w->first; id < w->end; id++) {
        uint64_t r = th_rand(&w->seed);
        st_args a = { id, st_value(id) };
        const tg_op *op = &st_ops[r % 3];
        if (id & 1) { /* detached */
            if (tg_submit(w->s, op, &a, sizeof a, NULL) != TG_OK)
                w->submit_errors++;
            continue;
        }
        if (tg_submit(w->s, op, &a, sizeof a, &t[n]) != TG_OK) {
            w->submit_errors++;
            continue;
        }
        ids[n++] = id;
        /* Random kills: of this token at once, or of an earlier one of the
           batch that may be queued, running or ended by now. */
        if ((r >> 8) % 32 == 0) {
            if (tg_kill(w->s, t[n - 1]) != TG_OK) w->outcome_errors++;
            w->kills++;
        } else if ((r >> 8) % 32 == 1) {
            if (tg_kill(w->s, t[(r >> 16) % (uint64_t)n]) != TG_OK)
                w->outcome_errors++;
            w->kills++;
        }
        if (n == ST_BATCH) {
            st_finish_batch(w, t, ids, n);
            n = 0;
        }
    }
    st_finish_batch(w, t, ids, n);
    return NULL;
}

TG_TEST(stress_mixed_million)
{
    long total = th_env_long("TG_STRESS_TOKENS", 1000000);
    tg_scheduler *s = NULL;
    st_worker w[ST_THREADS];
    pthread_t th[ST_THREADS];
    unsigned char *outcome;
    struct tg_stats st;
    long submit_errors = 0, wait_all_errors = 0, outcome_errors = 0;
    long release_errors = 0, state_mismatch = 0, kills = 0, result_mismatch = 0;
    long ran_twice = 0, detached_missing = 0, kept_unaccounted = 0;
    long completed_not_run = 0, kept_completed = 0, kept_killed = 0;
    long killed_before_start = 0;
    long long result_sum = 0, want_result_sum = 0, want_sum = 0;
    int started = 0;

    REQUIRE(total >= ST_THREADS && total < (1L << 31));
    st_ran = calloc((size_t)total, sizeof *st_ran);
    outcome = calloc((size_t)total, 1);
    REQUIRE(st_ran != NULL && outcome != NULL);
    for (long i = 0; i < total; i++) atomic_init(&st_ran[i], 0);
    atomic_store(&st_sum, 0);

    REQUIRE(tg_create(NULL, &s) == TG_OK);
    for (int k = 0; k < ST_THREADS; k++) {
        memset(&w[k], 0, sizeof w[k]);
        w[k].s = s;
        w[k].first = (uint32_t)(total * k / ST_THREADS);
        w[k].end = (uint32_t)(total * (k + 1) / ST_THREADS);
        w[k].outcome = outcome;
        w[k].seed = 0xC0FFEE123ull * (uint64_t)(k + 1);
        if (pthread_create(&th[k], NULL, st_submit_main, &w[k]) == 0) started++;
    }
    REQUIRE(started == ST_THREADS);
    for (int k = 0; k < ST_THREADS; k++) {
        pthread_join(th[k], NULL);
        submit_errors += w[k].submit_errors;
        wait_all_errors += w[k].wait_all_errors;
        outcome_errors += w[k].outcome_errors;
        release_errors += w[k].release_errors;
        state_mismatch += w[k].state_mismatch;
        result_mismatch += w[k].result_mismatch;
        kills += w[k].kills;
        result_sum += w[k].completed_result_sum;
        if (w[k].first_bad_rc)
            th_note("thread %d: an outcome was %d (%s)", k, w[k].first_bad_rc,
                    tg_strerror(w[k].first_bad_rc));
    }
    CHECK_EQ(submit_errors, 0);
    CHECK_EQ(wait_all_errors, 0);
    CHECK_EQ(outcome_errors, 0);
    CHECK_EQ(release_errors, 0);
    CHECK_EQ(state_mismatch, 0);
    CHECK_EQ(result_mismatch, 0);

    /* The detached tokens end on their own; then drain what is left. */
    CHECK(TH_WAIT_UNTIL(th_stat_live(s) == 0, 120000));
    CHECK_RC(tg_shutdown(s, TG_DRAIN, 120 * TH_SEC), TG_OK);

    for (long id = 0; id < total; id++) {
        int ran = atomic_load(&st_ran[id]);
        if (ran > 1) ran_twice++;
        if (ran == 1) want_sum += st_value((uint32_t)id);
        if (id & 1) {
            if (ran != 1) detached_missing++;
            continue;
        }
        switch (outcome[id]) {
        case ST_COMPLETED:
            kept_completed++;
            want_result_sum += (long long)st_value((uint32_t)id) * 2;
            if (ran != 1) completed_not_run++;
            break;
        case ST_KILLED:
            kept_killed++;
            if (ran == 0) killed_before_start++;
            break;
        default:
            kept_unaccounted++;
            break;
        }
    }
    CHECK_EQ(ran_twice, 0);
    CHECK_EQ(detached_missing, 0);
    CHECK_EQ(kept_unaccounted, 0);
    CHECK_EQ(completed_not_run, 0);
    CHECK_EQ(kept_completed + kept_killed, (total + 1) / 2);   /* the even ids */
    CHECK(kept_killed <= kills);
    CHECK_EQ(result_sum, want_result_sum);
    CHECK_EQ(atomic_load(&st_sum), want_sum);

    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.submitted, total);
    CHECK_EQ(st.live, 0);
    CHECK_EQ(st.slots_in_use, 0);
    CHECK_EQ(st.failed, 0);
    CHECK_EQ(st.killed, kept_killed);
    CHECK_EQ(st.completed + st.killed, total);
    th_note("%ld tokens, %ld kills asked, %ld kept tokens killed (%ld before "
            "they started)",
            total, kills, kept_killed, killed_before_start);
    tg_destroy(s);
    free(st_ran);
    st_ran = NULL;
    free(outcome);
}
