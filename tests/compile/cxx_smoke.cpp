// The header and its implementation compiled as C++: a few tokens, one nested
// wait, and the harness's closing line.
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"

#include <atomic>
#include <cstdio>

static tg_scheduler *sched;
static int passed, failed;

static void check(bool ok, const char *what)
{
    if (ok) passed++;
    else { failed++; std::printf("FAIL %s\n", what); }
}

static int add_one(const void *args, tg_value *result)
{
    result->i = *static_cast<const int *>(args) + 1;
    return 0;
}

static int fib(const void *args, tg_value *result);
static tg_op make_op(const char *name, tg_fn fn)
{
    tg_op op = tg_op();
    op.name = name;
    op.fn = fn;
    return op;
}
static const tg_op add_one_op = make_op("add_one", add_one);
static const tg_op fib_op = make_op("fib", fib);

static int fib(const void *args, tg_value *result)
{
    int n = *static_cast<const int *>(args);
    if (n < 2) { result->i = n; return 0; }
    int a = n - 1, b = n - 2;
    tg_token ta, tb;
    tg_value va, vb;
    if (tg_submit(sched, &fib_op, &a, sizeof a, &ta) != TG_OK) return 1;
    if (tg_submit(sched, &fib_op, &b, sizeof b, &tb) != TG_OK) return 1;
    int rc = tg_wait(sched, ta, -1, &va) | tg_wait(sched, tb, -1, &vb);
    tg_release(sched, ta);
    tg_release(sched, tb);
    result->i = va.i + vb.i;
    return rc;
}

int main()
{
    check(tg_create(nullptr, &sched) == TG_OK, "create");
    tg_token tokens[64];
    int args[64];
    for (int i = 0; i < 64; i++) {
        args[i] = i;
        check(tg_submit(sched, &add_one_op, &args[i], sizeof args[i], &tokens[i]) == TG_OK, "submit");
    }
    check(tg_wait_all(sched, tokens, 64, -1) == TG_OK, "wait_all");
    long sum = 0;
    for (int i = 0; i < 64; i++) {
        tg_value v;
        check(tg_wait(sched, tokens[i], 0, &v) == TG_OK, "result");
        sum += v.i;
        check(tg_release(sched, tokens[i]) == TG_OK, "release");
    }
    check(sum == 64 * 65 / 2, "sum of results");
    int n = 15;
    tg_token t;
    tg_value v;
    check(tg_submit(sched, &fib_op, &n, sizeof n, &t) == TG_OK, "submit fib");
    check(tg_wait(sched, t, -1, &v) == TG_OK && v.i == 610, "fib(15) == 610");
    check(tg_release(sched, t) == TG_OK, "release fib");
    check(tg_release(sched, t) == TG_ESTALE, "double release is stale");
    check(tg_self().bits == TG_TOKEN_NONE.bits, "no token outside a task");
    check(tg_shutdown(sched, TG_DRAIN, -1) == TG_OK, "shutdown");
    tg_destroy(sched);
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
