#!/usr/bin/env bash
# `make test-browser`: build examples/dashboard.c, start it, and drive its live
# monitor page in headless Chromium (tests/browser/monitor.mjs, through
# playwright-core). Saves a screenshot to build/monitor.png. Ends with one
# line `N passed, N failed` and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

TOKEN=tg-browser-test-token
CHROMIUM=/usr/bin/chromium
LOG=build/dashboard.log
SHOT=build/monitor.png

passed=0
failed=0
ok()   { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}

# ---- prerequisites -------------------------------------------------------

missing=()
command -v node >/dev/null 2>&1 || missing+=("node (apt-get install -y nodejs)")
command -v npm  >/dev/null 2>&1 || missing+=("npm (apt-get install -y npm)")
[ -x "$CHROMIUM" ]               || missing+=("$CHROMIUM (apt-get install -y chromium)")
command -v cc   >/dev/null 2>&1 || missing+=("cc (apt-get install -y build-essential)")
if [ "${#missing[@]}" -gt 0 ]; then
    for m in "${missing[@]}"; do echo "test-browser: missing $m" >&2; done
    fail "prerequisites present"
    finish
fi

mkdir -p build
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    echo "# installing playwright-core into tests/browser/node_modules"
    if [ -f tests/browser/package-lock.json ]; then
        install=(npm ci --no-audit --no-fund)
    else
        install=(npm install --no-audit --no-fund)
    fi
    if ! (cd tests/browser && "${install[@]}") >build/npm.log 2>&1; then
        sed 's/^/#   /' build/npm.log
        rm -f build/npm.log
        fail "npm installs playwright-core"
        finish
    fi
    rm -f build/npm.log
fi

# ---- the dashboard -------------------------------------------------------

if cc -O2 -pthread examples/dashboard.c -o build/dashboard; then
    ok "examples/dashboard.c builds"
else
    fail "examples/dashboard.c builds"
    finish
fi

dash_pid=
cleanup() {
    if [ -n "$dash_pid" ] && kill -0 "$dash_pid" 2>/dev/null; then
        kill "$dash_pid" 2>/dev/null
        for _ in $(seq 1 30); do kill -0 "$dash_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$dash_pid" 2>/dev/null
        wait "$dash_pid" 2>/dev/null
    fi
}
trap cleanup EXIT

: >"$LOG"
build/dashboard --any-port --token "$TOKEN" --seconds 120 >"$LOG" 2>build/dashboard.err &
dash_pid=$!

port=
deadline=$((SECONDS + 21))   # at least 20 s: SECONDS counts whole seconds
while [ "$SECONDS" -lt "$deadline" ]; do
    port=$(sed -n 's|^monitor: http://127\.0\.0\.1:\([0-9][0-9]*\)/[[:space:]]*$|\1|p' "$LOG" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$dash_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -n "$port" ]; then
    ok "dashboard prints 'monitor: http://127.0.0.1:$port/' within 20 s"
else
    if kill -0 "$dash_pid" 2>/dev/null; then why="still running, no such line (stdout flushed?)"
    else wait "$dash_pid"; why="exited with status $?"; fi
    fail "dashboard prints 'monitor: http://127.0.0.1:PORT/' within 20 s ($why)"
    echo "# stdout ($LOG):";            head -n 20 "$LOG"             | sed 's/^/#   /'
    echo "# stderr (build/dashboard.err):"; head -n 20 build/dashboard.err | sed 's/^/#   /'
    finish
fi

# ---- the browser ---------------------------------------------------------

rm -f "$SHOT"
out=$(mktemp)
timeout -k 5 100 node tests/browser/monitor.mjs "http://127.0.0.1:$port/" "$TOKEN" "$SHOT" 2>&1 \
    | tee "$out" | grep --line-buffered -Ev '^[0-9]+ passed, [0-9]+ failed$'
node_rc=${PIPESTATUS[0]}

line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
rm -f "$out"
if [ -n "$line" ]; then
    read -r np _ nf _ <<<"$line"
    passed=$((passed + np))
    failed=$((failed + nf))
    if [ "$node_rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
        fail "monitor.mjs exits 0 (exit status $node_rc)"
    fi
else
    fail "monitor.mjs reports a summary (exit status $node_rc, no summary line)"
fi

if kill -0 "$dash_pid" 2>/dev/null; then
    ok "dashboard still running after the browser test"
else
    wait "$dash_pid"
    fail "dashboard still running after the browser test (exited with status $?)"
    tail -n 20 build/dashboard.err | sed 's/^/#   /'
fi

finish
