// Unit tests of reddot.js's pure parts: node --test web/sdk/test/
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoff, jwtClaims, expiresSoon, sseParser, Dedup, nextTransport, ORDER } from '../reddot.js';
import { mqttTopics } from '../reddot-mqtt.js';

test('backoff grows, stays within [d/2, d] and is capped', () => {
  for (let n = 0; n < 30; n++) {
    const d = Math.min(30000, 500 * 2 ** n);
    assert.equal(backoff(n, 500, 30000, () => 0), d / 2);
    assert.equal(backoff(n, 500, 30000, () => 1), d);
    const r = backoff(n);
    assert.ok(r >= d / 2 && r <= d, `attempt ${n}: ${r} outside [${d / 2}, ${d}]`);
  }
  assert.equal(backoff(1e9, 500, 30000, () => 1), 30000);
});

const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const jwt = (claims) => `${b64url({ alg: 'HS256' })}.${b64url(claims)}.sig`;

test('jwtClaims decodes the payload without verifying, {} for junk', () => {
  assert.deepEqual(jwtClaims(jwt({ sub: '42', name: 'Zoë ✓', exp: 5 })), { sub: '42', name: 'Zoë ✓', exp: 5 });
  for (const junk of ['', 'abc', 'a.b.c', 'a.!!!.c', null, undefined, 42]) assert.deepEqual(jwtClaims(junk), {});
});

test('expiresSoon compares exp with now plus a margin', () => {
  const at = 1_000_000_000_000;
  assert.equal(expiresSoon(jwt({ exp: at / 1000 + 10 }), 30000, at), true);
  assert.equal(expiresSoon(jwt({ exp: at / 1000 + 60 }), 30000, at), false);
  assert.equal(expiresSoon(jwt({ sub: 'x' }), 30000, at), false, 'no exp never expires');
  assert.equal(expiresSoon('', 30000, at), false);
  const short = jwt({ iat: at / 1000, exp: at / 1000 + 8 }); // an 8 s token: a quarter is 2 s
  assert.equal(expiresSoon(short, 30000, at), false);
  assert.equal(expiresSoon(short, 30000, at + 5000), false);
  assert.equal(expiresSoon(short, 30000, at + 6500), true);
});

const STREAM =
  'retry: 2000\n: connected\n\n' +
  'id: c1\nevent: notification\ndata: {"id":"a","n":1}\n\n' +
  ':hb\n\n' +
  'id: c2\r\nevent: message\r\ndata: {"id":"b",\r\ndata: "n":2}\r\n\r\n' +
  'data: plain\rdata: two\r\r' +
  ': closing: unauthorized\nretry: 1000\n\n';
const WANT_EVENTS = [
  { event: 'notification', data: '{"id":"a","n":1}', id: 'c1' },
  { event: 'message', data: '{"id":"b",\n"n":2}', id: 'c2' },
  { event: 'message', data: 'plain\ntwo', id: 'c2' },
];
const WANT_COMMENTS = ['connected', 'hb', 'closing: unauthorized'];

function parseAll(chunks) {
  const events = [], comments = [];
  const feed = sseParser((e) => events.push(e), (c) => comments.push(c));
  for (const c of chunks) feed(c);
  return { events, comments };
}

test('sseParser reads events, ids, multi-line data and comments', () => {
  assert.deepEqual(parseAll([STREAM]), { events: WANT_EVENTS, comments: WANT_COMMENTS });
});

test('sseParser gives the same result however the stream is split', () => {
  for (let i = 1; i < STREAM.length; i++) {
    for (const j of [i + 1, i + 7, STREAM.length]) {
      const got = parseAll([STREAM.slice(0, i), STREAM.slice(i, j), STREAM.slice(j)]);
      assert.deepEqual(got, { events: WANT_EVENTS, comments: WANT_COMMENTS }, `split at ${i}/${j}`);
    }
  }
  assert.deepEqual(parseAll([...STREAM]), { events: WANT_EVENTS, comments: WANT_COMMENTS }, 'one char at a time');
});

test('sseParser holds an unfinished event back', () => {
  const { events } = parseAll(['data: {"id":"x"}\n']);
  assert.deepEqual(events, []);
});

test('Dedup drops repeated ids and old seqs, per topic', () => {
  const d = new Dedup(3);
  assert.equal(d.seen({ id: 'a', topic: 't', seq: 1 }), false);
  assert.equal(d.seen({ id: 'a', topic: 't', seq: 1 }), true, 'same id');
  assert.equal(d.seen({ id: 'b', topic: 't', seq: 1 }), true, 'same seq, other id');
  assert.equal(d.seen({ id: 'c', topic: 'u', seq: 1 }), false, 'seq is per topic');
  assert.equal(d.seen({ id: 'd', topic: 't', seq: 2 }), false);
  assert.equal(d.seen({ id: 'e', topic: 'user:42', seq: 0 }), false, 'ephemeral events count by id only');
  assert.equal(d.seen({ id: 'e', topic: 'user:42', seq: 0 }), true);
  d.forget('t');
  assert.equal(d.seen({ id: 'f', topic: 't', seq: 1 }), false, 'a reset topic may start over');
  assert.ok(d.ids.size <= 3, 'the id memory is bounded');
  d.forget();
  assert.deepEqual(d.seq, {});
});

test('nextTransport steps down the order and stops at short polling', () => {
  assert.deepEqual(ORDER, ['websocket', 'sse', 'longpoll', 'poll']);
  assert.equal(nextTransport('websocket'), 'sse');
  assert.equal(nextTransport('sse'), 'longpoll');
  assert.equal(nextTransport('longpoll'), 'poll');
  assert.equal(nextTransport('poll'), 'poll');
});

test('mqttTopics maps topics, the inbox and broadcast', () => {
  assert.deepEqual(mqttTopics(['news', 'a/b'], '42'), ['reddot/topics/news', 'reddot/topics/a/b', 'reddot/users/42/inbox', 'reddot/broadcast']);
  assert.deepEqual(mqttTopics(['news'], ''), ['reddot/topics/news'], 'anonymous: no inbox');
  assert.deepEqual(mqttTopics(['news'], '42', false), ['reddot/topics/news'], 'inbox: false');
});
