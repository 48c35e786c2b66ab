/* main.c - runs every registered test (or those whose name contains argv[1])
   and ends with the line "N passed, N failed".

   Each test runs in a child process of its own (fork), so a crash, a
   sanitizer report or a hang fails that test, counted as one more failed
   check, and the run goes on. TG_TEST_NOFORK=1 runs the tests in this
   process instead (for a debugger); TG_TEST_TIMEOUT sets the seconds one
   test may take (default 120). */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define TH_MAX_TESTS 512

typedef struct th_test {
    const char *name;
    const char *file;
    th_test_fn fn;
} th_test;

static th_test th_tests[TH_MAX_TESTS];
static int th_test_count;
static int th_registration_overflow;

/* Pass and fail counts live in memory shared with the forked children, so
   the checks a test made before it crashed still count. */
typedef struct th_counts {
    atomic_llong passed;
    atomic_llong failed;
} th_counts;

static th_counts th_local_counts;
static th_counts *th_counts_p = &th_local_counts;
#define th_passed (th_counts_p->passed)
#define th_failed (th_counts_p->failed)
/* Index of the running test, -1 between tests. */
static atomic_int th_current = -1;
static pthread_mutex_t th_print_lock = PTHREAD_MUTEX_INITIALIZER;

void th_register(const char *name, th_test_fn fn, const char *file)
{
    if (th_test_count == TH_MAX_TESTS) {
        th_registration_overflow = 1;
        return;
    }
    th_tests[th_test_count].name = name;
    th_tests[th_test_count].file = file;
    th_tests[th_test_count].fn = fn;
    th_test_count++;
}

static const char *th_current_name(void)
{
    int i = atomic_load(&th_current);
    return i >= 0 ? th_tests[i].name : "(none)";
}

void th_check(int ok, const char *file, int line, const char *expr)
{
    if (ok) {
        atomic_fetch_add(&th_passed, 1);
        return;
    }
    atomic_fetch_add(&th_failed, 1);
    pthread_mutex_lock(&th_print_lock);
    printf("FAIL %s:%d: [%s] CHECK(%s)\n", file, line, th_current_name(), expr);
    fflush(stdout);
    pthread_mutex_unlock(&th_print_lock);
}

void th_check_eq(int ok, long long a, long long b, const char *file, int line,
                 const char *expr_a, const char *expr_b)
{
    if (ok) {
        atomic_fetch_add(&th_passed, 1);
        return;
    }
    atomic_fetch_add(&th_failed, 1);
    pthread_mutex_lock(&th_print_lock);
    printf("FAIL %s:%d: [%s] CHECK_EQ(%s, %s): %lld != %lld\n", file, line,
           th_current_name(), expr_a, expr_b, a, b);
    fflush(stdout);
    pthread_mutex_unlock(&th_print_lock);
}

static const char *th_code_name(int code)
{
    switch (code) {
#define TH__CODE_NAME(name, value, message) case value: return #name;
    TG_ERROR_LIST(TH__CODE_NAME)
#undef TH__CODE_NAME
    default: return "?";
    }
}

void th_check_rc(int got, int expected, const char *file, int line,
                 const char *expr)
{
    if (got == expected) {
        atomic_fetch_add(&th_passed, 1);
        return;
    }
    atomic_fetch_add(&th_failed, 1);
    pthread_mutex_lock(&th_print_lock);
    printf("FAIL %s:%d: [%s] %s returned %d (%s), expected %d (%s)\n", file,
           line, th_current_name(), expr, got, th_code_name(got), expected,
           th_code_name(expected));
    fflush(stdout);
    pthread_mutex_unlock(&th_print_lock);
}

void th_note(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&th_print_lock);
    printf("     note [%s]: ", th_current_name());
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&th_print_lock);
}

unsigned th_affinity_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return (unsigned)CPU_COUNT(&set);
}

/* Sanitizer builds: a UBSan report ends the test as a crash instead of
   scrolling by; TSan and ASan already exit non-zero on a report. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

/* Runs test i in a child process, so that a crash, a sanitizer report or a
   hang (SIGALRM after limit_s) fails that test and the run goes on. */
static void th_run_forked(int i, long limit_s)
{
    pid_t pid;
    int status = 0;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        printf("FAIL [%s] fork failed\n", th_tests[i].name);
        atomic_fetch_add(&th_failed, 1);
        return;
    }
    if (pid == 0) {
        alarm((unsigned)limit_s);
        th_tests[i].fn();
        fflush(stdout);
        exit(0);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }
    if (status == -1) {
        printf("FAIL [%s] waitpid failed\n", th_tests[i].name);
        atomic_fetch_add(&th_failed, 1);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGALRM)
            printf("FAIL [%s] still running after %ld s (hang?)\n",
                   th_tests[i].name, limit_s);
        else
            printf("FAIL [%s] crashed: signal %d (%s)\n", th_tests[i].name,
                   sig, strsignal(sig));
        atomic_fetch_add(&th_failed, 1);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        printf("FAIL [%s] exited with status %d (a sanitizer report?)\n",
               th_tests[i].name, WEXITSTATUS(status));
        atomic_fetch_add(&th_failed, 1);
    }
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *nofork = getenv("TG_TEST_NOFORK");
    int forked = !(nofork && *nofork && strcmp(nofork, "0") != 0);
    long limit_s = th_env_long("TG_TEST_TIMEOUT", 120);
    int ran = 0;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (forked) {
        void *shared = mmap(NULL, sizeof(th_counts), PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shared == MAP_FAILED) {
            forked = 0;
        } else {
            th_counts_p = shared;
            atomic_init(&th_counts_p->passed, 0);
            atomic_init(&th_counts_p->failed, 0);
        }
    }
    if (th_registration_overflow) {
        printf("FAIL more than %d tests registered\n", TH_MAX_TESTS);
        atomic_fetch_add(&th_failed, 1);
    }

    for (int i = 0; i < th_test_count; i++) {
        long long failed_before = atomic_load(&th_failed);
        int64_t t0;
        if (filter && !strstr(th_tests[i].name, filter)) continue;
        printf("run  %s\n", th_tests[i].name);
        t0 = th_now_ns();
        atomic_store(&th_current, i);
        if (forked) {
            th_run_forked(i, limit_s);
        } else {
            alarm((unsigned)limit_s);
            th_tests[i].fn();
            alarm(0);
        }
        atomic_store(&th_current, -1);
        printf("%s %s (%.0f ms)\n",
               atomic_load(&th_failed) == failed_before ? "ok  " : "FAIL",
               th_tests[i].name, (double)(th_now_ns() - t0) / 1e6);
        ran++;
    }
    if (ran == 0 && filter) {
        printf("FAIL no test name contains \"%s\"\n", filter);
        atomic_fetch_add(&th_failed, 1);
    }
    printf("%lld passed, %lld failed\n", atomic_load(&th_passed),
           atomic_load(&th_failed));
    fflush(stdout);
    return atomic_load(&th_failed) ? 1 : 0;
}
