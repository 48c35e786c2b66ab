/* fuzz_http.c - libFuzzer harness for the monitor's HTTP request-head parser.
 *
 * Feeds the input to tg__http_parse and checks what must hold for any input
 * (a failed check prints its line and traps, so libFuzzer keeps the input):
 *  - the result is 0 (incomplete), a complete head of r <= len bytes, or one of
 *    the statuses the parser may answer with (400, 405, 413, 414, 431, 505);
 *  - a complete head: r == head_len, it ends with its first CRLF CRLF, every
 *    string field is NUL-terminated within its array; the parser is strict,
 *    so the head holds no NUL and no bare LF, the method is GET, and the
 *    request line is "GET " path ["?" query] " HTTP/1.0|1" as the fields say;
 *    header values kept have no control byte and no surrounding blanks;
 *  - 0 only while there is no CRLF CRLF and fewer than HEAD_MAX (8 KiB) bytes;
 *  - the same bytes give the same result and request again;
 *  - what a server sees when the bytes come in pieces: a prefix shorter than
 *    a complete head is incomplete (0), a prefix holding the whole head gives
 *    the same head, bytes after the head change nothing; a prefix of an
 *    incomplete input is incomplete; a prefix of a rejected input is never a
 *    complete head, and more bytes after a rejected input keep it rejected.
 * Every call parses its own exact-size copy, so AddressSanitizer reports any
 * read past the length given.
 *
 * Build (tests/fuzz/run.sh does this):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *         -pthread -I. tests/fuzz/fuzz_http.c
 */
#define TOKENGATE_IMPLEMENTATION
#define TOKENGATE_MONITOR
#include "tokengate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The header's head limit (its TG__HTTP_HEAD_MAX, undefined at the end of
   the implementation with the other private macros). */
#define HEAD_MAX 8192u

#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "fuzz_http.c:%d: invariant failed: %s\n", __LINE__, #c); \
            __builtin_trap();                                                     \
        }                                                                         \
    } while (0)

/* tg__http_parse on an exact-size copy of data[0..n) followed by extra[0..m). */
static int parse_copy(const uint8_t *data, size_t n, const uint8_t *extra, size_t m,
                      tg__http_request *req)
{
    char *buf = malloc(n + m ? n + m : 1);
    CHECK(buf != NULL);
    if (n) memcpy(buf, data, n);
    if (m) memcpy(buf + n, extra, m);
    memset(req, 0xA5, sizeof *req); /* no NUL anywhere unless the parser writes one */
    int r = tg__http_parse(buf, n + m, req);
    free(buf);
    return r;
}

static int terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

static void check_fields(const tg__http_request *q)
{
    CHECK(terminated(q->method, sizeof q->method));
    CHECK(terminated(q->path, sizeof q->path));
    CHECK(terminated(q->query, sizeof q->query));
    CHECK(terminated(q->ws_key, sizeof q->ws_key));
    CHECK(terminated(q->authorization, sizeof q->authorization));
    CHECK(!strcmp(q->method, "GET"));
    CHECK(q->path[0] == '/');
    CHECK(q->ws_version >= 0 && q->ws_version <= 999);
    CHECK(q->upgrade_websocket == 0 || q->upgrade_websocket == 1);
}

/* A header value as kept: no control byte but tab, nothing blank at the ends. */
static void check_value(const char *v)
{
    size_t n = strlen(v);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        CHECK((c >= 0x20 || c == '\t') && c != 0x7f);
    }
    CHECK(n == 0 || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t'));
}

/* The head [p, p+r) against the fields the parser filled. */
static void check_head(const uint8_t *p, size_t r, const tg__http_request *q)
{
    for (size_t i = 0; i < r; i++) {
        CHECK(p[i] != '\0');
        if (p[i] == '\n') CHECK(i > 0 && p[i - 1] == '\r');
    }
    size_t ml = strlen(q->method), pl = strlen(q->path), ql = strlen(q->query);
    CHECK(r > ml + pl + 1);
    CHECK(!memcmp(p, q->method, ml) && p[ml] == ' ');
    const uint8_t *t = p + ml + 1;
    CHECK(!memcmp(t, q->path, pl));
    t += pl;
    if (*t == '?') {
        CHECK((size_t)(t + 1 + ql - p) < r && !memcmp(t + 1, q->query, ql));
        t += 1 + ql;
    } else {
        CHECK(ql == 0);
    }
    CHECK((size_t)(t + 10 - p) <= r);
    CHECK(!memcmp(t, " HTTP/1.", 8) && (t[8] == '0' || t[8] == '1') && t[9] == '\r');
    check_value(q->ws_key);
    check_value(q->authorization);
}

static int same_request(const tg__http_request *a, const tg__http_request *b)
{
    return !strcmp(a->method, b->method) && !strcmp(a->path, b->path) &&
           !strcmp(a->query, b->query) && !strcmp(a->ws_key, b->ws_key) &&
           !strcmp(a->authorization, b->authorization) && a->ws_version == b->ws_version &&
           a->upgrade_websocket == b->upgrade_websocket && a->head_len == b->head_len;
}

static const uint8_t *find4(const uint8_t *p, size_t n, const char *s)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (!memcmp(p + i, s, 4)) return p + i;
    return NULL;
}

static uint64_t hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t tail[] = "GET / HTTP/1.1\r\n\r\n\r\n\n\0\xff";
    tg__http_request req, again;
    int r = parse_copy(data, size, NULL, 0, &req);

    if (r < 0)
        CHECK(r == -400 || r == -405 || r == -413 || r == -414 || r == -431 || r == -505);
    if (r > 0) {
        CHECK((size_t)r <= size);
        CHECK(req.head_len == (size_t)r);
        CHECK(r >= 4 && !memcmp(data + r - 4, "\r\n\r\n", 4));
        CHECK(find4(data, (size_t)r, "\r\n\r\n") == data + r - 4);
        check_fields(&req);
        check_head(data, (size_t)r, &req);
    }
    if (r == 0) CHECK(size < HEAD_MAX && find4(data, size, "\r\n\r\n") == NULL);

    /* The same bytes, the same answer. */
    CHECK(parse_copy(data, size, NULL, 0, &again) == r);
    if (r > 0) CHECK(same_request(&req, &again));

    /* More bytes after the input. */
    int ra = parse_copy(data, size, tail, sizeof tail - 1, &again);
    if (r > 0) CHECK(ra == r && same_request(&req, &again));
    if (r < 0) CHECK(ra < 0);

    /* The input as it may arrive: split points just before the end of the
       head, at the end of the input, and two that depend on the bytes. */
    uint64_t h = hash(data, size);
    size_t cut[8];
    size_t ncut = 0;
    cut[ncut++] = size ? size - 1 : 0;
    cut[ncut++] = (size_t)(h % (size + 1));
    cut[ncut++] = (size_t)((h >> 32) % (size + 1));
    if (r > 0)
        for (size_t back = 1; back <= 4; back++) cut[ncut++] = (size_t)r - back;
    for (size_t i = 0; i < ncut; i++) {
        size_t k = cut[i];
        int rk = parse_copy(data, k, NULL, 0, &again);
        if (r > 0 && k < (size_t)r) CHECK(rk == 0);
        if (r > 0 && k >= (size_t)r) CHECK(rk == r && same_request(&req, &again));
        if (r == 0) CHECK(rk == 0);
        if (r < 0) CHECK(rk <= 0);
    }
    return 0;
}
