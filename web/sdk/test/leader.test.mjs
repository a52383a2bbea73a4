// Leader election without Web Locks (Node has BroadcastChannel but no
// navigator.locks): one tab connects, the others follow, a successor
// resumes from the shared cursor.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Reddot } from '../reddot.js';

const until = async (cond, ms = 6000) => {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > ms) throw new Error('timed out waiting for ' + cond);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('tabs elect one leader that relays; a successor resumes from the cursor', async (t) => {
  const realFetch = globalThis.fetch;
  globalThis.fetch = async () => new Response('{"total":0,"categories":{}}');
  t.after(() => (globalThis.fetch = realFetch));

  const conns = [];
  const fake = (c) => {
    const k = { c, since: new URL(c.url('/v1/x')).searchParams.get('since'), closed: false };
    conns.push(k);
    queueMicrotask(() => c.open());
    return { close: () => (k.closed = true) };
  };
  const url = 'http://leader.test/' + Math.random();
  const tabs = [0, 1, 2].map(() => new Reddot({ url, token: 'x.eyJzdWIiOiI0MiJ9.y', transport: 'fake', adapters: { fake } }));
  t.after(() => tabs.forEach((r) => r.close()));
  const got = tabs.map(() => []);
  tabs.forEach((r, i) => r.on('notification', (e) => got[i].push(e.id)));

  await until(() => tabs.filter((r) => r.role === 'leader').length === 1 && tabs.every((r) => r.state === 'open'));
  await new Promise((r) => setTimeout(r, 1200)); // a few heartbeats: still one leader
  assert.equal(tabs.filter((r) => r.role === 'leader').length, 1);
  assert.equal(conns.filter((k) => !k.closed).length, 1, 'one connection for three tabs');

  const leader = tabs.find((r) => r.role === 'leader');
  const live = conns.find((k) => !k.closed);
  const note = (id, n) => ({ id, topic: 'user:42', seq: n, event: 'notification', data: { id, unread: { total: n, categories: { c: n } } }, cursor: 'cur' + n });
  live.c.event(note('n1', 1));
  await until(() => got.every((g) => g.length === 1));
  await until(() => tabs.every((r) => r.unread.total === 1 && r.cursor === 'cur1'));

  const handover = Date.now();
  leader.close();
  const rest = tabs.filter((r) => r !== leader);
  // Both may claim at once; the lower id wins and the other steps down. A
  // follower that has not yet heard the new leader's heartbeat may still
  // claim, so wait until it has (_hb is when it last heard one).
  await until(() => rest.filter((r) => r.role === 'leader').length === 1 && rest.every((r) => r.state === 'open') &&
    conns.filter((k) => !k.closed).length === 1 && rest.every((r) => r.role === 'leader' || r._hb >= handover));
  const next = conns.find((k) => !k.closed);
  assert.equal(next.since, 'cur1', 'the successor resumes where the old leader stopped');
  assert.equal(conns.filter((k) => !k.closed).length, 1);
  next.c.event(note('n2', 2));
  next.c.event(note('n1', 1)); // a replay across the handover is dropped
  await until(() => rest.every((r) => r.unread.total === 2));
  for (const r of rest) assert.deepEqual(got[tabs.indexOf(r)], ['n1', 'n2']);
});
