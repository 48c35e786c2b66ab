/* hash_conductor.c - leads, domains and seeds (section 12 of tokengate.h).

   An operation that lists the external calls it makes ("place_order" calls
   inventory.lookup and pricing.quote) is a *lead*: each of its tokens opens
   a domain whose seed is the SHA-256 of

       "<the lead's handle, tg_token.bits, in decimal>:<calls>"

   where <calls> is the op's call list sorted, de-duplicated and joined with
   ','. Every token a running lead submits (and every token those submit in
   turn) joins the lead's domain: it carries the same seed and runs on the
   lead's core, whatever its own weight says.

   LEADS order tokens are submitted from the main thread. Each one records
   its own handle, core and seed, submits CHILDREN "order_line" tokens
   (weight TG_LIGHT, which alone would send them to cores 2..n-1) and waits
   for them; each child records the core it ran on and its seed. The
   verdict is computed from what actually ran:
     - every child ran on its lead's core,
     - every seed a lead or child saw equals the seed recomputed here with
       tg_sha256 from the lead's handle and the canonical calls,
     - once everything ended no domain is open any more.
   Exits 0 on PASS, 1 on FAIL. Works with any number of workers. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEADS    4
#define CHILDREN 4
#define MAX_CALLS 8

/* The external calls of an order, as the op declares them: unsorted, with a
   duplicate. The seed uses their canonical form. */
static const char *const order_calls[] = {
    "inventory.lookup", "pricing.quote", "inventory.lookup", NULL
};

/* What the tokens saw, written by the tokens, read by main once the leads
   have ended (the memory-ordering contract makes that safe). */
struct seen {
    int core;            /* tg_current_core() */
    int info_rc;         /* tg_info on tg_self() */
    char seed[65];       /* tg_info's seed */
};

struct lead_record {
    tg_token self;       /* tg_self() inside the lead */
    struct seen lead;
    struct seen child[CHILDREN];
    int child_errors;    /* children that could not be submitted or failed */
};

static tg_scheduler *sched;
static struct lead_record records[LEADS];

/* ------------------------------------------------------------ the tasks */

static void note_where(struct seen *w)
{
    tg_token_info info;
    w->core = tg_current_core();
    w->info_rc = tg_info(sched, tg_self(), &info);
    if (w->info_rc == TG_OK)
        memcpy(w->seed, info.seed, sizeof w->seed);
}

struct line_args { int lead, line; };

/* A child: notes where it ran and its seed. */
static int order_line(const void *args, tg_value *result)
{
    const struct line_args *a = args;
    note_where(&records[a->lead].child[a->line]);
    result->i = a->line;
    return 0;
}

static const tg_op order_line_op = {
    .name = "order_line", .fn = order_line, .weight = TG_LIGHT
};

/* A lead: notes itself, submits its children, waits for all of them. */
static int place_order(const void *args, tg_value *result)
{
    int lead = *(const int *)args;
    struct lead_record *r = &records[lead];
    tg_token t[CHILDREN];

    r->self = tg_self();
    note_where(&r->lead);
    for (int i = 0; i < CHILDREN; i++) {
        struct line_args a = { lead, i };
        if (tg_submit(sched, &order_line_op, &a, sizeof a, &t[i]) != TG_OK) {
            r->child_errors++;
            t[i] = TG_TOKEN_NONE;
        }
    }
    for (int i = 0; i < CHILDREN; i++) {
        if (t[i].bits == 0)
            continue;
        if (tg_wait(sched, t[i], -1, NULL) != TG_OK)  /* runs other tokens */
            r->child_errors++;
        tg_release(sched, t[i]);
    }
    result->i = lead;
    return r->child_errors ? 1 : 0;
}

static const tg_op place_order_op = {
    .name = "place_order", .fn = place_order,
    .weight = TG_HEAVY,              /* home range: every core */
    .external_calls = order_calls
};

/* ------------------------------------------------------ recomputing seeds */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The canonical form of a NULL-terminated call list: sorted by strcmp,
   duplicates dropped, joined with ','. */
static void canonical_calls(const char *const *calls, char *out, size_t cap)
{
    const char *v[MAX_CALLS];
    size_t n = 0, len = 0;
    while (calls[n] && n < MAX_CALLS) {
        v[n] = calls[n];
        n++;
    }
    qsort(v, n, sizeof v[0], cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "," : "", v[i]);
        if (len >= cap)
            break;
    }
}

/* The seed text of a lead, and its SHA-256 in hex. */
static void expected_seed(tg_token lead, const char *canonical,
                          char *text, size_t cap, char hex[65])
{
    uint8_t digest[32];
    int len = snprintf(text, cap, "%llu:%s", (unsigned long long)lead.bits, canonical);
    tg_sha256(text, (size_t)len, digest);
    tg_sha256_hex(digest, hex);
}

/* ------------------------------------------------------------------ main */

int main(void)
{
    tg_token leads[LEADS];
    char canonical[256], text[320], want[65];
    int bad_core = 0, bad_seed = 0, errors = 0;

    int rc = tg_create(NULL, &sched);
    if (rc != TG_OK) {
        fprintf(stderr, "hash_conductor: tg_create: %s\n", tg_strerror(rc));
        return 1;
    }
    canonical_calls(order_calls, canonical, sizeof canonical);
    unsigned workers = tg_worker_count(sched);
    printf("hash conductor: %d leads x %d children on %u worker%s\n",
           LEADS, CHILDREN, workers, workers == 1 ? "" : "s");
    printf("calls as declared: ");
    for (int c = 0; order_calls[c]; c++)
        printf("%s%s", c ? ", " : "", order_calls[c]);
    printf("\ncanonical calls:   %s\n", canonical);

    for (int i = 0; i < LEADS; i++) {
        rc = tg_submit(sched, &place_order_op, &i, sizeof i, &leads[i]);
        if (rc != TG_OK) {
            fprintf(stderr, "hash_conductor: submitting lead %d: %s\n", i, tg_strerror(rc));
            tg_destroy(sched);
            return 1;
        }
    }
    rc = tg_wait_all(sched, leads, LEADS, -1);
    if (rc != TG_OK) {
        fprintf(stderr, "hash_conductor: tg_wait_all: %s\n", tg_strerror(rc));
        tg_destroy(sched);
        return 1;
    }

    expected_seed(leads[0], canonical, text, sizeof text, want);
    printf("seed of lead 0:    sha256(\"%s\")\n                   = %s\n\n", text, want);
    printf("%-4s  %-19s  %9s  %-16s  %s\n", "lead", "seed", "lead core", "children's cores", "seeds");
    for (int i = 0; i < LEADS; i++) {
        struct lead_record *r = &records[i];
        tg_token_info info;
        int lead_ok = 1, seeds_ok = 1;

        /* the outcome and the seed as the outside sees them */
        if (tg_wait(sched, leads[i], 0, NULL) != TG_OK || r->child_errors) {
            fprintf(stderr, "hash_conductor: lead %d or one of its children failed\n", i);
            errors++;
            lead_ok = 0;
        }
        if (tg_info(sched, leads[i], &info) != TG_OK) {
            errors++;
            lead_ok = 0;
            info.seed[0] = '\0';
            info.core = -1;
        }
        if (r->self.bits != leads[i].bits) {
            fprintf(stderr, "hash_conductor: lead %d: tg_self() inside is not its handle\n", i);
            errors++;
        }
        expected_seed(leads[i], canonical, text, sizeof text, want);

        /* the lead itself: its core and seed, seen from inside and outside */
        if (r->lead.info_rc != TG_OK || strcmp(r->lead.seed, want) != 0 ||
            strcmp(info.seed, want) != 0)
            seeds_ok = 0;
        if (info.core != r->lead.core)
            lead_ok = 0;

        printf("%-4d  %.16s%-3s  %9d  ", i, r->lead.seed[0] ? r->lead.seed : "(none)",
               r->lead.seed[0] ? "..." : "", r->lead.core);
        char cores[64];
        size_t len = 0;
        for (int c = 0; c < CHILDREN; c++) {
            const struct seen *ch = &r->child[c];
            len += (size_t)snprintf(cores + len, sizeof cores - len, "%s%d", c ? " " : "", ch->core);
            if (ch->core != r->lead.core)
                bad_core++;
            if (ch->info_rc != TG_OK || strcmp(ch->seed, want) != 0)
                seeds_ok = 0;
        }
        printf("%-16s  %s\n", cores, seeds_ok && lead_ok ? "match" : "MISMATCH");
        if (!seeds_ok)
            bad_seed++;
        if (!lead_ok)
            errors++;
        tg_release(sched, leads[i]);
    }

    struct tg_stats st;
    tg_wait_idle(sched, -1);
    tg_stats(sched, &st);
    printf("\nafterwards: domains_open %llu, domains_kept %llu, domain_overflow %llu\n",
           (unsigned long long)st.domains_open, (unsigned long long)st.domains_kept,
           (unsigned long long)st.domain_overflow);
    if (st.domains_open != 0) {
        fprintf(stderr, "hash_conductor: a domain is still open after every token ended\n");
        errors++;
    }
    tg_destroy(sched);

    if (bad_core == 0 && bad_seed == 0 && errors == 0) {
        printf("PASS: every child ran on its lead's core, every seed matches\n");
        return 0;
    }
    printf("FAIL: %d child(ren) off their lead's core, %d lead(s) with a wrong seed, "
           "%d other error(s)\n", bad_core, bad_seed, errors);
    return 1;
}
