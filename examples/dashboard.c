/* dashboard.c - the mixed waves with the live monitor on: `make dashboard`,
   then open the address it prints and enter the access token.

   Four submitter threads, one per kind of work, each run doubling waves of
   4, 8, ..., 1024 tokens, again and again:
       primes  sum of the primes below a random limit in 60..85   TG_LIGHT
       string  a random 300-letter string, reversed and mangled   TG_LIGHT
       sort    400..700 random ints sorted                        TG_MEDIUM
       chain   120..200 SHA-256 iterations over a 32-byte state   TG_HEAVY
   Each kind waits only for its own waves, so pausing one op on the page
   holds that op alone. A fifth thread runs crawls, one group each: a
   "crawl" lead (its external call "http.get" opens a domain) fetches 8
   pages, each page 4 more, every fetch 300 ms in a blocking section; the
   page's table shows each crawl's group and domain as rows whose kill
   button cancels the crawl. Every result is checked against the same function
   run on the submitting thread; killed and drained tokens are counted as
   such. Exits non-zero if any result was wrong.

   Options: --port N (default 5000), --any-port (the kernel picks; the
   address line shows it), --token T (default: random), --seconds S (stop
   after S seconds; default: run until Ctrl-C). Built with the monitor:
   TOKENGATE_MONITOR is defined before the implementation. */
#define TOKENGATE_IMPLEMENTATION
#define TOKENGATE_MONITOR
#include "../tokengate.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STRING_LEN 300
#define MAX_WAVE 1024

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27; x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* ---- the four kinds of work ---- */

struct primes_args { uint32_t below; };
struct string_args { char text[STRING_LEN + 1]; };
struct sort_args { uint64_t seed; uint32_t count; };
struct chain_args { uint64_t seed; uint32_t iterations; };

static int primes_task(const void *args, tg_value *result)
{
    uint32_t below = ((const struct primes_args *)args)->below;
    uint64_t sum = 0;
    for (uint32_t n = 2; n < below; n++) {
        int prime = 1;
        for (uint32_t d = 2; d * d <= n; d++)
            if (n % d == 0) { prime = 0; break; }
        if (prime) sum += n;
    }
    result->u = sum;
    return 0;
}

static int string_task(const void *args, tg_value *result)
{
    const char *in = ((const struct string_args *)args)->text;
    char out[STRING_LEN];
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < STRING_LEN; i++) {
        char c = in[STRING_LEN - 1 - i];                       /* reversed */
        if (c >= 'a' && c <= 'z') c = (char)('a' + (c - 'a' + 13) % 26);   /* mangled */
        else if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        out[i] = c;
        h = (h ^ (unsigned char)out[i]) * 1099511628211ull;
    }
    result->u = h;
    return 0;
}

static int compare_ints(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int sort_task(const void *args, tg_value *result)
{
    const struct sort_args *a = (const struct sort_args *)args;
    int values[700];
    uint64_t r = a->seed;
    for (uint32_t i = 0; i < a->count; i++) values[i] = (int)((r = mix64(r + i)) % 100000);
    qsort(values, a->count, sizeof values[0], compare_ints);
    uint64_t h = 0;
    for (uint32_t i = 0; i < a->count; i++) h = h * 31 + (uint64_t)values[i];
    result->u = h;
    return 0;
}

static int chain_task(const void *args, tg_value *result)
{
    const struct chain_args *a = (const struct chain_args *)args;
    uint8_t state[32];
    memset(state, 0, sizeof state);
    memcpy(state, &a->seed, sizeof a->seed);
    for (uint32_t i = 0; i < a->iterations; i++) tg_sha256(state, sizeof state, state);
    uint64_t h;
    memcpy(&h, state, sizeof h);
    result->u = h;
    return 0;
}

static const tg_op kinds[4] = {
    { .name = "primes", .fn = primes_task, .weight = TG_LIGHT },
    { .name = "string", .fn = string_task, .weight = TG_LIGHT },
    { .name = "sort", .fn = sort_task, .weight = TG_MEDIUM },
    { .name = "chain", .fn = chain_task, .weight = TG_HEAVY },
};

/* ---- crawls: a group and a domain each ---- */

static int page_task(const void *args, tg_value *result);
static const tg_op page_op = { .name = "page", .fn = page_task, .weight = TG_LIGHT };
static const char *const crawl_calls[] = { "http.get", NULL };
static const tg_op crawl_op = { .name = "crawl", .fn = page_task, .external_calls = crawl_calls };

/* A page fetches (300 ms, stopping early when asked) and then queues its
   links: 8 from the crawl's first page, 4 from each of those. Its
   submissions join its group and its domain. */
static int page_task(const void *args, tg_value *result)
{
    int depth = *(const int *)args;
    if (tg_blocking_begin() == TG_OK) {
        for (int ms = 0; ms < 300 && !tg_should_stop(); ms++) {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        }
        tg_blocking_end();
    }
    int next = depth + 1, links = depth == 0 ? 8 : depth == 1 ? 4 : 0;
    for (int i = 0; i < links && !tg_should_stop(); i++)
        if (tg_submit(tg_current_scheduler(), &page_op, &next, sizeof next, NULL) != TG_OK) break;
    result->i = depth;
    return 0;
}

struct crawler {
    pthread_t thread;
    tg_scheduler *s;
    int64_t end_ns;
    uint64_t crawls, cancelled, wrong;
};

static int64_t now_ns(void);
static void *crawl_loop(void *arg)
{
    struct crawler *c = (struct crawler *)arg;
    while (!stop_requested && (!c->end_ns || now_ns() < c->end_ns)) {
        tg_group *g;
        if (tg_group_create(c->s, &g) != TG_OK) { c->wrong++; break; }
        int zero = 0;
        int rc = tg_group_submit(g, &crawl_op, &zero, sizeof zero, NULL);
        if (rc == TG_OK) rc = tg_group_wait(g, -1);
        if (rc == TG_OK) c->crawls++;
        else if (rc == TG_EKILLED) c->cancelled++;   /* the page's kill button */
        else c->wrong++;
        tg_group_destroy(g);
    }
    return NULL;
}

/* ---- one submitter per kind ---- */

struct submitter {
    pthread_t thread;
    tg_scheduler *s;
    int kind;
    int64_t end_ns;             /* 0: until a signal */
    uint64_t waves, ok, wrong, killed;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int finished(const struct submitter *sub)
{
    return stop_requested || (sub->end_ns && now_ns() >= sub->end_ns);
}

static void *submit_waves(void *arg)
{
    struct submitter *sub = (struct submitter *)arg;
    const tg_op *op = &kinds[sub->kind];
    static __thread union {
        struct primes_args primes;
        struct string_args string;
        struct sort_args sort;
        struct chain_args chain;
    } args[MAX_WAVE];
    static __thread uint64_t expected[MAX_WAVE];
    static __thread tg_token tokens[MAX_WAVE];
    uint64_t rng = 0x5eedull + (uint64_t)sub->kind * 0x9e3779b97f4a7c15ull;
    while (!finished(sub)) {
        for (uint32_t n = 4; n <= MAX_WAVE && !finished(sub); n *= 2) {
            uint32_t submitted = 0;
            for (uint32_t i = 0; i < n; i++) {
                rng = mix64(rng + i);
                switch (sub->kind) {
                case 0: args[i].primes.below = 60 + (uint32_t)(rng % 26); break;
                case 1:
                    for (int k = 0; k < STRING_LEN; k++)
                        args[i].string.text[k] = (char)(((rng >> (k % 50)) & 1 ? 'A' : 'a') + (rng + (uint64_t)k * 7) % 26);
                    args[i].string.text[STRING_LEN] = '\0';
                    break;
                case 2: args[i].sort.seed = rng; args[i].sort.count = 400 + (uint32_t)(rng % 301); break;
                default: args[i].chain.seed = rng; args[i].chain.iterations = 120 + (uint32_t)(rng % 81); break;
                }
                tg_value v;
                op->fn(&args[i], &v);
                expected[i] = v.u;
            }
            for (uint32_t i = 0; i < n; i++) {
                int rc = tg_submit(sub->s, op, &args[i], sizeof args[i], &tokens[i]);
                if (rc != TG_OK) { fprintf(stderr, "dashboard: submit %s: %s\n", op->name, tg_strerror(rc)); break; }
                submitted++;
            }
            for (uint32_t i = 0; i < submitted; i++) {
                tg_value v;
                int rc = tg_wait(sub->s, tokens[i], -1, &v);
                if (rc == TG_OK && v.u == expected[i]) sub->ok++;
                else if (rc == TG_EKILLED) sub->killed++;
                else sub->wrong++;
                tg_release(sub->s, tokens[i]);
            }
            sub->waves++;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    tg_monitor_options mo;
    memset(&mo, 0, sizeof mo);
    mo.quiet = 1;                 /* the address and token are printed below */
    double seconds = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) mo.port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--any-port") == 0) mo.port = TG_MONITOR_ANY_PORT;
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) mo.access_token = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--port N | --any-port] [--token T] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    tg_scheduler *s;
    tg_monitor *m;
    int rc = tg_create(NULL, &s);
    if (rc != TG_OK) { fprintf(stderr, "tg_create: %s\n", tg_strerror(rc)); return 1; }
    rc = tg_monitor_start(s, &mo, &m);
    if (rc != TG_OK) {
        fprintf(stderr, "tg_monitor_start: %s\n", tg_strerror(rc));
        tg_destroy(s);
        return 1;
    }
    printf("monitor: http://127.0.0.1:%d/\n", tg_monitor_port(m));
    printf("access token: %s\n", tg_monitor_token(m));
    printf("%s\n", seconds > 0 ? "running the waves; they stop after the given seconds"
                               : "running the waves until Ctrl-C");
    fflush(stdout);

    struct submitter subs[4];
    int64_t end = seconds > 0 ? now_ns() + (int64_t)(seconds * 1e9) : 0;
    for (int k = 0; k < 4; k++) {
        memset(&subs[k], 0, sizeof subs[k]);
        subs[k].s = s;
        subs[k].kind = k;
        subs[k].end_ns = end;
        if (pthread_create(&subs[k].thread, NULL, submit_waves, &subs[k]) != 0) return 1;
    }
    struct crawler crawler = { .s = s, .end_ns = end };
    if (pthread_create(&crawler.thread, NULL, crawl_loop, &crawler) != 0) return 1;
    uint64_t wrong = 0;
    for (int k = 0; k < 4; k++) {
        pthread_join(subs[k].thread, NULL);
        printf("%-7s %6llu waves %10llu ok %6llu killed %4llu wrong\n", kinds[k].name,
               (unsigned long long)subs[k].waves, (unsigned long long)subs[k].ok,
               (unsigned long long)subs[k].killed, (unsigned long long)subs[k].wrong);
        wrong += subs[k].wrong;
    }
    pthread_join(crawler.thread, NULL);
    printf("%-7s %6llu crawls %9llu cancelled %4llu wrong\n", "crawl", (unsigned long long)crawler.crawls,
           (unsigned long long)crawler.cancelled, (unsigned long long)crawler.wrong);
    wrong += crawler.wrong;
    tg_monitor_stop(m);
    tg_shutdown(s, TG_DRAIN, -1);
    tg_destroy(s);
    printf("%s\n", wrong ? "FAIL: wrong results" : "PASS: every result checked");
    return wrong != 0;
}
