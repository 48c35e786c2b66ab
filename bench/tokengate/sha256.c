/* sha256: the throughput of tg_sha256 against coreutils sha256sum on the
   same bytes. A deterministic pseudo-random buffer of SHA_BYTES (64 MiB;
   16 MiB with --quick) is written to a temporary file. The measured region
   of tokengate is one tg_sha256 call over the buffer in memory; that of
   sha256sum is one whole `sha256sum <file>` run (process start, reading the
   file from the page cache, hashing, printing), from before popen to after
   pclose. Each is run SHA_RUNS (5) times and the medians are reported:

     RESULT bench=sha256 impl=tokengate ok=<0|1> bytes=<n> seconds=<s>
            mb_per_s=<r> sha256sum_seconds=<s> sha256sum_mb_per_s=<r>
            ratio=<seconds / sha256sum_seconds>

   (one line; MB = 10^6 bytes; ratio below 1 means tg_sha256 is faster).
   Verified: every run of both gives the same digest. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
#include "../common/workload.h"

#define SHA_BYTES       ((size_t)64 << 20)
#define SHA_BYTES_QUICK ((size_t)16 << 20)
#define SHA_RUNS        5

static int sha_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double sha_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, sha_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Fills buf with splitmix64 output from a fixed seed. */
static void sha_fill(unsigned char *buf, size_t n)
{
    uint64_t state = 0x7368613235362d62ull;
    size_t i = 0;
    while (i < n) {
        uint64_t x = wl_splitmix64(&state);
        for (int k = 0; k < 8 && i < n; k++, i++) buf[i] = (unsigned char)(x >> (8 * k));
    }
}

/* Writes buf to a new temporary file; its path goes to path. 0 on success. */
static int sha_write_temp(const unsigned char *buf, size_t n, char *path, size_t cap)
{
    const char *base = getenv("TMPDIR");
    size_t done = 0;
    int fd;
    if (!base || !*base || strchr(base, '\'') || strlen(base) + 32 > cap) base = "/tmp";
    snprintf(path, cap, "%s/tg_bench_sha256_XXXXXX", base);
    fd = mkstemp(path);
    if (fd < 0) {
        path[0] = '\0';
        return -1;
    }
    while (done < n) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    return close(fd);
}

/* Runs `sha256sum path` once: its digest (64 hex digits) into hex and its
   wall time into *seconds. 0 when it ran and printed a digest. */
static int sha_run_sha256sum(const char *path, char hex[65], double *seconds)
{
    char cmd[600], line[512] = "", rest[512];
    FILE *p;
    int status, got;
    snprintf(cmd, sizeof cmd, "LC_ALL=C sha256sum '%s'", path);
    uint64_t t0 = wl_now_ns();
    p = popen(cmd, "r");
    if (!p) return -1;
    got = fgets(line, sizeof line, p) != NULL;
    while (fgets(rest, sizeof rest, p)) { }   /* drain (there is one line) */
    status = pclose(p);
    uint64_t t1 = wl_now_ns();
    *seconds = wl_seconds(t0, t1);
    if (!got || status != 0 || strlen(line) < 64) return -1;
    memcpy(hex, line, 64);
    hex[64] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    wl_args args = wl_parse_args(argc, argv);
    size_t n = args.quick ? SHA_BYTES_QUICK : SHA_BYTES;
    unsigned char *buf = (unsigned char *)malloc(n);
    double tg_s[SHA_RUNS], sum_s[SHA_RUNS];
    char path[512], want[65] = "", hex[65];
    uint8_t digest[32];
    int ok = 1;

    if (!buf) {
        fprintf(stderr, "sha256: out of memory\n");
        return 1;
    }
    sha_fill(buf, n);
    if (sha_write_temp(buf, n, path, sizeof path) != 0) {
        fprintf(stderr, "sha256: cannot write the temporary file\n");
        if (path[0]) unlink(path);
        free(buf);
        return 1;
    }

    for (int r = 0; r < SHA_RUNS; r++) {
        uint64_t t0 = wl_now_ns();
        tg_sha256(buf, n, digest);
        uint64_t t1 = wl_now_ns();
        tg_s[r] = wl_seconds(t0, t1);
        tg_sha256_hex(digest, hex);
        if (r == 0) memcpy(want, hex, sizeof want);
        else if (strcmp(hex, want) != 0) ok = wl_fail("sha256", "tg_sha256 runs disagree");
    }

    for (int r = 0; r < SHA_RUNS; r++) {
        if (sha_run_sha256sum(path, hex, &sum_s[r]) != 0) {
            ok = wl_fail("sha256", "sha256sum did not run or printed no digest");
            hex[0] = '\0';
        } else if (strcmp(hex, want) != 0) {
            fprintf(stderr, "sha256: sha256sum %s, tg_sha256 %s\n", hex, want);
            ok = wl_fail("sha256", "the digests differ");
        }
    }
    unlink(path);
    free(buf);

    double secs = sha_median(tg_s, SHA_RUNS);
    double sum_secs = sha_median(sum_s, SHA_RUNS);
    printf("RESULT bench=sha256 impl=tokengate ok=%d bytes=%llu seconds=%.6f mb_per_s=%.1f "
           "sha256sum_seconds=%.6f sha256sum_mb_per_s=%.1f ratio=%.3f\n",
           ok, (unsigned long long)n, secs, (double)n / secs * 1e-6, sum_secs,
           (double)n / sum_secs * 1e-6, secs / sum_secs);
    fflush(stdout);
    return wl_exit_code(ok);
}
