// One connection per browser: tabs of an origin elect a leader that holds
// the only server connection and relays to the others; when the leader
// closes another tab takes over from the cursor and nothing is lost.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Server } from './lib/server.mjs';
import { launch, newContext, openDemo, screenshot, waitBadge } from './lib/browser.mjs';

let browser;
before(async () => (browser = await launch()));
after(() => browser?.close());

const total = (conns) => Object.values(conns).reduce((a, b) => a + b, 0);

async function until(fn, ms, what) {
  const t = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t > ms) throw new Error('timed out: ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const roleOf = (p) => p.evaluate(() => window.demo.rd.role);

async function leaderHandover(t, { locks }) {
  const srv = new Server();
  t.after(() => srv.close());
  await srv.start();
  const ctx = await newContext(browser);
  t.after(() => ctx.close());
  if (!locks) await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }));

  const tabs = [];
  for (let i = 0; i < 3; i++) tabs.push(await openDemo(ctx, srv.url, { transport: 'websocket' }));
  await until(async () => (await Promise.all(tabs.map(roleOf))).filter((r) => r === 'leader').length === 1, 5000, 'one leader');
  await until(async () => total(await srv.connections()) === 1, 5000, 'one connection');
  assert.deepEqual(await srv.connections().then((c) => c.ws), 1);

  await srv.notify('42', 'Seen by all three tabs');
  await Promise.all(tabs.map((p) => waitBadge(p, 1, 2000)));
  await screenshot(tabs[0], locks ? 'leader-tab' : 'leader-tab-nolocks');

  // Close the leader and publish at once: the successor resumes from the cursor.
  const roles = await Promise.all(tabs.map(roleOf));
  const leader = tabs[roles.indexOf('leader')];
  const rest = tabs.filter((p) => p !== leader);
  await leader.close();
  const id = await srv.notify('42', 'Published during the handover');
  await Promise.all(rest.map((p) => waitBadge(p, 2, locks ? 3000 : 6000)));
  await until(async () => (await Promise.all(rest.map(roleOf))).filter((r) => r === 'leader').length === 1, 5000, 'a new leader');
  await until(async () => total(await srv.connections()) === 1, 5000, 'still one connection');
  for (const p of rest) {
    assert.equal(await p.evaluate((id) => window.demo.received.filter((x) => x === id).length, id), 1);
    assert.equal(await p.evaluate(() => window.demo.rd.state), 'open');
  }

  // Events keep flowing through the new leader.
  await srv.notify('42', 'After the handover');
  await Promise.all(rest.map((p) => waitBadge(p, 3, 2000)));
}

test('three tabs, one WebSocket; closing the leader hands over (Web Locks)', (t) => leaderHandover(t, { locks: true }));

test('the same without Web Locks (BroadcastChannel election)', (t) => leaderHandover(t, { locks: false }));
