// The client through a server restart (SIGTERM drain), the browser going
// offline and back, and tokens that expire while connected: nothing is
// lost, nothing arrives twice.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Server } from './lib/server.mjs';
import { launch, newContext, openDemo, waitBadge } from './lib/browser.mjs';

let browser;
before(async () => (browser = await launch()));
after(() => browser?.close());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function demo(t, transport) {
  const srv = new Server();
  t.after(() => srv.close());
  await srv.start();
  const ctx = await newContext(browser);
  t.after(() => ctx.close());
  const page = await openDemo(ctx, srv.url, { transport });
  return { srv, ctx, page };
}

const receivedOnce = (page, ids) => page.waitForFunction(
  (ids) => ids.every((id) => window.demo.received.filter((x) => x === id).length === 1), ids, { timeout: 15000 });

for (const transport of ['websocket', 'sse']) {
  test(`${transport}: a server restart loses nothing`, async (t) => {
    const { srv, page } = await demo(t, transport);
    const a = await srv.notify('42', 'Before the restart');
    await waitBadge(page, 1);
    await srv.stop(); // SIGTERM: streams are closed with a reconnect hint
    await page.waitForFunction(() => window.demo.rd.state !== 'open', null, { timeout: 5000 });
    await srv.start(); // same port, same data
    const ids = [await srv.notify('42', 'After #1'), await srv.notify('42', 'After #2')];
    await waitBadge(page, 3, 15000);
    await receivedOnce(page, [a, ...ids]);
    assert.equal(await page.evaluate(() => window.demo.rd.transport), transport);
  });
}

test('offline, then online: reconnects at once and catches up', async (t) => {
  const { srv, ctx, page } = await demo(t, 'websocket');
  await ctx.setOffline(true);
  await page.waitForFunction(() => window.demo.rd.state === 'offline', null, { timeout: 5000 });
  const ids = [await srv.notify('42', 'While offline #1'), await srv.notify('42', 'While offline #2')];
  await sleep(300);
  assert.equal(await page.evaluate(() => window.demo.received.length), 0);
  await ctx.setOffline(false);
  await waitBadge(page, 2, 3000); // the online event skips the backoff
  await receivedOnce(page, ids);
});

const SECRET = 'browsertest-secret-0123456789abcdef';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function mint(user, ttl) {
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: user, iat: now, exp: now + ttl })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

for (const transport of ['websocket', 'sse', 'longpoll']) {
  test(`${transport}: tokens that expire while connected are replaced through getToken`, async (t) => {
    const srv = new Server({ args: ['--jwt-secret', SECRET] });
    t.after(() => srv.close());
    await srv.start();
    const ctx = await newContext(browser);
    t.after(() => ctx.close());
    const page = await ctx.newPage();
    let minted = 0;
    await page.exposeFunction('mint', () => (minted++, mint('7', 3)));
    await page.goto(srv.url + '/healthz');
    await page.evaluate(async (transport) => {
      const { Reddot } = await import('/reddot.js');
      window.got = [];
      window.rd = new Reddot({ getToken: () => window.mint(), transport, share: false });
      window.rd.on('notification', (ev) => window.got.push(ev.id));
    }, transport);
    await page.waitForFunction(() => window.rd.state === 'open', null, { timeout: 5000 });
    const ids = [await srv.notify('7', 'First')];
    await sleep(4000); // the first token has expired
    ids.push(await srv.notify('7', 'After the first token expired'));
    await sleep(3500); // and the second
    ids.push(await srv.notify('7', 'After the second'));
    await page.waitForFunction((ids) => ids.every((id) => window.got.filter((x) => x === id).length === 1), ids, { timeout: 10000 });
    assert.ok(minted >= 3, `getToken was called ${minted} times`);
    assert.equal(await page.evaluate(() => window.rd.unread.total), 3);
  });
}
