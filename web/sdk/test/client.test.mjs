// The connection manager of reddot.js driven through fake transports, a fake
// fetch and a fake localStorage: fallback, resume, dedup, tokens, leaders.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import { Reddot } from '../reddot.js';

const BASE = 'http://reddot.test';
let routes, clients, realFetch;

beforeEach(() => {
  const mem = new Map();
  globalThis.localStorage = { getItem: (k) => mem.get(k) ?? null, setItem: (k, v) => mem.set(k, String(v)) };
  routes = {
    '/healthz': () => new Response('{"status":"ok"}'),
    '/v1/inbox/unread': () => new Response('{"total":0,"categories":{}}'),
  };
  realFetch = globalThis.fetch;
  globalThis.fetch = async (url, init = {}) => {
    const u = new URL(url);
    const h = routes[u.pathname];
    if (!h) throw new TypeError('fetch failed: ' + u.pathname);
    return h(u, init);
  };
  clients = [];
});

afterEach(() => {
  for (const c of clients) c.close();
  globalThis.fetch = realFetch;
  delete globalThis.localStorage;
});

function client(opts) {
  const rd = new Reddot({ url: BASE, share: false, ...opts });
  clients.push(rd);
  return rd;
}

/** Fake transports record every connection; behave(conn) scripts it. */
function fakes(behaviours) {
  const conns = [];
  const adapters = {};
  for (const [name, behave] of Object.entries(behaviours)) {
    adapters[name] = (c) => {
      const conn = { name, c, url: new URL(c.url('/v1/x', 1)), closed: false };
      conns.push(conn);
      queueMicrotask(() => behave(conn));
      return { close: () => (conn.closed = true) };
    };
  }
  return { conns, adapters };
}

const until = async (cond, ms = 5000) => {
  const t = Date.now();
  while (!cond()) {
    if (Date.now() - t > ms) throw new Error('timed out waiting for ' + cond);
    await new Promise((r) => setTimeout(r, 5));
  }
};

const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims) => `${b64url({ alg: 'HS256' })}.${b64url(claims)}.sig`;
const ev = (id, seq, extra = {}) => ({ id, topic: 'news', seq, event: 'message', data: { n: seq }, cursor: 'c' + seq, ...extra });

test('events reach subscribe and on handlers once; the cursor follows them', async () => {
  const { conns, adapters } = fakes({ fake: (k) => (k.c.open(), k.c.event(ev('a', 1)), k.c.event(ev('a', 1)), k.c.event(ev('b', 2))) });
  const rd = client({ transport: 'fake', adapters, topics: ['news'] });
  const got = [], all = [];
  rd.subscribe('news', (e) => got.push(e.id));
  rd.on('event', (e) => all.push(e.id));
  await until(() => got.length === 2);
  assert.deepEqual(got, ['a', 'b']);
  assert.deepEqual(all, ['a', 'b']);
  assert.equal(rd.cursor, 'c2');
  assert.equal(rd.state, 'open');
  assert.equal(rd.transport, 'fake');
  assert.equal(conns[0].url.searchParams.get('topics'), 'news');
});

test('a reconnect resumes from the last cursor and drops what it already had', async () => {
  let n = 0;
  const { conns, adapters } = fakes({
    fake: (k) => {
      k.c.open();
      if (n++ === 0) {
        k.c.event(ev('a', 1));
        k.c.event(ev('b', 2));
        k.c.fail({ eof: 1 });
      } else k.c.event(ev('b', 2)) || k.c.event(ev('c', 3));
    },
  });
  const rd = client({ transport: 'fake', adapters });
  const got = [];
  rd.on('event', (e) => got.push(e.id));
  await until(() => got.length === 3);
  assert.deepEqual(got, ['a', 'b', 'c']);
  assert.equal(conns[1].url.searchParams.get('since'), 'c2');
});

test('notification and unread events set rd.unread; REST is re-read on open', async () => {
  routes['/v1/inbox/unread'] = () => new Response('{"total":7,"categories":{"comment":7}}');
  const { adapters } = fakes({ fake: (k) => k.c.open() });
  const rd = client({ transport: 'fake', adapters, token: jwt({ sub: '42' }) });
  const seen = [];
  rd.on('unread', (u) => seen.push(u.total));
  await until(() => rd.unread.total === 7);
  rd._deliver({ id: 'n1', topic: 'user:42', seq: 1, event: 'notification', data: { id: 'n1', title: 't', unread: { total: 8, categories: { comment: 8 } } } });
  rd._deliver({ id: 'u1', topic: 'user:42', seq: 0, event: 'unread', data: { total: 0, categories: {} } });
  assert.deepEqual(seen, [7, 8, 0]);
  assert.deepEqual(rd.unread, { total: 0, categories: {} });
});

test('auto: a transport that never opens while /healthz answers is replaced, and remembered', async () => {
  const { conns, adapters } = fakes({
    websocket: (k) => k.c.fail({ code: 1006 }),
    sse: (k) => k.c.open(),
  });
  const rd = client({ transport: 'auto', adapters });
  await until(() => rd.state === 'open');
  assert.equal(rd.transport, 'sse');
  assert.deepEqual(conns.map((k) => k.name), ['websocket', 'websocket', 'sse']);
  assert.equal(JSON.parse(localStorage.getItem('reddot:tr|' + BASE)).n, 'sse');

  const again = client({ transport: 'auto', adapters });
  await until(() => again.state === 'open');
  assert.equal(conns.at(-1).name, 'sse', 'a new client starts with what worked');
});

test('auto: no first byte within openTimeout counts as blocked (buffering proxy)', async () => {
  const { conns, adapters } = fakes({ sse: () => {}, longpoll: (k) => k.c.open() });
  localStorage.setItem('reddot:tr|' + BASE, JSON.stringify({ n: 'sse', t: Date.now() }));
  const rd = client({ transport: 'auto', adapters, openTimeout: 100 });
  await until(() => rd.state === 'open');
  assert.equal(rd.transport, 'longpoll');
  assert.deepEqual(conns.map((k) => k.name), ['sse', 'longpoll']);
  assert.equal(conns[0].closed, true);
});

test('auto: connections that open and die at once three times are replaced', async () => {
  const { adapters } = fakes({ websocket: (k) => (k.c.open(), k.c.fail({ code: 1006 })), sse: (k) => k.c.open() });
  const rd = client({ transport: 'auto', adapters });
  await until(() => rd.transport === 'sse' && rd.state === 'open', 8000);
});

test('auto: when the server itself is unreachable the transport is kept', async () => {
  routes['/healthz'] = () => Promise.reject(new TypeError('fetch failed'));
  const { conns, adapters } = fakes({ websocket: (k) => k.c.fail({ code: 1006 }), sse: (k) => k.c.open() });
  const rd = client({ transport: 'auto', adapters });
  await until(() => conns.length >= 3, 8000);
  assert.ok(conns.every((k) => k.name === 'websocket'), conns.map((k) => k.name).join());
  assert.notEqual(rd.state, 'open');
});

test('a fixed transport is never replaced', async () => {
  const { conns, adapters } = fakes({ websocket: (k) => k.c.fail({ code: 1006 }), sse: (k) => k.c.open() });
  client({ transport: 'websocket', adapters });
  await until(() => conns.length >= 3, 8000);
  assert.ok(conns.every((k) => k.name === 'websocket'));
});

test('an auth failure fetches a fresh token for the next connection', async () => {
  let minted = 0;
  const getToken = async () => jwt({ sub: '42', n: ++minted });
  let n = 0;
  const { conns, adapters } = fakes({ fake: (k) => (k.c.open(), n++ === 0 && k.c.fail({ auth: true })) });
  const rd = client({ transport: 'fake', adapters, getToken });
  await until(() => conns.length === 2 && rd.state === 'open');
  const tok = (k) => JSON.parse(Buffer.from(k.url.searchParams.get('token').split('.')[1], 'base64url')).n;
  assert.equal(tok(conns[0]), 1);
  assert.equal(tok(conns[1]), 2);
  assert.equal(rd.user, '42');
});

test('an expiring token is refreshed before connecting', async () => {
  let minted = 0;
  const getToken = async () => jwt({ sub: '42', exp: Math.floor(Date.now() / 1000) + (++minted === 1 ? 5 : 3600) });
  const { conns, adapters } = fakes({ fake: (k) => k.c.open() });
  const rd = client({ transport: 'fake', adapters, getToken });
  await until(() => rd.state === 'open');
  assert.equal(minted, 2, 'the first token expired within 30 s, so a second was fetched');
  assert.equal(conns.length, 1);
});

test('a reset (410) clears the cursor, re-reads the counts and emits reset', async () => {
  let reads = 0;
  routes['/v1/inbox/unread'] = () => new Response(JSON.stringify({ total: ++reads, categories: {} }));
  let n = 0;
  const { conns, adapters } = fakes({ fake: (k) => (k.c.open(), n++ === 0 && (k.c.event(ev('a', 1)), k.c.reset(), k.c.fail({ eof: 1 }))) });
  const rd = client({ transport: 'fake', adapters, token: jwt({ sub: '42' }) });
  let resets = 0;
  rd.on('reset', () => resets++);
  await until(() => conns.length === 2);
  assert.equal(resets, 1);
  assert.equal(conns[1].url.searchParams.get('since'), null, 'starts over at the head');
  await until(() => reads >= 3); // start, open, reset (+ second open)
});

test('inbox REST calls send the token and apply the answered counts', async () => {
  const calls = [];
  routes['/v1/inbox/read'] = (u, init) => (calls.push([init.method, init.headers.Authorization, init.body]), new Response('{"total":0,"categories":{}}'));
  routes['/v1/inbox'] = (u) => new Response(JSON.stringify({ items: [{ id: 'x' }], next: '', q: u.search }));
  const { adapters } = fakes({ fake: (k) => k.c.open() });
  const rd = client({ transport: 'fake', adapters, token: 'tok' });
  rd.unread = { total: 3, categories: {} };
  assert.deepEqual(await rd.inbox.readAll(), { total: 0, categories: {} });
  await rd.inbox.read(['a', 'b']);
  assert.deepEqual(calls, [['POST', 'Bearer tok', '{"all":true}'], ['POST', 'Bearer tok', '{"ids":["a","b"]}']]);
  assert.equal(rd.unread.total, 0);
  const page = await rd.inbox.list({ limit: 5, status: 'unread' });
  assert.equal(page.q, '?limit=5&status=unread');
  routes['/v1/inbox/read'] = () => new Response('{"error":{"code":"invalid","message":"nope"}}', { status: 400 });
  await assert.rejects(rd.inbox.read('x'), { status: 400, code: 'invalid', message: 'nope' });
});

test('subscribing to a new topic reconnects with the cursor, or asks a live WebSocket', async () => {
  const { conns, adapters } = fakes({ fake: (k) => (k.c.open(), k.c.event(ev('a', 1))) });
  const rd = client({ transport: 'fake', adapters, topics: ['news'] });
  await until(() => rd.cursor === 'c1');
  rd.subscribe('sport', () => {});
  await until(() => conns.length === 2);
  assert.equal(conns[1].url.searchParams.get('topics'), 'news,sport');
  assert.equal(conns[1].url.searchParams.get('since'), 'c1');
  assert.equal(conns[0].closed, true);
});

test('setTransport switches and keeps the cursor; close stops everything', async () => {
  const { conns, adapters } = fakes({ a: (k) => (k.c.open(), k.c.event(ev('x', 1))), b: (k) => (k.c.open(), k.c.event(ev('x', 1)), k.c.event(ev('y', 2))) });
  const rd = client({ transport: 'a', adapters });
  const got = [];
  rd.on('event', (e) => got.push(e.id));
  await until(() => rd.cursor === 'c1');
  rd.setTransport('b');
  await until(() => got.length === 2);
  assert.deepEqual(got, ['x', 'y'], 'the replayed x is dropped');
  assert.equal(conns[1].url.searchParams.get('since'), 'c1');
  assert.equal(rd.transport, 'b');
  rd.close();
  assert.equal(rd.state, 'closed');
  assert.equal(conns[1].closed, true);
});

test('a getToken that fails at start is retried before anything connects', async () => {
  let calls = 0;
  const getToken = async () => {
    if (++calls === 1) throw new Error('token service down');
    return jwt({ sub: '42' });
  };
  const { conns, adapters } = fakes({ fake: (k) => k.c.open() });
  const rd = client({ transport: 'fake', adapters, getToken });
  const errors = [];
  rd.on('error', (e) => errors.push(e.err.message));
  await until(() => rd.state === 'open');
  assert.deepEqual(errors, ['token service down']);
  assert.equal(rd.user, '42');
  assert.equal(conns.length, 1);
  assert.ok(conns[0].url.searchParams.get('token'));
});

const hang = (init) => new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
const json = (v, init) => new Response(JSON.stringify(v), init);

test('long polling opens at once with a short poll, then holds requests with the cursor', async () => {
  const seen = [];
  routes['/v1/poll'] = (u) => (seen.push(['poll', u.searchParams.get('since')]), json({ events: [ev('b', 2)], cursor: 'c2' }));
  routes['/v1/longpoll'] = (u, init) => (seen.push(['longpoll', u.searchParams.get('since'), u.searchParams.get('timeout')]), hang(init));
  const { adapters } = fakes({ fake: (k) => (k.c.open(), k.c.event(ev('a', 1))) });
  const rd = client({ transport: 'fake', adapters, openTimeout: 300 });
  const got = [];
  rd.on('event', (e) => got.push(e.id));
  await until(() => rd.cursor === 'c1');
  seen.length = 0; // the fake stream's head lookup
  rd.setTransport('longpoll');
  await until(() => got.length === 2 && seen.length === 2);
  assert.equal(rd.state, 'open');
  assert.deepEqual(seen, [['poll', 'c1'], ['longpoll', 'c2', '25']]);
  await new Promise((r) => setTimeout(r, 400)); // past openTimeout: a held request is not a failure
  assert.equal(rd.state, 'open');
});

test('short polling sends If-None-Match and re-reads the counts each poll', async () => {
  const polls = [], unread = [];
  routes['/v1/poll'] = (u, init) => {
    polls.push(init.headers['If-None-Match'] || '');
    return polls.length === 1 ? json({ events: [], cursor: 'c0' }, { headers: { ETag: '"e1"' } }) : new Response(null, { status: 304 });
  };
  routes['/v1/inbox/unread'] = (u, init) => {
    unread.push(init.headers['If-None-Match'] || '');
    return unread.length === 1 ? json({ total: 2, categories: {} }, { headers: { ETag: '"u1"' } }) : new Response(null, { status: 304 });
  };
  const rd = client({ transport: 'poll', pollInterval: 20, token: jwt({ sub: '42' }) });
  await until(() => polls.length >= 4 && unread.length >= 4);
  assert.deepEqual(polls.slice(0, 3), ['', '"e1"', '"e1"']);
  assert.ok(unread.slice(1).every((e) => e === '"u1"'), unread.join());
  assert.equal(rd.unread.total, 2);
  assert.equal(rd.cursor, 'c0');
});
