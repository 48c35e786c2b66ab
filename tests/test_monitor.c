/* test_monitor.c - a C client speaking HTTP/1.1 and WebSocket to the monitor:
   the page, the token on /stats.json and /metrics, the handshake (checked
   against RFC 6455's worked example), live stats frames, each control, a
   refused token, and a battery of malformed requests and frames that must
   get a 4xx or a close, after which the scheduler and the server still work. */
#define TOKENGATE_MONITOR
#include "harness.h"

#include <sys/resource.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MT_TOKEN "monitor-test-token"

static int mt_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    return fd;
}

static int mt_send(int fd, const void *p, size_t n)
{
    const char *c = (const char *)p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the server closes (or 5 s pass); returns the bytes read. */
static size_t mt_read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

/* One whole request on a fresh connection; the status code, the body in
   body (NUL-terminated), -1 if no answer came. */
static int mt_request(int port, const char *request, size_t request_len, char *body, size_t cap)
{
    static char buf[1 << 20];
    int fd = mt_connect(port);
    if (fd < 0) return -1;
    mt_send(fd, request, request_len);
    size_t n = mt_read_all(fd, buf, sizeof buf);
    close(fd);
    int status = -1;
    if (n >= 12 && memcmp(buf, "HTTP/1.1 ", 9) == 0) status = atoi(buf + 9);
    if (body && cap) {
        const char *b = strstr(buf, "\r\n\r\n");
        snprintf(body, cap, "%s", b ? b + 4 : "");
    }
    return status;
}

static int mt_get(int port, const char *target, const char *extra, char *body, size_t cap)
{
    char req[1024];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", target, extra ? extra : "");
    return mt_request(port, req, (size_t)n, body, cap);
}

/* ---- a WebSocket client ---- */

static int mt_ws_open(int port, char *accept, size_t cap)
{
    int fd = mt_connect(port);
    if (fd < 0) return -1;
    /* RFC 6455 section 1.3's example key */
    const char *req = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    mt_send(fd, req, strlen(req));
    char head[1024];
    size_t n = 0;
    while (n + 1 < sizeof head) {       /* byte by byte up to the blank line */
        if (recv(fd, head + n, 1, 0) != 1) break;
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0) break;
    }
    head[n] = '\0';
    if (strncmp(head, "HTTP/1.1 101 ", 13) != 0) { close(fd); return -1; }
    const char *a = strstr(head, "Sec-WebSocket-Accept: ");
    if (accept) snprintf(accept, cap, "%.28s", a ? a + 22 : "");
    return fd;
}

/* Sends one frame; masked unless told otherwise; first byte given whole. */
static int mt_ws_send_raw(int fd, unsigned first, const void *payload, size_t n, int masked)
{
    uint8_t frame[16 + 8192];
    size_t h = 0;
    frame[h++] = (uint8_t)first;
    uint8_t m = masked ? 0x80 : 0;
    if (n < 126) frame[h++] = (uint8_t)(m | n);
    else if (n <= 0xffff) { frame[h++] = m | 126; frame[h++] = (uint8_t)(n >> 8); frame[h++] = (uint8_t)n; }
    else { frame[h++] = m | 127; for (int k = 7; k >= 0; k--) frame[h++] = (uint8_t)((uint64_t)n >> (8 * k)); }
    const uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
    if (masked) { memcpy(frame + h, key, 4); h += 4; }
    if (n > 8192) return -1;
    for (size_t i = 0; i < n; i++) frame[h + i] = (uint8_t)(((const uint8_t *)payload)[i] ^ (masked ? key[i & 3] : 0));
    return mt_send(fd, frame, h + n);
}

static int mt_ws_text(int fd, const char *text) { return mt_ws_send_raw(fd, 0x81, text, strlen(text), 1); }

static int mt_recv_exact(int fd, void *p, size_t n)
{
    char *c = (char *)p;
    while (n) {
        ssize_t r = recv(fd, c, n, 0);
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Receives one server frame: its opcode (-1 on EOF or timeout), payload in
   buf (NUL-terminated, cut at cap). */
static int mt_ws_recv(int fd, char *buf, size_t cap, size_t *len)
{
    uint8_t h[2];
    if (mt_recv_exact(fd, h, 2) != 0) return -1;
    if (h[1] & 0x80) return -1;            /* a server never masks */
    uint64_t n = h[1] & 0x7f;
    if (n == 126) { uint8_t e[2]; if (mt_recv_exact(fd, e, 2)) return -1; n = (uint64_t)e[0] << 8 | e[1]; }
    else if (n == 127) { uint8_t e[8]; if (mt_recv_exact(fd, e, 8)) return -1; n = 0; for (int k = 0; k < 8; k++) n = n << 8 | e[k]; }
    size_t kept = 0;
    for (uint64_t i = 0; i < n; i++) {
        char c;
        if (mt_recv_exact(fd, &c, 1) != 0) return -1;
        if (kept + 1 < cap) buf[kept++] = c;
    }
    buf[kept] = '\0';
    if (len) *len = kept;
    return h[0] & 0x0f;
}

/* Receives frames until a text frame holding needle; 1 if found. */
static int mt_ws_expect(int fd, const char *needle, char *buf, size_t cap)
{
    for (int i = 0; i < 50; i++) {
        int op = mt_ws_recv(fd, buf, cap, NULL);
        if (op < 0) return 0;
        if (op == 1 && strstr(buf, needle)) return 1;
        if (op == 8) return 0;
    }
    return 0;
}

/* Receives frames until a close; its code, -1 if none came. */
static int mt_ws_close_code(int fd)
{
    char buf[256];
    size_t n = 0;
    for (int i = 0; i < 50; i++) {
        int op = mt_ws_recv(fd, buf, sizeof buf, &n);
        if (op < 0) return -1;
        if (op == 8) return n >= 2 ? ((unsigned char)buf[0] << 8 | (unsigned char)buf[1]) : 1005;
    }
    return -1;
}

static int mt_start(tg_scheduler *s, tg_monitor **m, unsigned max_conns, unsigned timeout_ms)
{
    tg_monitor_options o;
    memset(&o, 0, sizeof o);
    o.port = TG_MONITOR_ANY_PORT;
    o.access_token = MT_TOKEN;
    o.interval_ms = 100;
    o.max_connections = max_conns;
    o.client_timeout_ms = timeout_ms;
    o.quiet = 1;
    return tg_monitor_start(s, &o, m);
}

TG_TEST(monitor_bad_options)
{
    tg_scheduler *s;
    tg_monitor *m = (tg_monitor *)1;
    tg_monitor_options o;
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    CHECK_RC(tg_monitor_start(s, NULL, NULL), TG_EINVAL);
    CHECK_RC(tg_monitor_start(NULL, NULL, &m), TG_EINVAL);
    CHECK(m == NULL);
    memset(&o, 0, sizeof o);
    o.port = 70000;
    CHECK_RC(tg_monitor_start(s, &o, &m), TG_EINVAL);
    o.port = TG_MONITOR_ANY_PORT;
    o.address = "localhost:80";
    CHECK_RC(tg_monitor_start(s, &o, &m), TG_EINVAL);
    o.address = NULL;
    o.access_token = "";
    CHECK_RC(tg_monitor_start(s, &o, &m), TG_EINVAL);
    o.access_token = "has space";
    CHECK_RC(tg_monitor_start(s, &o, &m), TG_EINVAL);
    o.access_token = NULL;
    o.interval_ms = 10;
    CHECK_RC(tg_monitor_start(s, &o, &m), TG_EINVAL);
    o.interval_ms = 0;
    o.max_connections = 5000;
    CHECK_RC(tg_monitor_start(s, &o, &m), TG_EINVAL);
    o.max_connections = 0;
    o.quiet = 1;
    /* a generated token: 32 hex digits */
    REQUIRE(tg_monitor_start(s, &o, &m) == TG_OK);
    const char *token = tg_monitor_token(m);
    CHECK(token && strlen(token) == 32 && strspn(token, "0123456789abcdef") == 32);
    CHECK(tg_monitor_port(m) > 0);
    /* the same port twice: the second cannot bind */
    tg_monitor *second = NULL;
    o.port = tg_monitor_port(m);
    CHECK_RC(tg_monitor_start(s, &o, &second), TG_ESYSTEM);
    tg_monitor_stop(m);
    tg_monitor_stop(NULL);
    tg_destroy(s);
}

TG_TEST(monitor_serves_page_json_and_metrics_behind_the_token)
{
    tg_scheduler *s;
    tg_monitor *m;
    static char body[1 << 20];
    const tg_op op = { .name = "served", .fn = th_nop_fn };
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    for (int i = 0; i < 50; i++) CHECK_RC(tg_submit(s, &op, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    REQUIRE(mt_start(s, &m, 0, 0) == TG_OK);
    int port = tg_monitor_port(m);
    CHECK_EQ(mt_get(port, "/", NULL, body, sizeof body), 200);
    CHECK(strstr(body, "<!DOCTYPE html>") == body);
    CHECK(strstr(body, "id='token'") != NULL);
    CHECK(strstr(body, "</html>") != NULL);
    CHECK(strstr(body, "http://") == NULL && strstr(body, "https://") == NULL);   /* no external asset */
    CHECK_EQ(mt_get(port, "/stats.json", NULL, body, sizeof body), 401);
    CHECK_EQ(mt_get(port, "/stats.json", "Authorization: Bearer wrong\r\n", body, sizeof body), 401);
    CHECK_EQ(mt_get(port, "/stats.json?token=" MT_TOKEN "x", NULL, body, sizeof body), 401);
    CHECK_EQ(mt_get(port, "/metrics", NULL, body, sizeof body), 401);
    CHECK_EQ(mt_get(port, "/stats.json", "Authorization: Bearer " MT_TOKEN "\r\n", body, sizeof body), 200);
    CHECK(strstr(body, "\"submitted\":50,") != NULL);
    CHECK(strstr(body, "\"name\":\"served\"") != NULL);
    CHECK_EQ(mt_get(port, "/metrics?x=1&token=" MT_TOKEN, NULL, body, sizeof body), 200);
    CHECK(strstr(body, "tokengate_tokens_submitted_total 50\n") != NULL);
    CHECK(strstr(body, "tokengate_op_runs_total{op=\"served\",result=\"success\"} 50\n") != NULL);
    CHECK_EQ(mt_get(port, "/nothing-here", NULL, body, sizeof body), 404);
    tg_monitor_stop(m);
    tg_destroy(s);
}

static int mt_slow(const void *args, tg_value *result)
{
    (void)args;
    (void)result;
    th_sleep_us(200);
    return 0;
}

TG_TEST(monitor_websocket_frames_and_controls)
{
    tg_scheduler *s;
    tg_monitor *m;
    char buf[1 << 16], accept[64];
    const tg_op op = { .name = "ctl op", .fn = mt_slow };
    struct tg_op_stats os;
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    REQUIRE(mt_start(s, &m, 0, 0) == TG_OK);
    int port = tg_monitor_port(m);

    /* the handshake's accept value is RFC 6455's */
    int fd = mt_ws_open(port, accept, sizeof accept);
    REQUIRE(fd >= 0);
    CHECK(strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    /* a control before auth: refused, closed with 1008 */
    CHECK_EQ(mt_ws_text(fd, "pause ctl op"), 0);
    CHECK(mt_ws_expect(fd, "\"type\":\"error\"", buf, sizeof buf));
    CHECK_EQ(mt_ws_close_code(fd), 1008);
    close(fd);
    /* a wrong token: refused, closed with 1008 */
    fd = mt_ws_open(port, NULL, 0);
    REQUIRE(fd >= 0);
    CHECK_EQ(mt_ws_text(fd, "auth " MT_TOKEN "0"), 0);
    CHECK(mt_ws_expect(fd, "{\"type\":\"auth\",\"ok\":false}", buf, sizeof buf));
    CHECK_EQ(mt_ws_close_code(fd), 1008);
    close(fd);

    fd = mt_ws_open(port, NULL, 0);
    REQUIRE(fd >= 0);
    CHECK_EQ(mt_ws_text(fd, "auth " MT_TOKEN), 0);
    CHECK(mt_ws_expect(fd, "{\"type\":\"auth\",\"ok\":true}", buf, sizeof buf));
    CHECK(mt_ws_expect(fd, "\"type\":\"stats\"", buf, sizeof buf));
    /* live: frames keep coming, and show tokens submitted meanwhile */
    for (int i = 0; i < 30; i++) CHECK_RC(tg_submit(s, &op, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK(mt_ws_expect(fd, "\"submitted\":30,", buf, sizeof buf));
    CHECK(mt_ws_expect(fd, "\"name\":\"ctl op\",\"attempts\":30,", buf, sizeof buf));
    /* ping: a pong with the same payload */
    CHECK_EQ(mt_ws_send_raw(fd, 0x89, "are you there", 13, 1), 0);
    int op_code = 0;
    for (int i = 0; i < 20 && op_code != 0xA; i++) op_code = mt_ws_recv(fd, buf, sizeof buf, NULL);
    CHECK_EQ(op_code, 0xA);
    CHECK(strcmp(buf, "are you there") == 0);

    /* each control, applied to the scheduler */
    CHECK_EQ(mt_ws_text(fd, "pause ctl op"), 0);
    CHECK(mt_ws_expect(fd, "{\"type\":\"reply\",\"cmd\":\"pause\",\"rc\":0,\"op\":\"ctl op\"", buf, sizeof buf));
    CHECK_RC(tg_op_stats(s, "ctl op", &os), TG_OK);
    CHECK_EQ(os.paused, 1);
    CHECK(mt_ws_expect(fd, "\"name\":\"ctl op\",\"attempts\":30,\"successes\":30,\"failures\":0,\"retried\":0,"
                           "\"failed\":0,\"killed\":0,\"timed_out\":0,\"health\":\"excellent\",\"paused\":true",
                       buf, sizeof buf));
    /* held tokens, then drained: they end killed without running */
    tg_token held[3];
    for (int i = 0; i < 3; i++) CHECK_RC(tg_submit(s, &op, NULL, 0, &held[i]), TG_OK);
    th_sleep_ms(50);
    CHECK_EQ(mt_ws_text(fd, "drain ctl op"), 0);
    CHECK(mt_ws_expect(fd, "\"cmd\":\"drain\",\"rc\":0,", buf, sizeof buf));
    for (int i = 0; i < 3; i++) {
        CHECK_RC(tg_wait(s, held[i], TH_LONG_NS, NULL), TG_EKILLED);
        tg_release(s, held[i]);
    }
    CHECK_EQ(mt_ws_text(fd, "resume ctl op"), 0);
    CHECK(mt_ws_expect(fd, "\"cmd\":\"resume\",\"rc\":0,", buf, sizeof buf));
    CHECK_RC(tg_op_stats(s, "ctl op", &os), TG_OK);
    CHECK_EQ(os.paused, 0);
    CHECK_EQ(os.killed, 3);
    CHECK_EQ(os.attempts, 30);
    /* kill stops a running token */
    th_gate gate;
    tg_token gt;
    th_gate_init(&gate, 1);
    REQUIRE(th_submit_gate(s, &th_gate_op, &gate, &gt) == TG_OK);
    CHECK(th_gate_wait_entered(&gate, 1));
    CHECK_EQ(mt_ws_text(fd, "kill gate"), 0);
    CHECK(mt_ws_expect(fd, "\"cmd\":\"kill\",\"rc\":0,", buf, sizeof buf));
    CHECK_RC(tg_wait(s, gt, TH_LONG_NS, NULL), TG_EKILLED);
    tg_release(s, gt);
    CHECK_EQ(mt_ws_text(fd, "unblock ctl op"), 0);
    CHECK(mt_ws_expect(fd, "\"cmd\":\"unblock\",\"rc\":0,", buf, sizeof buf));
    /* errors come back as replies, the connection stays */
    CHECK_EQ(mt_ws_text(fd, "pause no such op"), 0);
    CHECK(mt_ws_expect(fd, "\"cmd\":\"pause\",\"rc\":-15,\"op\":\"no such op\"", buf, sizeof buf));
    CHECK_EQ(mt_ws_text(fd, "pause"), 0);
    CHECK(mt_ws_expect(fd, "\"cmd\":\"pause\",\"rc\":-1,\"op\":null,\"error\":\"give one op name or id\"", buf, sizeof buf));
    CHECK_EQ(mt_ws_text(fd, "explode everything"), 0);
    CHECK(mt_ws_expect(fd, "\"cmd\":\"?\",\"rc\":-1,\"op\":null,\"error\":\"unknown command\"", buf, sizeof buf));
    CHECK(mt_ws_expect(fd, "\"type\":\"stats\"", buf, sizeof buf));
    /* a close is answered with the same code */
    CHECK_EQ(mt_ws_send_raw(fd, 0x88, "\x03\xe8", 2, 1), 0);
    CHECK_EQ(mt_ws_close_code(fd), 1000);
    close(fd);
    tg_monitor_stop(m);
    tg_destroy(s);
}

/* A lead that leaves `n` gated members behind it (they run on its core
   one at a time, after it). */
static th_gate mt_scope_gate;
static int mt_scope_member(const void *args, tg_value *result)
{
    (void)args;
    const th_gate *g = &mt_scope_gate;
    return th_gate_fn(&g, result);
}
static const tg_op mt_scope_member_op = { .name = "scope member", .fn = mt_scope_member };
static int mt_scope_lead(const void *args, tg_value *result)
{
    for (int i = 0; i < *(const int *)args; i++)
        if (tg_submit(tg_current_scheduler(), &mt_scope_member_op, NULL, 0, NULL) != TG_OK) return 1;
    result->i = 0;
    return 0;
}
static const char *const mt_scope_calls[] = { "db.read", NULL };
static const tg_op mt_scope_lead_op = { .name = "scope lead", .fn = mt_scope_lead, .external_calls = mt_scope_calls };

/* Open groups and domains are rows of the stats; kill-group and
   kill-domain stop them as tg_group_cancel and a kill of the lead do. */
TG_TEST(monitor_rows_and_kills_of_groups_and_domains)
{
    tg_scheduler *s;
    tg_monitor *m;
    char buf[1 << 16], want[256];
    tg_config cfg = { .workers = 2, .no_pin = 1 };
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(mt_start(s, &m, 0, 0) == TG_OK);
    int fd = mt_ws_open(tg_monitor_port(m), NULL, 0);
    REQUIRE(fd >= 0);
    CHECK_EQ(mt_ws_text(fd, "auth " MT_TOKEN), 0);
    CHECK(mt_ws_expect(fd, "\"groups\":[],\"domains\":[]", buf, sizeof buf));

    /* a group of gated members, one nested group inside it: rows 1 and 2 */
    th_gate_init(&mt_scope_gate, 1);
    tg_group *g, *inner;
    REQUIRE(tg_group_create(s, &g) == TG_OK);
    for (int i = 0; i < 3; i++) CHECK_RC(tg_group_submit(g, &mt_scope_member_op, NULL, 0, NULL), TG_OK);
    REQUIRE(tg_group_create(s, &inner) == TG_OK);
    CHECK(th_gate_wait_entered(&mt_scope_gate, 2));
    CHECK(mt_ws_expect(fd, "\"groups\":[{\"id\":2,\"parent\":0,\"live\":0,\"joined\":0,\"ended\":0,"
                           "\"cancelled\":false,\"error\":0},{\"id\":1,\"parent\":0,\"live\":3,\"joined\":3,"
                           "\"ended\":0,\"cancelled\":false,\"error\":0}]", buf, sizeof buf));
    CHECK_EQ(mt_ws_text(fd, "kill-group 1"), 0);
    CHECK(mt_ws_expect(fd, "{\"type\":\"reply\",\"cmd\":\"kill-group\",\"rc\":0,\"op\":\"1\"", buf, sizeof buf));
    CHECK_RC(tg_group_wait(g, TH_LONG_NS), TG_EKILLED);
    CHECK(mt_ws_expect(fd, "{\"id\":1,\"parent\":0,\"live\":0,\"joined\":3,\"ended\":3,\"cancelled\":true,"
                           "\"error\":-8}", buf, sizeof buf));
    CHECK_EQ(atomic_load(&mt_scope_gate.stopped), 2);   /* the running ones, asked to stop */
    CHECK_EQ(atomic_load(&mt_scope_gate.entered), 2);   /* the third never started */
    tg_group_destroy(g);
    tg_group_destroy(inner);
    CHECK(mt_ws_expect(fd, "\"groups\":[],", buf, sizeof buf));
    CHECK_EQ(mt_ws_text(fd, "kill-group 1"), 0);   /* destroyed: no longer open */
    CHECK(mt_ws_expect(fd, "\"cmd\":\"kill-group\",\"rc\":-3,", buf, sizeof buf));

    /* a domain whose lead has ended, members gated on its core */
    th_gate_init(&mt_scope_gate, 1);
    int n = 4;
    tg_token lead;
    REQUIRE(tg_submit(s, &mt_scope_lead_op, &n, sizeof n, &lead) == TG_OK);
    CHECK_RC(tg_wait(s, lead, TH_LONG_NS, NULL), TG_OK);
    CHECK(th_gate_wait_entered(&mt_scope_gate, 1));
    tg_token_info info;
    CHECK_RC(tg_info(s, lead, &info), TG_OK);
    snprintf(want, sizeof want, "\"domains\":[{\"lead\":\"%llu\",\"core\":", (unsigned long long)lead.bits);
    CHECK(mt_ws_expect(fd, want, buf, sizeof buf));
    snprintf(want, sizeof want, "\"pending\":%d,\"killed\":false,\"seed\":\"%s\"}]", n, info.seed);
    CHECK(strstr(buf, want) != NULL);
    CHECK_RC(tg_release(s, lead), TG_OK);   /* the row outlives the lead's handle */
    snprintf(want, sizeof want, "kill-domain %llu", (unsigned long long)lead.bits);
    CHECK_EQ(mt_ws_text(fd, want), 0);
    CHECK(mt_ws_expect(fd, "\"cmd\":\"kill-domain\",\"rc\":0,", buf, sizeof buf));
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);
    CHECK_EQ(atomic_load(&mt_scope_gate.stopped), 1);
    CHECK_EQ(atomic_load(&mt_scope_gate.entered), 1);
    CHECK(mt_ws_expect(fd, "\"domains\":[]}", buf, sizeof buf));
    CHECK_EQ(mt_ws_text(fd, want), 0);   /* closed: no longer open */
    CHECK(mt_ws_expect(fd, "\"cmd\":\"kill-domain\",\"rc\":-3,", buf, sizeof buf));
    struct tg_stats st;
    CHECK_RC(tg_stats(s, &st), TG_OK);
    CHECK_EQ(st.killed, 3 + (uint64_t)n);

    /* ids that are not ids */
    const char *bad[] = { "kill-group abc", "kill-group 0", "kill-group -1", "kill-domain 18446744073709551616",
                          "kill-domain 12x", "kill-group" };
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(mt_ws_text(fd, bad[i]), 0);
        CHECK(mt_ws_expect(fd, "\"rc\":-1,", buf, sizeof buf));
    }
    close(fd);
    tg_monitor_stop(m);
    CHECK_RC(tg_shutdown(s, TG_DRAIN, -1), TG_OK);
    tg_destroy(s);
}

/* A bad frame after a good auth: the close code the server sends. */
static int mt_bad_frame(int port, unsigned first, const void *payload, size_t n, int masked)
{
    char buf[4096];
    int fd = mt_ws_open(port, NULL, 0);
    if (fd < 0) return -2;
    mt_ws_text(fd, "auth " MT_TOKEN);
    if (!mt_ws_expect(fd, "\"ok\":true", buf, sizeof buf)) { close(fd); return -3; }
    mt_ws_send_raw(fd, first, payload, n, masked);
    int code = mt_ws_close_code(fd);
    close(fd);
    return code;
}

TG_TEST(monitor_refuses_malformed_requests_and_frames)
{
    tg_scheduler *s;
    tg_monitor *m;
    static char big[12000];
    char body[4096];
    REQUIRE(tg_create(NULL, &s) == TG_OK);
    REQUIRE(mt_start(s, &m, 4, 300) == TG_OK);
    int port = tg_monitor_port(m);
    static const struct { const char *request; int status; } cases[] = {
        { "GARBAGE\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\n\r\n", 400 },                                   /* no Host */
        { "GET /\r\nHost: a\r\n\r\n", 400 },
        { "GET / HTTP/1.1\nHost: a\n\n", 400 },                              /* bare LF */
        { "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400 },
        { "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
        { "GET noslash HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
        { "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
        { "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 405 },
        { "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 413 },
        { "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 413 },
        { "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n", 400 },                       /* no upgrade */
        { "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 426 },
        { "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n", 400 },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int status = mt_request(port, cases[i].request, strlen(cases[i].request), body, sizeof body);
        if (status != cases[i].status) printf("     request %u: got %d\n", i, status);
        CHECK_EQ(status, cases[i].status);
    }
    /* a NUL byte, and a head over 8 KiB */
    CHECK_EQ(mt_request(port, "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 29, body, sizeof body), 400);
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\nX-Long: ");
    memset(big + n, 'x', 10000);
    memcpy(big + n + 10000, "\r\n\r\n", 4);
    CHECK_EQ(mt_request(port, big, (size_t)n + 10004, body, sizeof body), 431);
    /* a slow client: no whole head within the timeout gets 408 */
    int fd = mt_connect(port);
    REQUIRE(fd >= 0);
    mt_send(fd, "GET / HTTP/1.1\r\n", 16);
    mt_read_all(fd, body, sizeof body);
    close(fd);
    CHECK(strncmp(body, "HTTP/1.1 408 ", 13) == 0);
    /* too many serving connections: the fifth of 4 authenticated ones
       gets 503 */
    int held[4];
    static char authbuf[1 << 16];
    for (int i = 0; i < 4; i++) {
        held[i] = mt_ws_open(port, NULL, 0);
        CHECK(held[i] >= 0);
        if (held[i] < 0) continue;
        CHECK_EQ(mt_ws_text(held[i], "auth " MT_TOKEN), 0);
        CHECK(mt_ws_expect(held[i], "{\"type\":\"auth\",\"ok\":true}", authbuf, sizeof authbuf));
    }
    CHECK_EQ(mt_get(port, "/", NULL, body, sizeof body), 503);
    for (int i = 0; i < 4; i++) if (held[i] >= 0) close(held[i]);
    th_sleep_ms(100);
    /* bad frames: each closes the connection with its code */
    static uint8_t huge[5000];
    CHECK_EQ(mt_bad_frame(port, 0x81, "auth x", 6, 0), 1002);      /* unmasked */
    CHECK_EQ(mt_bad_frame(port, 0xC1, "hello", 5, 1), 1002);       /* a reserved bit */
    CHECK_EQ(mt_bad_frame(port, 0x83, "hello", 5, 1), 1002);       /* a reserved opcode */
    CHECK_EQ(mt_bad_frame(port, 0x81, huge, sizeof huge, 1), 1009); /* over 4 KiB */
    CHECK_EQ(mt_bad_frame(port, 0x82, "\x01\x02", 2, 1), 1003);    /* binary */
    CHECK_EQ(mt_bad_frame(port, 0x01, "pau", 3, 1), 1003);         /* fragmented */
    CHECK_EQ(mt_bad_frame(port, 0x81, "pause \xff\xfe", 8, 1), 1007); /* not UTF-8 */
    CHECK_EQ(mt_bad_frame(port, 0x09, "x", 1, 1), 1002);           /* a control frame not final */
    /* a frame cut short: closed once the timeout passes */
    {
        char buf[256];
        int ws = mt_ws_open(port, NULL, 0);
        REQUIRE(ws >= 0);
        mt_send(ws, "\x81\x85\x01\x02", 4);
        CHECK_EQ(mt_ws_close_code(ws), 1008);
        close(ws);
        (void)buf;
    }
    /* after all of that: the server answers, the scheduler runs */
    CHECK_EQ(mt_get(port, "/stats.json?token=" MT_TOKEN, NULL, body, sizeof body), 200);
    tg_token t;
    CHECK_RC(tg_submit(s, &th_nop_op, NULL, 0, &t), TG_OK);
    CHECK_RC(tg_wait(s, t, TH_LONG_NS, NULL), TG_OK);
    tg_release(s, t);
    tg_monitor_stop(m);
    tg_destroy(s);
}

/* ---- idle clients and a full fd table ---- */

TG_TEST(monitor_idle_connections_never_lock_out_the_operator)
{
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    tg_monitor *m;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(mt_start(s, &m, 16, 5000) == TG_OK);
    int port = tg_monitor_port(m);
    /* 16 connections that never send a byte, and 4 WebSockets never authed */
    int idle[20];
    for (int i = 0; i < 16; i++) { idle[i] = mt_connect(port); CHECK(idle[i] >= 0); }
    th_sleep_ms(50);
    static char body[1 << 16];
    char extra[256];
    snprintf(extra, sizeof extra, "Authorization: Bearer %s\r\n", MT_TOKEN);
    /* well within the 5 s client timeout: the operator is served at once */
    int64_t t0 = th_now_ns();
    CHECK_EQ(mt_get(port, "/stats.json", extra, body, sizeof body), 200);
    CHECK(th_now_ns() - t0 < 2 * TH_SEC);
    for (int i = 16; i < 20; i++) { idle[i] = mt_ws_open(port, NULL, 0); CHECK(idle[i] >= 0); }
    CHECK_EQ(mt_get(port, "/", NULL, body, sizeof body), 200);
    for (int i = 0; i < 20; i++) if (idle[i] >= 0) close(idle[i]);
    tg_monitor_stop(m);
    tg_destroy(s);
}

/* CPU time of the whole process, in ns */
static int64_t mt_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

TG_TEST(monitor_full_fd_table_backs_off_and_recovers)
{
    tg_config cfg = { .workers = 1 };
    tg_scheduler *s;
    tg_monitor *m;
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    REQUIRE(mt_start(s, &m, 64, 5000) == TG_OK);
    int port = tg_monitor_port(m);
    struct rlimit saved, low;
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    /* fill the fd table (this process holds both ends): the server's
       accept4 then fails with EMFILE while clients wait in its backlog */
    int fds[4096], n = 0;
    low = saved;
    low.rlim_cur = 256;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (;;) {
        if (n == 4096) break;
        int fd = mt_connect(port);
        if (fd < 0) break;
        fds[n++] = fd;
    }
    /* the last connections wait in the backlog, the server has no fd to
       accept them with; fill what is left with plain descriptors */
    int spare[64], ns = 0;
    while (ns < 64) { int fd = dup(0); if (fd < 0) break; spare[ns++] = fd; }
    int64_t cpu0 = mt_cpu_ns(), wall0 = th_now_ns();
    th_sleep_ms(500);
    int64_t cpu = mt_cpu_ns() - cpu0, wall = th_now_ns() - wall0;
    th_note("with the fd table full: %lld ms of CPU in %lld ms", (long long)(cpu / 1000000),
            (long long)(wall / 1000000));
    CHECK(n > 10);
    CHECK(cpu < wall / 4);   /* a spinning monitor thread would take all of it */
    /* fds come back: the queued client and new ones are served */
    for (int i = 0; i < ns; i++) close(spare[i]);
    for (int i = 0; i < n; i++) close(fds[i]);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    static char body[1 << 16];
    CHECK(TH_WAIT_UNTIL(mt_get(port, "/", NULL, body, sizeof body) == 200, 5000));
    tg_monitor_stop(m);
    tg_destroy(s);
}

/* ------------------------------------------------ memory from the allocator */

static struct {
    atomic_llong allocs, frees, bytes_allocated, bytes_freed;
    atomic_int fail;
} mt_mem;

static void *mt_alloc(size_t size, void *user)
{
    (void)user;
    if (atomic_load(&mt_mem.fail)) return NULL;
    void *p = malloc(size ? size : 1);
    if (p) {
        atomic_fetch_add(&mt_mem.allocs, 1);
        atomic_fetch_add(&mt_mem.bytes_allocated, (long long)size);
    }
    return p;
}

static void mt_free(void *ptr, size_t size, void *user)
{
    (void)user;
    if (!ptr) return;
    atomic_fetch_add(&mt_mem.frees, 1);
    atomic_fetch_add(&mt_mem.bytes_freed, (long long)size);
    free(ptr);
}

TG_TEST(monitor_memory_comes_from_the_allocator)
{
    tg_config cfg = { .workers = 1, .no_pin = 1, .allocator = { mt_alloc, mt_free, NULL } };
    tg_scheduler *s;
    tg_monitor *m;
    static char body[1 << 20];
    const tg_op op = { .name = "counted", .fn = th_nop_fn };
    REQUIRE(tg_create(&cfg, &s) == TG_OK);
    for (int i = 0; i < 20; i++) CHECK_RC(tg_submit(s, &op, NULL, 0, NULL), TG_OK);
    CHECK_RC(tg_wait_idle(s, TH_LONG_NS), TG_OK);

    /* refused memory: the start fails cleanly, nothing is kept */
    long long allocs = atomic_load(&mt_mem.allocs), frees = atomic_load(&mt_mem.frees);
    atomic_store(&mt_mem.fail, 1);
    m = (tg_monitor *)1;
    CHECK_RC(mt_start(s, &m, 4, 0), TG_ENOMEM);
    CHECK(m == NULL);
    atomic_store(&mt_mem.fail, 0);
    CHECK_EQ(atomic_load(&mt_mem.allocs) - allocs, atomic_load(&mt_mem.frees) - frees);

    long long bytes = atomic_load(&mt_mem.bytes_allocated), freed = atomic_load(&mt_mem.bytes_freed);
    allocs = atomic_load(&mt_mem.allocs);
    frees = atomic_load(&mt_mem.frees);
    REQUIRE(mt_start(s, &m, 4, 0) == TG_OK);
    CHECK(atomic_load(&mt_mem.allocs) - allocs >= 4);   /* the monitor, its tables, the page */
    int port = tg_monitor_port(m);
    CHECK_EQ(mt_get(port, "/", NULL, body, sizeof body), 200);   /* a connection's output grows */
    CHECK(strstr(body, "</html>") != NULL);
    CHECK_EQ(mt_get(port, "/stats.json?token=" MT_TOKEN, NULL, body, sizeof body), 200);
    CHECK(strstr(body, "\"name\":\"counted\"") != NULL);
    CHECK_EQ(mt_get(port, "/metrics?token=" MT_TOKEN, NULL, body, sizeof body), 200);
    long long during = atomic_load(&mt_mem.allocs) - allocs;
    tg_monitor_stop(m);
    /* every block the monitor took went back, with the size it was taken with */
    CHECK(during >= 6);
    CHECK_EQ(atomic_load(&mt_mem.allocs) - allocs, atomic_load(&mt_mem.frees) - frees);
    CHECK_EQ(atomic_load(&mt_mem.bytes_allocated) - bytes, atomic_load(&mt_mem.bytes_freed) - freed);
    tg_destroy(s);
    CHECK_EQ(atomic_load(&mt_mem.allocs), atomic_load(&mt_mem.frees));
    CHECK_EQ(atomic_load(&mt_mem.bytes_allocated), atomic_load(&mt_mem.bytes_freed));
}
