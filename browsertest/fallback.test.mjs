// transport:'auto' behind hostile proxies: a proxy that kills WebSocket
// upgrades makes the client settle on SSE (and remember it); one that also
// buffers event streams makes it settle on long polling.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Proxy, Server } from './lib/server.mjs';
import { launch, newContext, openDemo, screenshot, waitBadge, waitLive } from './lib/browser.mjs';

let browser;
before(async () => (browser = await launch()));
after(() => browser?.close());

async function setup(t, mode) {
  const proxy = await new Proxy().listen();
  Object.assign(proxy, mode);
  const srv = new Server({ origins: [proxy.url] });
  t.after(async () => {
    await proxy.close();
    await srv.close();
  });
  await srv.start();
  proxy.targetPort = srv.port;
  const ctx = await newContext(browser);
  t.after(() => ctx.close());
  return { proxy, srv, ctx };
}

test('WebSocket upgrades killed by a proxy: auto settles on SSE and remembers it', async (t) => {
  const { proxy, srv, ctx } = await setup(t, { blockUpgrade: true });
  const page = await openDemo(ctx, proxy.url, { transport: 'auto', wait: false });
  await waitLive(page, 20000);
  assert.equal(await page.evaluate(() => window.demo.rd.transport), 'sse');
  assert.ok(proxy.upgrades >= 2, `WebSocket was tried first (${proxy.upgrades} upgrades)`);
  const conns = await srv.connections();
  assert.equal(conns.sse, 1);
  assert.ok(!conns.ws, 'no WebSocket reached the server');
  const remembered = await page.evaluate(() => JSON.parse(localStorage.getItem('reddot:tr|' + location.origin)).n);
  assert.equal(remembered, 'sse');

  await srv.notify('42', 'Delivered over SSE');
  await waitBadge(page, 1, 2000);
  await screenshot(page, 'fallback-sse');

  // The next visit starts with what worked: no new upgrade attempts.
  const before = proxy.upgrades;
  await page.reload();
  await waitLive(page, 5000);
  assert.equal(await page.evaluate(() => window.demo.rd.transport), 'sse');
  assert.equal(proxy.upgrades, before);
});

test('SSE buffered by a proxy (no first byte): auto settles on long polling', async (t) => {
  const { proxy, srv, ctx } = await setup(t, { blockUpgrade: true, bufferSSE: true });
  const page = await openDemo(ctx, proxy.url, { transport: 'auto', wait: false });
  await waitLive(page, 30000);
  assert.equal(await page.evaluate(() => window.demo.rd.transport), 'longpoll');

  // The long-poll transport catches up with one /v1/poll and only then
  // parks a /v1/longpoll, so look at the request log after a delivery has
  // gone through it rather than the moment the client reports live.
  await srv.notify('42', 'Delivered over long polling');
  await waitBadge(page, 1, 2000);
  const sse = proxy.paths.findIndex((p) => p.startsWith('/v1/sse'));
  const lp = proxy.paths.findIndex((p) => p.startsWith('/v1/longpoll'));
  assert.ok(proxy.upgrades >= 1 && sse >= 0 && lp > sse, `WebSocket, then SSE, then long polling: ${proxy.paths}`);
  await screenshot(page, 'fallback-longpoll');
});
