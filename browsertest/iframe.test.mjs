// The iframe forever frame in a real browser: a page on an allowed origin
// embeds /v1/iframe and receives events as `message` events; data that
// tries to break out of the <script> arrives as data and never runs; a
// foreign origin gets nothing.
//
// Self-contained: builds ./cmd/reddot, runs `reddot serve` on a free
// loopback port with a temp data dir, and serves the parent pages from two
// Node HTTP servers (the allowed origin and a foreign one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KEY = 'iframe-test-key';
const SECRET = 'iframe-test-secret-0123456789';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const tmp = mkdtempSync(path.join(os.tmpdir(), 'reddot-iframe-'));
let bin, proc, reddot, allowed, foreign, browser, token;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The parent page: records every message with its origin. Its own alert
// is replaced so that nothing blocks, and counted. The frame is inserted
// after the load event, as a forever frame should be: a frame still
// loading holds back its parent's load event.
const PAGE = `<!doctype html><meta charset="utf-8"><title>parent</title>
<script>
window.got = [];
window.alerts = 0;
window.alert = function () { window.alerts++; };
window.addEventListener('message', function (e) { window.got.push({ origin: e.origin, data: e.data }); });
</script>
<iframe id="rd" style="display:none"></iframe>
<script>window.addEventListener('load', function () {
  document.getElementById('rd').src = new URLSearchParams(location.search).get('src');
});</script>`;

function pageServer() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    });
    srv.listen(0, '127.0.0.1', () => {
      srv.origin = `http://127.0.0.1:${srv.address().port}`;
      resolve(srv);
    });
  });
}

async function publish(body) {
  const r = await fetch(reddot + '/v1/publish', {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return JSON.parse(text).ids[0];
}

function frameURL(origin, extra = '') {
  return `${reddot}/v1/iframe?topics=news&token=${token}&origin=${encodeURIComponent(origin)}${extra}`;
}

// open loads a parent page at pageOrigin whose iframe asks for frameOrigin.
async function open(pageOrigin, frameOrigin, extra = '') {
  const page = await browser.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const frameResponse = page.waitForResponse((r) => r.url().includes('/v1/iframe'));
  await page.goto(`${pageOrigin}/?src=${encodeURIComponent(frameURL(frameOrigin, extra))}`);
  return { page, dialogs, status: (await frameResponse).status() };
}

// messages waits until the page holds n messages from reddot and returns them.
async function messages(page, n, timeout = 5000) {
  await page.waitForFunction(
    ([n, o]) => window.got.filter((m) => m.origin === o).length >= n, [n, reddot], { timeout, polling: 20 });
  return page.evaluate((o) => window.got.filter((m) => m.origin === o).map((m) => m.data), reddot);
}

const events = (msgs) => msgs.filter((m) => !m.control);

before(async () => {
  bin = path.join(tmp, 'reddot');
  execFileSync('go', ['build', '-o', bin, './cmd/reddot'], { cwd: ROOT, stdio: 'inherit' });
  allowed = await pageServer();
  foreign = await pageServer();
  const port = await freePort();
  reddot = `http://127.0.0.1:${port}`;
  let log = '';
  proc = spawn(bin, ['serve', '--http-addr', `127.0.0.1:${port}`, '--mqtt-addr', 'off',
    '--data-dir', path.join(tmp, 'data'), '--api-keys', KEY, '--jwt-secret', SECRET,
    '--allowed-origins', allowed.origin, '--heartbeat', '1s', '--log-level', 'warn'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (b) => (log += b));
  proc.stderr.on('data', (b) => (log += b));
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null || i > 200) throw new Error('reddot did not start: ' + log);
    try { if ((await fetch(reddot + '/healthz')).ok) break; } catch {}
    await sleep(50);
  }
  token = execFileSync(bin, ['token', '--user', '42', '--jwt-secret', SECRET]).toString().trim();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    process.kill(proc.pid, 'SIGTERM');
    const t = setTimeout(() => proc.exitCode === null && process.kill(proc.pid, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
  allowed?.close();
  foreign?.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('a page on an allowed origin receives events through message events', async () => {
  const { page, status } = await open(allowed.origin, allowed.origin, '&inbox=false');
  assert.equal(status, 200);
  const [first] = await messages(page, 1);
  assert.equal(first.control, 'open');
  assert.equal(typeof first.cursor, 'string');
  assert.ok(first.retry > 0);

  const id = await publish({ topic: 'news', data: { n: 1 } });
  const evs = events(await messages(page, 2)).filter((m) => m.topic === 'news');
  assert.equal(evs.length, 1);
  assert.equal(evs[0].id, id);
  assert.equal(evs[0].seq, 1);
  assert.equal(evs[0].event, 'message');
  assert.deepEqual(evs[0].data, { n: 1 });
  assert.ok(evs[0].cursor && evs[0].time);

  // Heartbeats arrive as control messages while idle.
  await page.waitForFunction((o) => window.got.some((m) => m.origin === o && m.data.control === 'heartbeat'),
    reddot, { timeout: 5000, polling: 50 });
  // Each script removes itself: the frame's DOM does not grow.
  const frame = page.frames().find((f) => f.url().includes('/v1/iframe'));
  assert.ok(await frame.evaluate(() => document.scripts.length) <= 2);
  await page.close();
});

test('script-breaking data and U+2028 arrive as data and never execute', async () => {
  const { page, dialogs, status } = await open(allowed.origin, allowed.origin);
  assert.equal(status, 200);
  await messages(page, 1);
  const data = {
    attack: '</script><script>alert(1)</script>',
    marker: '</script><script>window.pwned=1;parent.postMessage({pwned:1},"*");alert(2)</script>',
    comment: '<!--<script>',
    lines: 'one\u2028two\u2029three',
    amp: 'a & b > c',
  };
  const id = await publish({ topic: 'news', data });
  // Then an ordinary event: once it arrived, anything injected before it would have run.
  const after = await publish({ topic: 'news', data: 'after' });
  const arrived = await page.waitForFunction((id) => window.got.some((m) => m.data.id === id), after,
    { timeout: 5000, polling: 20 }).then(() => true, () => false);

  const frame = page.frames().find((f) => f.url().includes('/v1/iframe'));
  assert.deepEqual(dialogs, [], 'a dialog opened: injected script ran');
  assert.equal(await frame.evaluate(() => window.pwned), undefined, 'injected script ran in the frame');
  assert.equal(await page.evaluate(() => window.alerts), 0);
  assert.ok(!(await page.evaluate(() => window.got.some((m) => m.data && m.data.pwned))), 'injected postMessage arrived');
  assert.ok(arrived, 'the event after the attack did not arrive');
  const got = events(await messages(page, 1)).find((m) => m.id === id);
  assert.ok(got, 'the attack event did not arrive as data');
  assert.deepEqual(got.data, data);
  await page.close();
});

test('a frame reopened with the last cursor gets what it missed', async () => {
  const first = await open(allowed.origin, allowed.origin, '&inbox=false');
  await messages(first.page, 1);
  await publish({ topic: 'news', data: 'seen' });
  const seen = events(await messages(first.page, 2)).at(-1);
  await first.page.close();
  const missed = await publish({ topic: 'news', data: 'missed' });
  const again = await open(allowed.origin, allowed.origin, `&inbox=false&since=${encodeURIComponent(seen.cursor)}`);
  const evs = events(await messages(again.page, 2));
  assert.deepEqual(evs.map((e) => e.id), [missed]);
  await again.page.close();
});

test('a foreign origin is refused', async () => {
  // Asking for the foreign origin itself: 403, nothing posted.
  const refused = await open(foreign.origin, foreign.origin);
  assert.equal(refused.status, 403);
  // Claiming the allowed origin from a foreign page: the frame may not be
  // embedded there (frame-ancestors), and postMessage targets the allowed
  // origin only.
  const pretend = await open(foreign.origin, allowed.origin);
  // A page on the allowed origin proves the event went out.
  const ok = await open(allowed.origin, allowed.origin);
  await messages(ok.page, 1);
  const id = await publish({ topic: 'news', data: 'for allowed eyes' });
  await ok.page.waitForFunction((id) => window.got.some((m) => m.data.id === id), id, { timeout: 5000, polling: 20 });
  await sleep(300); // a stray message would have arrived with the one above
  for (const { page } of [refused, pretend]) {
    assert.deepEqual(await page.evaluate(() => window.got), []);
  }
  assert.equal(await fetch(frameURL('*')).then((r) => r.status), 403);
  for (const p of [refused.page, pretend.page, ok.page]) await p.close();
});
