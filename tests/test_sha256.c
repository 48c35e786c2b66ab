/* test_sha256.c - SHA-256: the FIPS 180-4 example vectors, streaming in
   random chunk sizes, a thousand random inputs checked against coreutils
   sha256sum, and a message longer than 2^32 bits. */
#include "harness.h"

#include <unistd.h>

/* ------------------------------------------------------------- helpers */

static void sha_hex(const void *data, size_t len, char hex[65])
{
    uint8_t d[32];
    tg_sha256(data, len, d);
    tg_sha256_hex(d, hex);
}

/* CHECKs that got equals want (both 64 hex digits), naming what on a
   mismatch. */
static void sha_check_hex(const char *what, const char *got, const char *want)
{
    int same = strcmp(got, want) == 0;
    CHECK(same);
    if (!same) th_note("%s: got %s, want %s", what, got, want);
}

/* Hashes data through tg_sha256_update in chunks of 0..200 bytes drawn
   from *seed; a zero-length chunk passes NULL or the current position in
   turn. */
static void sha_stream_hex(const unsigned char *data, size_t len,
                           uint64_t *seed, char hex[65])
{
    tg_sha256_ctx ctx;
    uint8_t d[32];
    size_t off = 0;
    int empty_with_null = 0;

    tg_sha256_init(&ctx);
    while (off < len) {
        size_t n = (size_t)(th_rand(seed) % 201);
        if (n > len - off) n = len - off;
        if (n == 0) {
            empty_with_null = !empty_with_null;
            tg_sha256_update(&ctx, empty_with_null ? NULL : data + off, 0);
            continue;
        }
        tg_sha256_update(&ctx, data + off, n);
        off += n;
    }
    tg_sha256_update(&ctx, NULL, 0);
    tg_sha256_final(&ctx, d);
    tg_sha256_hex(d, hex);
}

/* The example messages of FIPS 180-4 (NIST's SHA-256 examples) with their
   digests; the last, one million 'a', is built by sha_vector_data. */
typedef struct sha_vector {
    const char *name;
    const char *msg;
    const char *digest;
} sha_vector;

#define SHA_MILLION 1000000u

static const sha_vector sha_vectors[] = {
    { "empty", "",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
    { "abc", "abc",
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
    { "448 bits",
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    { "896 bits",
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
      "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
    { "one million 'a'", NULL,
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" },
};

#define SHA_NVECTORS (sizeof sha_vectors / sizeof sha_vectors[0])

/* The bytes of vector v and their count; the caller frees *owned. */
static const unsigned char *sha_vector_data(const sha_vector *v, size_t *len,
                                            unsigned char **owned)
{
    *owned = NULL;
    if (v->msg) {
        *len = strlen(v->msg);
        return (const unsigned char *)v->msg;
    }
    *owned = (unsigned char *)malloc(SHA_MILLION);
    if (!*owned) {
        *len = 0;
        return NULL;
    }
    memset(*owned, 'a', SHA_MILLION);
    *len = SHA_MILLION;
    return *owned;
}

/* ---------------------------------------------------------- the vectors */

TG_TEST(sha256_fips_vectors)
{
    for (size_t i = 0; i < SHA_NVECTORS; i++) {
        unsigned char *owned;
        size_t len;
        const unsigned char *data = sha_vector_data(&sha_vectors[i], &len,
                                                    &owned);
        char hex[65];
        CHECK(data != NULL);
        if (!data) continue;
        sha_hex(data, len, hex);
        sha_check_hex(sha_vectors[i].name, hex, sha_vectors[i].digest);
        free(owned);
    }
}

TG_TEST(sha256_empty_input_and_null_arguments)
{
    static const char empty[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    tg_sha256_ctx ctx;
    uint8_t d[32], before[32];
    char hex[65];

    sha_hex(NULL, 0, hex);
    sha_check_hex("tg_sha256(NULL, 0)", hex, empty);
    sha_hex("x", 0, hex);
    sha_check_hex("tg_sha256(\"x\", 0)", hex, empty);

    tg_sha256_init(&ctx);
    tg_sha256_update(&ctx, NULL, 0);
    tg_sha256_final(&ctx, d);
    tg_sha256_hex(d, hex);
    sha_check_hex("init, update(NULL, 0), final", hex, empty);

    /* NULL pointers are no-ops, not crashes. */
    memset(d, 0x5A, sizeof d);
    memcpy(before, d, sizeof d);
    tg_sha256_init(NULL);
    tg_sha256_update(NULL, "abc", 3);
    tg_sha256_final(NULL, d);
    tg_sha256(NULL, 5, d);
    CHECK(memcmp(d, before, sizeof d) == 0);
    tg_sha256("abc", 3, NULL);
    tg_sha256_hex(NULL, hex);
    tg_sha256_hex(d, NULL);

    /* Hex output: lowercase, 64 digits, NUL-terminated. */
    for (int i = 0; i < 32; i++) d[i] = (uint8_t)(i * 8 + 7);
    memset(hex, 'X', sizeof hex);
    tg_sha256_hex(d, hex);
    sha_check_hex("hex of 07 0f 17 ...", hex,
                  "070f171f272f373f474f575f676f777f"
                  "878f979fa7afb7bfc7cfd7dfe7eff7ff");
    CHECK_EQ(strlen(hex), 64);
}

TG_TEST(sha256_context_reuse_after_final)
{
    tg_sha256_ctx ctx;
    uint8_t d[32];
    char hex[65];

    for (int round = 0; round < 3; round++) {
        tg_sha256_init(&ctx);
        tg_sha256_update(&ctx, "ab", 2);
        tg_sha256_update(&ctx, "c", 1);
        tg_sha256_final(&ctx, d);
        tg_sha256_hex(d, hex);
        sha_check_hex("abc in two updates", hex, sha_vectors[1].digest);
    }
}

/* ----------------------------------------------------------- streaming */

TG_TEST(sha256_streaming_matches_one_shot)
{
    uint64_t seed = 0x5348413235360001ull;

    for (size_t i = 0; i < SHA_NVECTORS; i++) {
        unsigned char *owned;
        size_t len;
        const unsigned char *data = sha_vector_data(&sha_vectors[i], &len,
                                                    &owned);
        char one[65], streamed[65];
        CHECK(data != NULL);
        if (!data) continue;
        sha_hex(data, len, one);
        for (int run = 0; run < 4; run++) {
            sha_stream_hex(data, len, &seed, streamed);
            sha_check_hex(sha_vectors[i].name, streamed, one);
        }
        sha_check_hex(sha_vectors[i].name, one, sha_vectors[i].digest);
        free(owned);
    }
}

TG_TEST(sha256_streaming_random_buffers)
{
    uint64_t seed = 0x5348413235360002ull;
    unsigned char *buf = (unsigned char *)malloc(5000);
    REQUIRE(buf != NULL);

    for (int k = 0; k < 200; k++) {
        size_t len = (size_t)(th_rand(&seed) % 5001);
        char one[65], streamed[65];
        for (size_t j = 0; j < len; j++)
            buf[j] = (unsigned char)th_rand(&seed);
        sha_hex(buf, len, one);
        sha_stream_hex(buf, len, &seed, streamed);
        CHECK(strcmp(one, streamed) == 0);
        /* A misaligned start exercises byte-wise word assembly. */
        if (len > 0) {
            sha_hex(buf + 1, len - 1, one);
            sha_stream_hex(buf + 1, len - 1, &seed, streamed);
            CHECK(strcmp(one, streamed) == 0);
        }
    }
    free(buf);
}

/* ------------------------------------------------ against sha256sum(1) */

#define SHA_FILES 1000
#define SHA_MAX_LEN 10000u
#define SHA_DIR_MAX 256   /* a temp dir's path, NUL included */
#define SHA_PATH_MAX 512  /* a file path inside it */

/* Writes len bytes to dir/name; 0 on success. */
static int sha_write_file(const char *dir, const char *name,
                          const unsigned char *data, size_t len)
{
    char path[SHA_PATH_MAX];
    FILE *f;
    int bad;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f) return -1;
    bad = len > 0 && fwrite(data, 1, len, f) != len;
    if (fclose(f) != 0) bad = 1;
    return bad ? -1 : 0;
}

/* Makes a fresh private directory under $TMPDIR (or /tmp) into dir. */
static int sha_make_tempdir(char dir[SHA_DIR_MAX])
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base || strchr(base, '\'') ||
        strlen(base) + 32 > SHA_DIR_MAX)
        base = "/tmp";
    snprintf(dir, SHA_DIR_MAX, "%s/tg_sha256_XXXXXX", base);
    return mkdtemp(dir) ? 0 : -1;
}

TG_TEST(sha256_random_inputs_match_sha256sum)
{
    static const size_t boundary[] = { 0, 1, 55, 56, 57, 63, 64, 65,
                                       119, 120, 127, 128, 129,
                                       SHA_MAX_LEN };
    const size_t nboundary = sizeof boundary / sizeof boundary[0];
    uint64_t seed = 0x5348413235360003ull;
    char dir[SHA_DIR_MAX];
    char (*want)[65] = (char (*)[65])malloc(SHA_FILES * sizeof *want);
    unsigned char *seen = (unsigned char *)calloc(SHA_FILES, 1);
    unsigned char *buf = (unsigned char *)malloc(SHA_MAX_LEN);
    char *cmd = NULL;
    size_t cmd_cap = 0, cmd_len;
    int files = 0, lines = 0, matched = 0, mismatched = 0, status;
    FILE *p;
    char line[4096];

    REQUIRE(want != NULL && seen != NULL && buf != NULL);
    REQUIRE(sha_make_tempdir(dir) == 0);

    /* The inputs: the boundary lengths first, then random lengths. */
    for (int i = 0; i < SHA_FILES; i++) {
        char name[32];
        size_t len = (size_t)i < nboundary
                         ? boundary[i]
                         : (size_t)(th_rand(&seed) % (SHA_MAX_LEN + 1));
        for (size_t j = 0; j < len; j++)
            buf[j] = (unsigned char)th_rand(&seed);
        snprintf(name, sizeof name, "f%04d", i);
        if (sha_write_file(dir, name, buf, len) != 0) break;
        sha_hex(buf, len, want[i]);
        files++;
    }
    CHECK_EQ(files, SHA_FILES);

    /* One sha256sum run over every file, names relative to dir. */
    cmd_cap = strlen(dir) + 64 + (size_t)files * 8;
    cmd = (char *)malloc(cmd_cap);
    if (cmd) {
        cmd_len = (size_t)snprintf(cmd, cmd_cap,
                                   "cd '%s' && LC_ALL=C sha256sum --", dir);
        for (int i = 0; i < files && cmd_len + 8 < cmd_cap; i++)
            cmd_len += (size_t)snprintf(cmd + cmd_len, cmd_cap - cmd_len,
                                        " f%04d", i);
        p = popen(cmd, "r");
        CHECK(p != NULL);
        if (p) {
            while (fgets(line, sizeof line, p)) {
                int idx;
                char tail;
                lines++;
                /* "<64 hex digits>  f<index>\n" */
                if (strlen(line) < 64 + 2 + 5 || line[64] != ' ' ||
                    line[65] != ' ' ||
                    sscanf(line + 66, "f%d%c", &idx, &tail) != 2 ||
                    tail != '\n' || idx < 0 || idx >= files || seen[idx]) {
                    mismatched++;
                    th_note("unexpected sha256sum line: %s", line);
                    continue;
                }
                seen[idx] = 1;
                line[64] = '\0';
                if (strcmp(line, want[idx]) == 0) {
                    matched++;
                } else {
                    mismatched++;
                    th_note("f%04d: sha256sum %s, tg_sha256 %s", idx, line,
                            want[idx]);
                }
            }
            status = pclose(p);
            CHECK_EQ(status, 0);
        }
    }
    CHECK(cmd != NULL);
    CHECK_EQ(lines, SHA_FILES);
    CHECK_EQ(matched, SHA_FILES);
    CHECK_EQ(mismatched, 0);

    /* Clean up the directory whatever happened above. */
    for (int i = 0; i < files; i++) {
        char path[SHA_PATH_MAX];
        snprintf(path, sizeof path, "%s/f%04d", dir, i);
        unlink(path);
    }
    CHECK_EQ(rmdir(dir), 0);
    free(cmd);
    free(buf);
    free(seen);
    free(want);
}

/* A message of 2^29 + 7 bytes, so its length in bits needs more than 32
   bits, checked against sha256sum reading the same bytes from a pipe. */
TG_TEST(sha256_length_over_2_32_bits_matches_sha256sum)
{
    const size_t total = ((size_t)1 << 29) + 7;
    const size_t chunk = (size_t)1 << 20;
    unsigned char *buf = (unsigned char *)malloc(chunk);
    char dir[SHA_DIR_MAX], out[SHA_PATH_MAX], cmd[SHA_PATH_MAX + 64];
    char got[128] = "", hex[65];
    tg_sha256_ctx ctx;
    uint8_t d[32];
    uint64_t seed = 0x5348413235360004ull;
    size_t done = 0;
    int write_ok = 1;
    FILE *p, *f;

    REQUIRE(buf != NULL);
    for (size_t j = 0; j < chunk; j++) buf[j] = (unsigned char)th_rand(&seed);
    REQUIRE(sha_make_tempdir(dir) == 0);
    snprintf(out, sizeof out, "%s/digest", dir);
    snprintf(cmd, sizeof cmd, "LC_ALL=C sha256sum > '%s'", out);

    p = popen(cmd, "w");
    CHECK(p != NULL);
    tg_sha256_init(&ctx);
    while (done < total) {
        /* Odd-sized pieces, so block boundaries fall mid-update. */
        size_t n = total - done < chunk - 13 ? total - done : chunk - 13;
        tg_sha256_update(&ctx, buf + (done % 13), n);
        if (p && write_ok && fwrite(buf + (done % 13), 1, n, p) != n)
            write_ok = 0;
        done += n;
    }
    tg_sha256_final(&ctx, d);
    tg_sha256_hex(d, hex);
    CHECK(write_ok);
    if (p) CHECK_EQ(pclose(p), 0);

    f = fopen(out, "r");
    CHECK(f != NULL);
    if (f) {
        if (!fgets(got, sizeof got, f)) got[0] = '\0';
        fclose(f);
    }
    CHECK(strlen(got) >= 64);
    got[64] = '\0';
    sha_check_hex("2^29 + 7 bytes", hex, got);

    unlink(out);
    CHECK_EQ(rmdir(dir), 0);
    free(buf);
}
