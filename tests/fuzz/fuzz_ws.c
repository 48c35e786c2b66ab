/* fuzz_ws.c - libFuzzer harness for the monitor's WebSocket frame parser.
 *
 * Reads the input as a run of client frames: tg__ws_parse (max_payload 4096)
 * on what is left, frame after frame while whole frames come back. For each
 * call it checks what must hold for any input (a failed check prints its line
 * and traps, so libFuzzer keeps the input):
 *  - the result is 0 (incomplete), a whole frame of r <= len bytes, or a close
 *    code to send (1002 protocol error, 1009 too big);
 *  - a whole frame agrees with RFC 6455 framing read independently from its
 *    bytes: header_len in 2..14 and masked (client frames must be), r ==
 *    header_len + payload_len, payload_len <= max_payload, fin, opcode and
 *    mask as written, the shortest length form, reserved bits clear, a known
 *    opcode, control frames (opcode >= 8) final and of at most 125 bytes;
 *  - 0 only while the frame is not all there yet;
 *  - the same bytes give the same answer, with bytes appended too (for a whole
 *    frame and for an error); a prefix gives 0 until the whole frame is in
 *    it (then that frame), or, for an error, 0 or that error;
 *  - tg__ws_unmask XORs with the mask, gives the same bytes whether the payload
 *    is done at once or in two pieces (with offset), and undoes itself;
 *  - tg__utf8_sequence across the unmasked payload never claims more bytes than
 *    are left and agrees with a plain UTF-8 decoder.
 * Every call works on its own exact-size copy, so AddressSanitizer reports any
 * read past the length given.
 *
 * Build (tests/fuzz/run.sh does this):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *         -pthread -I. tests/fuzz/fuzz_ws.c
 */
#define TOKENGATE_IMPLEMENTATION
#define TOKENGATE_MONITOR
#include "tokengate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "fuzz_ws.c:%d: invariant failed: %s\n", __LINE__, #c); \
            __builtin_trap();                                                   \
        }                                                                       \
    } while (0)

#define MAX_PAYLOAD 4096

static uint64_t hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* tg__ws_parse on an exact-size copy of data[0..n) followed by extra[0..m). */
static int parse_copy(const uint8_t *data, size_t n, const uint8_t *extra, size_t m,
                      tg__ws_frame *f)
{
    uint8_t *buf = malloc(n + m ? n + m : 1);
    CHECK(buf != NULL);
    if (n) memcpy(buf, data, n);
    if (m) memcpy(buf + n, extra, m);
    memset(f, 0xA5, sizeof *f);
    int r = tg__ws_parse(buf, n + m, MAX_PAYLOAD, f);
    free(buf);
    return r;
}

static int same_frame(const tg__ws_frame *a, const tg__ws_frame *b)
{
    return a->fin == b->fin && a->opcode == b->opcode && a->payload_len == b->payload_len &&
           a->header_len == b->header_len && !memcmp(a->mask, b->mask, 4);
}

/* The frame's header read straight from RFC 6455, 5.2: 0 if fewer than the
   header's bytes are there, else its length (mask included when the mask
   bit is set), with the payload length in *plen. */
static size_t ref_header(const uint8_t *p, size_t n, uint64_t *plen)
{
    if (n < 2) return 0;
    size_t hl = 2;
    uint64_t len = p[1] & 0x7F;
    if (len == 126) {
        if (n < 4) return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        hl = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
        hl = 10;
    }
    if (p[1] & 0x80) hl += 4;
    if (n < hl) return 0;
    *plen = len;
    return hl;
}

/* A plain UTF-8 decoder: the length of the well-formed sequence at p, 0 if
   ill-formed or cut short. */
static size_t ref_utf8(const uint8_t *p, size_t n)
{
    static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (!n) return 0;
    uint32_t cp = p[0];
    size_t need;
    if (cp < 0x80) return 1;
    if ((cp & 0xE0) == 0xC0) { need = 2; cp &= 0x1F; }
    else if ((cp & 0xF0) == 0xE0) { need = 3; cp &= 0x0F; }
    else if ((cp & 0xF8) == 0xF0) { need = 4; cp &= 0x07; }
    else return 0;
    if (n < need) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return need;
}

static void check_payload(const uint8_t *masked, size_t n, const uint8_t mask[4], uint64_t h)
{
    uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    CHECK(a && b);
    if (n) { memcpy(a, masked, n); memcpy(b, masked, n); }

    tg__ws_unmask(a, n, mask, 0);
    for (size_t i = 0; i < n; i++) CHECK(a[i] == (uint8_t)(masked[i] ^ mask[i & 3]));

    size_t s = n ? (size_t)(h % (n + 1)) : 0;
    tg__ws_unmask(b, s, mask, 0);
    tg__ws_unmask(b + s, n - s, mask, s);
    CHECK(!n || !memcmp(a, b, n));

    tg__ws_unmask(b, n, mask, 0);
    CHECK(!n || !memcmp(b, masked, n));

    for (size_t i = 0; i < n;) {
        size_t k = tg__utf8_sequence(a + i, n - i);
        CHECK(k <= n - i && k <= 4);
        CHECK(k == ref_utf8(a + i, n - i));
        i += k ? k : 1;
    }
    free(a);
    free(b);
}

/* Parses the frame at the start of p[0..n), checks it; returns the result. */
static int check_frame(const uint8_t *p, size_t n)
{
    static const uint8_t tail[] = "\x81\x85\x01\x02\x03\x04hello\xff\x00\x7f";
    tg__ws_frame f, g;
    int r = parse_copy(p, n, NULL, 0, &f);
    uint64_t plen = 0;
    size_t hl = ref_header(p, n, &plen);

    if (r < 0) CHECK(r == -1002 || r == -1009);
    if (r > 0) {
        CHECK((size_t)r <= n);
        CHECK(f.header_len >= 2 && f.header_len <= 14);
        CHECK((uint64_t)r == f.header_len + f.payload_len);
        CHECK(f.payload_len <= MAX_PAYLOAD);
        CHECK(hl == f.header_len && plen == f.payload_len);
        if ((p[1] & 0x7F) == 126) CHECK(plen >= 126);   /* the shortest length form */
        if ((p[1] & 0x7F) == 127) CHECK(plen > 0xFFFF);
        CHECK(p[1] & 0x80);
        CHECK(!memcmp(f.mask, p + f.header_len - 4, 4));
        CHECK(f.fin == !!(p[0] & 0x80));
        CHECK(f.opcode == (p[0] & 0x0F));
        CHECK((p[0] & 0x70) == 0);
        CHECK(f.opcode <= 2 || (f.opcode >= 8 && f.opcode <= 10));
        if (f.opcode >= 8) CHECK(f.payload_len <= 125 && f.fin);
    }
    if (r == 0) CHECK(hl == 0 || plen > n - hl);

    uint64_t h = hash(p, n);

    /* The same bytes, the same answer; appended bytes change nothing once
       the frame or the error is known. */
    CHECK(parse_copy(p, n, NULL, 0, &g) == r);
    if (r > 0) CHECK(same_frame(&f, &g));
    int ra = parse_copy(p, n, tail, sizeof tail - 1, &g);
    if (r != 0) CHECK(ra == r);
    if (r > 0) CHECK(same_frame(&f, &g));

    /* Prefixes, as the frame may arrive: incomplete, or already the error. */
    size_t cut[6];
    size_t ncut = 0;
    cut[ncut++] = n ? n - 1 : 0;
    cut[ncut++] = (size_t)(h % (n + 1));
    cut[ncut++] = n < 2 ? n : 2;
    if (r > 0) {
        cut[ncut++] = f.header_len - 1;
        cut[ncut++] = f.header_len;
        cut[ncut++] = (size_t)r - 1;
    }
    for (size_t i = 0; i < ncut; i++) {
        size_t k = cut[i];
        if (k >= n) continue;
        int rk = parse_copy(p, k, NULL, 0, &g);
        if (r > 0) CHECK(k < (size_t)r ? rk == 0 : rk == r);
        else if (r == 0) CHECK(rk == 0);
        else CHECK(rk == 0 || rk == r);
    }

    if (r > 0) check_payload(p + f.header_len, (size_t)f.payload_len, f.mask, h >> 17);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    for (int frames = 0; off < size && frames < 64; frames++) {
        int r = check_frame(data + off, size - off);
        if (r <= 0) break;
        off += (size_t)r;
    }
    /* tg__utf8_sequence on the raw bytes too, each start given only what is left. */
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    if (size) memcpy(copy, data, size);
    for (size_t i = 0; i < size; i++) {
        size_t k = tg__utf8_sequence(copy + i, size - i);
        CHECK(k <= size - i && k == ref_utf8(copy + i, size - i));
    }
    free(copy);
    return 0;
}
