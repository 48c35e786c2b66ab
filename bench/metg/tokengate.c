/* tokengate.c - the METG graph on TokenGate: one token per task, its
   dependencies given to tg_submit_after.

   The main thread submits the graph step by step, passing the handles of the
   previous step's inputs as `after`, and releases the previous step's handles
   once the next step is submitted (the README allows releasing `after`
   handles right after the call).  At the end it gathers the last step's
   tokens (every outcome must be TG_OK) and releases them, then waits for the
   scheduler to be idle: tokens that no later step depends on (every trivial
   token, tree's leaf points) were released while live, so they run detached
   and only tg_wait_idle covers them.  One scheduler per process, default
   config (tg_create(NULL, ...)).  Any error is printed with its code, the
   call, the pattern and the task, and the program exits 1. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "metg.h"

struct mg_cell {            /* a token's arguments: 16 bytes, kept in its slot */
    const mg_graph *g;
    int32_t t, i;
};

static int cell_fn(const void *args, tg_value *result)
{
    const struct mg_cell *c = (const struct mg_cell *)args;
    result->u = mg_run_task(c->g, c->t, c->i);
    return 0;
}

static const tg_op cell_op = { .name = "metg_cell", .fn = cell_fn };

typedef struct tg_ctx {
    tg_scheduler *s;
    tg_token *prev, *cur;   /* handles of steps t-1 and t, width each */
    int *codes;             /* tg_gather's outcomes of the last step */
} tg_ctx;

/* Prints a TokenGate error in full (stderr and a machine-readable line on
   stdout for the driver, the error's name with '+' for ' '); returns 1. */
static int tg_fail(const char *call, const mg_graph *g, int t, int i, int rc)
{
    char name[128];
    snprintf(name, sizeof name, "%s", tg_strerror(rc));
    for (char *p = name; *p; p++)
        if (*p == ' ') *p = '+';
    fprintf(stderr, "tokengate: %s returned %d (%s): pattern=%s width=%d steps=%d iters=%" PRIu64
            " task=(%d,%d)\n", call, rc, tg_strerror(rc), mg_pattern_names[g->pattern], g->width,
            g->steps, g->iters, t, i);
    printf("ERROR system=tokengate call=%s rc=%d name=%s pattern=%s steps=%d iters=%" PRIu64
           " t=%d i=%d\n", call, rc, name, mg_pattern_names[g->pattern], g->steps,
           g->iters, t, i);
    fflush(stdout);
    return 1;
}

/* Submits every active task of step t, each after its inputs' tokens. */
static int submit_step(tg_ctx *c, const mg_graph *g, int t)
{
    for (int i = 0; i < mg_active(g, t); i++) {
        int deps[MG_MAX_DEPS], n = mg_deps(g, t, i, deps);
        tg_token after[MG_MAX_DEPS];
        for (int k = 0; k < n; k++) after[k] = c->prev[deps[k]];
        struct mg_cell a = { g, t, i };
        int rc = tg_submit_after(c->s, &cell_op, &a, sizeof a, after, (size_t)n, &c->cur[i]);
        if (rc != TG_OK) return tg_fail("tg_submit_after", g, t, i, rc);
    }
    return 0;
}

static int release_row(tg_ctx *c, const mg_graph *g, tg_token *row, int t)
{
    for (int i = 0; i < mg_active(g, t); i++) {
        int rc = tg_release(c->s, row[i]);
        if (rc != TG_OK) return tg_fail("tg_release", g, t, i, rc);
    }
    return 0;
}

/* Gathers the last step (whose handles are in c->prev), checks every
   outcome, releases the handles and waits for the detached rest. */
static int finish(tg_ctx *c, const mg_graph *g)
{
    int last = g->steps - 1, n = mg_active(g, last);
    int rc = tg_gather(c->s, c->prev, (size_t)n, -1, NULL, c->codes);
    if (rc != TG_OK) return tg_fail("tg_gather", g, last, -1, rc);
    for (int i = 0; i < n; i++)
        if (c->codes[i] != TG_OK) return tg_fail("tg_gather(outcome)", g, last, i, c->codes[i]);
    if (release_row(c, g, c->prev, last)) return 1;
    rc = tg_wait_idle(c->s, -1);
    if (rc != TG_OK) return tg_fail("tg_wait_idle", g, last, -1, rc);
    return 0;
}

static int run_tokengate(void *ctx, mg_graph *g)
{
    tg_ctx *c = (tg_ctx *)ctx;
    for (int t = 0; t < g->steps; t++) {
        if (submit_step(c, g, t)) return 1;
        if (t > 0 && release_row(c, g, c->prev, t - 1)) return 1;
        tg_token *swap = c->prev;
        c->prev = c->cur;
        c->cur = swap;
    }
    return finish(c, g);
}

int main(int argc, char **argv)
{
    mg_graph g = mg_parse(argc, argv, NULL);
    tg_ctx c;
    c.prev = (tg_token *)calloc((size_t)g.width, sizeof *c.prev);
    c.cur = (tg_token *)calloc((size_t)g.width, sizeof *c.cur);
    c.codes = (int *)calloc((size_t)g.width, sizeof *c.codes);
    if (!c.prev || !c.cur || !c.codes) return 2;
    int rc = tg_create(NULL, &c.s);
    if (rc != TG_OK) return tg_fail("tg_create", &g, -1, -1, rc);
    int bad = mg_main_loop("tokengate", &g, run_tokengate, &c);
    rc = tg_shutdown(c.s, TG_DRAIN, -1);
    if (rc != TG_OK) bad |= tg_fail("tg_shutdown", &g, -1, -1, rc);
    tg_destroy(c.s);
    free(c.prev), free(c.cur), free(c.codes);
    mg_free(&g);
    return bad;
}
