/* test_pinning.c - workers are pinned to CPUs of the process's affinity
   mask (one per CPU by default, round-robin when there are more workers),
   or not at all with no_pin. Passes under any mask, e.g. `taskset -c 0`. */
#include "harness.h"

#include <pthread.h>
#include <sched.h>

typedef struct pin_mask {
    cpu_set_t set;
    int cpus[CPU_SETSIZE];
    int count;
} pin_mask;

static int pin_get_mask(pin_mask *m)
{
    CPU_ZERO(&m->set);
    m->count = 0;
    if (sched_getaffinity(0, sizeof m->set, &m->set) != 0) return 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &m->set)) m->cpus[m->count++] = c;
    return m->count;
}

/* Inside a task: the worker thread's own affinity and the CPU it runs on. */
typedef struct pin_seen {
    atomic_int core;
    atomic_int affinity_count;  /* CPUs in the worker's mask */
    atomic_int affinity_first;  /* the lowest of them */
    atomic_int running_on;      /* sched_getcpu() */
} pin_seen;

static pin_seen pin_seen_by[64];

static int pin_probe_fn(const void *args, tg_value *result)
{
    int id = *(const int *)args;
    cpu_set_t set;
    int first = -1;
    CPU_ZERO(&set);
    if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) { first = c; break; }
        atomic_store(&pin_seen_by[id].affinity_count, CPU_COUNT(&set));
    }
    atomic_store(&pin_seen_by[id].affinity_first, first);
    atomic_store(&pin_seen_by[id].running_on, sched_getcpu());
    atomic_store(&pin_seen_by[id].core, tg_current_core());
    th_sleep_us(500);
    result->i = id;
    return 0;
}

static const tg_op pin_probe_op = { .name = "pin_probe", .fn = pin_probe_fn,
                                    .weight = TG_HEAVY };

static int pin_in_mask(const pin_mask *m, int cpu)
{
    return cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &m->set);
}

static void pin_check_pinned(tg_scheduler *s, const pin_mask *m, unsigned workers)
{
    struct tg_stats st;
    int uses[CPU_SETSIZE];
    int min_use = 1 << 30, max_use = 0;
    tg_token t[64];
    int n = 48, pinned_ok = 0;

    memset(uses, 0, sizeof uses);
    REQUIRE(tg_stats(s, &st) == TG_OK);
    CHECK_EQ(st.workers, workers);
    CHECK_EQ(st.pin_failures, 0);
    for (unsigned c = 0; c < workers; c++) {
        int cpu = st.cores[c].cpu;
        CHECK(pin_in_mask(m, cpu));
        if (pin_in_mask(m, cpu)) uses[cpu]++;
    }
    /* Round-robin over the mask: loads differ by at most one, and with at
       least as many workers as CPUs every CPU is used. */
    for (int i = 0; i < m->count; i++) {
        int u = uses[m->cpus[i]];
        if (u < min_use) min_use = u;
        if (u > max_use) max_use = u;
    }
    CHECK(max_use - min_use <= 1);
    if (workers >= (unsigned)m->count) CHECK(min_use >= 1);

    /* Tasks run on the CPU their worker is pinned to, and the worker
       thread's mask is that one CPU. */
    for (int i = 0; i < n; i++) {
        atomic_store(&pin_seen_by[i].core, -5);
        REQUIRE(tg_submit(s, &pin_probe_op, &i, sizeof i, &t[i]) == TG_OK);
    }
    CHECK_RC(tg_wait_all(s, t, (size_t)n, TH_LONG_NS), TG_OK);
    for (int i = 0; i < n; i++) {
        int core = atomic_load(&pin_seen_by[i].core);
        if (core >= 0 && core < (int)workers) {
            int cpu = st.cores[core].cpu;
            if (atomic_load(&pin_seen_by[i].affinity_count) == 1 &&
                atomic_load(&pin_seen_by[i].affinity_first) == cpu &&
                atomic_load(&pin_seen_by[i].running_on) == cpu)
                pinned_ok++;
        }
        tg_release(s, t[i]);
    }
    CHECK_EQ(pinned_ok, n);
}

TG_TEST(pinning_default_one_worker_per_cpu_of_mask)
{
    pin_mask m;
    tg_scheduler *s = NULL;

    REQUIRE(pin_get_mask(&m) > 0);
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_EQ(tg_worker_count(s), m.count);
    pin_check_pinned(s, &m, (unsigned)m.count);
    tg_destroy(s);
}

TG_TEST(pinning_more_workers_than_cpus)
{
    pin_mask m;
    tg_scheduler *s = NULL;
    tg_config cfg = { 0 };

    REQUIRE(pin_get_mask(&m) > 0);
    cfg.workers = (unsigned)m.count * 2 + 1;
    if (cfg.workers > 33) cfg.workers = 33;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_EQ(tg_worker_count(s), cfg.workers);
    pin_check_pinned(s, &m, cfg.workers);
    tg_destroy(s);
}

TG_TEST(pinning_fewer_workers_than_cpus)
{
    pin_mask m;
    tg_scheduler *s = NULL;
    tg_config cfg = { .workers = 1 };

    REQUIRE(pin_get_mask(&m) > 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    CHECK_EQ(tg_worker_count(s), 1);
    pin_check_pinned(s, &m, 1);
    tg_destroy(s);
}

TG_TEST(pinning_no_pin_gives_cpu_minus_one)
{
    pin_mask m;
    tg_scheduler *s = NULL;
    tg_config cfg = { .workers = 3, .no_pin = 1 };
    struct tg_stats st;
    tg_token t[12];
    int unpinned_ok = 0;

    REQUIRE(pin_get_mask(&m) > 0);
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(tg_stats(s, &st) == TG_OK);
    CHECK_EQ(st.workers, 3);
    CHECK_EQ(st.pin_failures, 0);
    for (int c = 0; c < 3; c++) CHECK_EQ(st.cores[c].cpu, -1);
    /* Unpinned workers keep the process's whole mask. */
    for (int i = 0; i < 12; i++)
        REQUIRE(tg_submit(s, &pin_probe_op, &i, sizeof i, &t[i]) == TG_OK);
    CHECK_RC(tg_wait_all(s, t, 12, TH_LONG_NS), TG_OK);
    for (int i = 0; i < 12; i++) {
        if (atomic_load(&pin_seen_by[i].affinity_count) == m.count &&
            pin_in_mask(&m, atomic_load(&pin_seen_by[i].running_on)))
            unpinned_ok++;
        tg_release(s, t[i]);
    }
    CHECK_EQ(unpinned_ok, 12);
    tg_destroy(s);
}
