// Real-browser test of the TokenGate live monitor page.
//
//   node tests/browser/monitor.mjs http://127.0.0.1:PORT/ TOKEN SCREENSHOT.png
//
// Drives headless Chromium (through playwright-core) against a running
// monitor, such as the one examples/dashboard.c starts, and prints one line
// per check, `ok   <desc>` or `FAIL <desc>`, then `N passed, N failed`.
// Exits non-zero if any check failed. The whole run is bounded (see
// DEADLINE_MS) and never waits on the network or the browser without a
// timeout.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const DEADLINE_MS = 85_000;          // hard limit for the whole script
const OPS = ['primes', 'string', 'sort', 'chain'];
const MIN_SCREENSHOT = 10 * 1024;

const [baseArg, token, shotPath] = process.argv.slice(2);
if (!baseArg || !token || !shotPath) {
    console.error('usage: node monitor.mjs URL TOKEN SCREENSHOT.png');
    process.exit(2);
}
const base = new URL(baseArg);
const statsURL = (query = '') => new URL('/stats.json' + query, base).href;

// ---- reporting -----------------------------------------------------------

let passed = 0, failed = 0, finished = false;

function report(ok, desc, detail) {
    if (finished) return;            // the watchdog already closed the count
    if (ok) passed++; else failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${desc}`);
    if (!ok && detail) for (const l of String(detail).split('\n')) console.log(`#    ${l}`);
}

function note(msg) { console.log(`# ${msg}`); }

function summary() {
    if (finished) return;
    finished = true;
    console.log(`${passed} passed, ${failed} failed`);
}

// A check: runs fn, which returns a detail string (or nothing) on success
// and throws on failure. A check marked `needs` a previous result is
// reported as failed without running when that result is missing.
const state = {};
async function check(desc, fn, { needs = [] } = {}) {
    const missing = needs.filter((k) => !state[k]);
    if (missing.length) {
        report(false, desc, `not reached: needs ${missing.join(', ')}`);
        return false;
    }
    try {
        await fn();
        report(true, desc);
        return true;
    } catch (e) {
        report(false, desc, e && e.message ? e.message.split('\n').slice(0, 6).join('\n') : String(e));
        return false;
    }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls get() until accept(value) holds or timeoutMs passes; returns
// {ok, value} with the last value seen.
async function waitFor(get, accept, timeoutMs, intervalMs = 100) {
    const end = Date.now() + timeoutMs;
    let value;
    for (;;) {
        try { value = await get(); } catch (e) { value = e; }
        if (!(value instanceof Error) && accept(value)) return { ok: true, value };
        if (Date.now() >= end) return { ok: false, value };
        await sleep(intervalMs);
    }
}

const show = (v) => (v instanceof Error ? `error: ${v.message.split('\n')[0]}` : JSON.stringify(v));

async function getStats(headers = {}, query = '') {
    const res = await fetch(statsURL(query), { headers, signal: AbortSignal.timeout(5000) });
    const body = await res.text();
    let json = null;
    try { json = JSON.parse(body); } catch { /* leave null */ }
    return { status: res.status, json, body };
}

const bearer = (t) => ({ Authorization: `Bearer ${t}` });

async function opPaused(name) {
    const { status, json, body } = await getStats(bearer(token));
    if (status !== 200) throw new Error(`/stats.json answered ${status}: ${body.slice(0, 200)}`);
    if (!json || !Array.isArray(json.ops)) throw new Error(`/stats.json has no ops array: ${body.slice(0, 200)}`);
    const op = json.ops.find((o) => o && o.name === name);
    if (!op) throw new Error(`/stats.json ops has no entry "${name}" (names: ${json.ops.map((o) => o && o.name).join(', ')})`);
    return op.paused;
}

// ---- watchdog ------------------------------------------------------------

let context = null, profile = null;

function cleanupProfile() {
    if (profile) { try { rmSync(profile, { recursive: true, force: true }); } catch { /* ignore */ } profile = null; }
}

const watchdog = setTimeout(() => {
    report(false, `whole run finishes within ${DEADLINE_MS / 1000} s`, 'watchdog fired; aborting');
    summary();
    const closing = context ? context.close().catch(() => {}) : Promise.resolve();
    Promise.race([closing, sleep(3000)]).finally(() => { cleanupProfile(); process.exit(1); });
}, DEADLINE_MS);

// ---- the run -------------------------------------------------------------

const pageErrors = [];
const sockets = [];                  // {url, sent: [text frames]}

async function main() {
    profile = mkdtempSync(join(tmpdir(), 'tg-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        timeout: 30_000,
        viewport: { width: 1280, height: 900 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
               '--disable-background-networking'],
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(10_000);
    page.setDefaultNavigationTimeout(15_000);
    page.on('pageerror', (e) => { pageErrors.push(e.message); note(`page error: ${e.message}`); });
    page.on('console', (m) => {
        if (m.type() !== 'error') return;
        const at = m.location() && m.location().url ? ` (${m.location().url})` : '';
        note(`console error: ${m.text()}${at}`);
    });

    page.on('websocket', (ws) => {
        const rec = { url: ws.url(), sent: [] };
        sockets.push(rec);
        ws.on('framesent', (f) => { if (typeof f.payload === 'string') rec.sent.push(f.payload); });
    });

    const row = (op) => page.locator(`table#ops tbody tr[data-op="${op}"]`);
    const text = async (loc) => ((await loc.first().textContent({ timeout: 2000 })) ?? '').trim();
    const statusText = () => text(page.locator('#status'));

    // 1. the page
    state.page = await check('page loads with HTTP 200 and has input#token', async () => {
        const res = await page.goto(base.href, { waitUntil: 'load' });
        if (!res) throw new Error('no response');
        if (res.status() !== 200) throw new Error(`HTTP ${res.status()}`);
        await page.locator('input#token').waitFor({ state: 'visible', timeout: 5000 });
        await page.locator('button#connect').waitFor({ state: 'visible', timeout: 5000 });
    });

    // 2. a wrong token is refused
    await check('a wrong token shows "bad token" in #status within 5 s', async () => {
        await page.locator('input#token').fill('wrong');
        await page.locator('button#connect').click();
        const r = await waitFor(statusText, (t) => t === 'bad token', 5000);
        if (!r.ok) throw new Error(`#status is ${show(r.value)}`);
    }, { needs: ['page'] });

    // 3. the right token goes live
    state.live = await check('the right token makes #status "live" within 10 s', async () => {
        await page.locator('input#token').fill(token);
        await page.locator('button#connect').click();
        const r = await waitFor(statusText, (t) => t === 'live', 10_000);
        if (!r.ok) throw new Error(`#status is ${show(r.value)}`);
    }, { needs: ['page'] });

    await check('the page sends "auth <token>" over a WebSocket to /ws on the same host', async () => {
        const want = `auth ${token}`;
        const good = sockets.find((s) => {
            let u; try { u = new URL(s.url); } catch { return false; }
            return u.host === base.host && u.pathname === '/ws' && s.sent.includes(want);
        });
        if (!good) {
            throw new Error(`sockets seen: ${JSON.stringify(sockets.map((s) => ({ url: s.url, sent: s.sent.slice(0, 3) })))}`);
        }
    }, { needs: ['live'] });

    // 4. the per-op table fills and updates
    state.rows = await check(`table#ops has rows for ${OPS.join(', ')}`, async () => {
        const r = await waitFor(
            async () => { const out = {}; for (const op of OPS) out[op] = await row(op).count(); return out; },
            (c) => OPS.every((op) => c[op] === 1), 10_000, 200);
        if (!r.ok) throw new Error(`row counts per op: ${show(r.value)} (want 1 each)`);
    }, { needs: ['live'] });

    await check('each op row has td.attempts, td.state and pause/resume/drain/kill buttons', async () => {
        const problems = [];
        for (const op of OPS) {
            const r = row(op);
            for (const sel of ['td.attempts', 'td.state', ...['pause', 'resume', 'drain', 'kill'].map((c) => `button[data-cmd="${c}"]`)]) {
                const n = await r.locator(sel).count();
                if (n !== 1) problems.push(`${op}: ${n} x ${sel}`);
            }
            const st = await text(r.locator('td.state'));
            if (!['running', 'paused', 'blocked'].includes(st)) problems.push(`${op}: td.state is ${JSON.stringify(st)}`);
        }
        if (problems.length) throw new Error(problems.join('\n'));
    }, { needs: ['rows'] });

    const attempts = async (op) => {
        const t = await text(row(op).locator('td.attempts'));
        if (!/^\d+$/.test(t)) throw new Error(`td.attempts of ${op} is not an integer: ${JSON.stringify(t)}`);
        return Number(t);
    };

    let first = null;
    state.attempts = await check('td.attempts of primes is a positive integer', async () => {
        const r = await waitFor(() => attempts('primes'), (n) => n > 0, 5000, 200);
        if (!r.ok) throw new Error(`td.attempts of primes: ${show(r.value)}`);
        first = { n: r.value, at: Date.now() };
    }, { needs: ['rows'] });

    state.updating = await check('td.attempts of primes increases between readings >= 1.5 s apart', async () => {
        await sleep(Math.max(0, first.at + 1500 - Date.now()));
        const r = await waitFor(() => attempts('primes'), (n) => n > first.n, 6000, 250);
        if (!r.ok) throw new Error(`first reading ${first.n}, last reading ${show(r.value)} after ${Date.now() - first.at} ms`);
        note(`primes attempts ${first.n} -> ${r.value} in ${Date.now() - first.at} ms`);
    }, { needs: ['attempts'] });

    // 5. cores and chart
    await check('#cores has at least one .core with data-core', async () => {
        const r = await waitFor(() => page.locator('#cores .core[data-core]').count(), (n) => n >= 1, 5000, 200);
        if (!r.ok) throw new Error(`#cores .core[data-core] count: ${show(r.value)}; .core without data-core: ${await page.locator('#cores .core').count()}`);
        note(`${r.value} core(s) shown`);
    }, { needs: ['live'] });

    await check('canvas#chart is present and has been drawn on', async () => {
        const canvas = page.locator('canvas#chart');
        await canvas.waitFor({ state: 'attached', timeout: 3000 });
        const r = await waitFor(() => canvas.evaluate((c) => {
            if (!c.width || !c.height) return { size: `${c.width}x${c.height}`, drawn: false };
            const blank = document.createElement('canvas');
            blank.width = c.width; blank.height = c.height;
            return { size: `${c.width}x${c.height}`, drawn: c.toDataURL() !== blank.toDataURL() };
        }), (v) => v.drawn, 5000, 250);
        if (!r.ok) throw new Error(`canvas#chart: ${show(r.value)}`);
    }, { needs: ['live'] });

    // 6. pause sort: the page and the scheduler agree
    const sortState = () => text(row('sort').locator('td.state'));
    state.paused = await check('pause on sort makes its td.state "paused" within 5 s', async () => {
        await row('sort').locator('button[data-cmd="pause"]').click({ timeout: 3000 });
        state.pauseClicked = true;
        const r = await waitFor(sortState, (t) => t === 'paused', 5000);
        if (!r.ok) throw new Error(`td.state of sort is ${show(r.value)}`);
    }, { needs: ['rows'] });

    await check('/stats.json reports sort paused: true', async () => {
        const r = await waitFor(() => opPaused('sort'), (p) => p === true, 3000, 200);
        if (!r.ok) throw new Error(`sort paused is ${show(r.value)}`);
    }, { needs: ['pauseClicked'] });

    // 9. screenshot, with the table full and live and sort paused
    await check(`full-page screenshot saved to ${shotPath} (> 10 KB)`, async () => {
        await page.screenshot({ path: shotPath, fullPage: true, timeout: 10_000 });
        if (!existsSync(shotPath)) throw new Error('file not written');
        const size = statSync(shotPath).size;
        if (size <= MIN_SCREENSHOT) throw new Error(`only ${size} bytes`);
        note(`screenshot ${shotPath}: ${size} bytes`);
    }, { needs: ['page'] });

    // 7. resume sort
    state.resumed = await check('resume on sort brings its td.state back to "running" within 5 s', async () => {
        await row('sort').locator('button[data-cmd="resume"]').click({ timeout: 3000 });
        state.resumeClicked = true;
        const r = await waitFor(sortState, (t) => t === 'running', 5000);
        if (!r.ok) throw new Error(`td.state of sort is ${show(r.value)}`);
    }, { needs: ['pauseClicked'] });

    await check('/stats.json reports sort paused: false', async () => {
        const r = await waitFor(() => opPaused('sort'), (p) => p === false, 3000, 200);
        if (!r.ok) throw new Error(`sort paused is ${show(r.value)}`);
    }, { needs: ['resumeClicked'] });

    // 8a. groups and domains: rows whose kill stops the crawl (examples/dashboard.c)
    const scopeKill = async (prefix, verb) => {
        // a crawl (about 1 s) may end between the look and the click: tries
        for (let attempt = 0; attempt < 10; attempt++) {
            const r = page.locator(`table#ops tbody tr[data-scope^="${prefix}"]`);
            const seen = await waitFor(() => r.count(), (n) => n >= 1, 10_000, 100);
            if (!seen.ok) throw new Error(`no tr[data-scope^="${prefix}"] row within 10 s`);
            const key = await r.first().getAttribute('data-scope', { timeout: 2000 }).catch(() => null);
            if (!key) continue;
            const id = key.slice(1);
            await page.locator(`table#ops tbody tr[data-scope="${key}"] button[data-cmd="kill"]`)
                .click({ timeout: 2000 }).catch(() => {});
            const want = `${verb} ${id}: TG_OK`;
            const log = await waitFor(() => text(page.locator('#log')),
                                      (t) => t.startsWith(want) || t.startsWith(`${verb} ${id}: TG_ESTALE`), 5000);
            if (log.ok && log.value.startsWith(want)) return id;
            // it ended first: wait for the next frame to drop its row
            await waitFor(() => page.locator(`table#ops tbody tr[data-scope="${key}"]`).count(), (n) => n === 0, 3000, 100);
        }
        throw new Error(`no "${verb} <id>: TG_OK" in #log after 10 tries`);
    };
    await check('a crawl\'s domain row: its kill button answers "kill-domain <lead>: TG_OK"', async () => {
        note(`killed the domain of lead ${await scopeKill('d', 'kill-domain')}`);
    }, { needs: ['rows'] });
    await check('a crawl\'s group row: its kill button answers "kill-group <id>: TG_OK"', async () => {
        const id = await scopeKill('g', 'kill-group');
        const r = await waitFor(async () => {
            const { json } = await getStats(bearer(token));
            return json && Array.isArray(json.groups) ? json.groups.some((g) => String(g.id) === id && !g.cancelled) : null;
        }, (v) => v === false, 3000, 200);
        if (!r.ok) throw new Error(`/stats.json still lists group ${id} as not cancelled: ${show(r.value)}`);
    }, { needs: ['rows'] });

    // 8. /stats.json access control
    await check('/stats.json without a token answers 401', async () => {
        const { status } = await getStats();
        if (status !== 401) throw new Error(`answered ${status}`);
    });

    await check('/stats.json with a wrong bearer token is refused (401)', async () => {
        const { status } = await getStats(bearer('wrong'));
        if (status !== 401) throw new Error(`answered ${status}`);
    });

    await check('/stats.json with ?token= answers 200 with an ops array', async () => {
        const { status, json, body } = await getStats({}, `?token=${encodeURIComponent(token)}`);
        if (status !== 200) throw new Error(`answered ${status}`);
        if (!json || !Array.isArray(json.ops)) throw new Error(`no ops array: ${body.slice(0, 200)}`);
        const names = json.ops.map((o) => o && o.name);
        const lacking = OPS.filter((n) => !names.includes(n));
        if (lacking.length) throw new Error(`ops lacks ${lacking.join(', ')} (has ${names.join(', ')})`);
    });

    await check('no uncaught JavaScript errors on the page', async () => {
        if (pageErrors.length) throw new Error(pageErrors.join('\n'));
    }, { needs: ['page'] });
}

let code = 0;
try {
    await main();
} catch (e) {
    report(false, 'test run completes without an unexpected error', e && e.stack ? e.stack : String(e));
} finally {
    if (context) {
        await Promise.race([context.close().catch(() => {}), sleep(10_000)]);
        context = null;
    }
    cleanupProfile();
    clearTimeout(watchdog);
    if (!finished) {
        summary();
        code = failed ? 1 : 0;
    } else {
        code = 1;
    }
}
process.exit(code);
