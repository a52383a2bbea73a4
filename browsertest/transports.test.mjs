// For each of the six transports: two tabs of user 42 on the demo share one
// connection; a notification lights both badges within 2 s; "mark all read"
// in one tab clears both; the network is cut while 5 notifications are
// published, and after it returns both tabs show exactly those 5, once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Proxy, Server } from './lib/server.mjs';
import { badge, launch, newContext, openDemo, screenshot, waitBadge } from './lib/browser.mjs';

const TRANSPORTS = ['websocket', 'sse', 'longpoll', 'poll', 'iframe', 'mqtt'];
// /v1/stats names of transports whose connection stays open between events.
const STAT = { websocket: 'ws', sse: 'sse', iframe: 'iframe' };

let browser;
before(async () => (browser = await launch()));
after(() => browser?.close());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** listOnce waits until the page's inbox lists each id exactly once and its client got each once. */
function listOnce(page, ids, timeout = 20000) {
  return page.waitForFunction((ids) => ids.every((id) =>
    document.querySelectorAll(`#list li[data-id="${id}"]`).length === 1 &&
    window.demo.received.filter((x) => x === id).length === 1), ids, { timeout, polling: 50 });
}

for (const transport of TRANSPORTS) {
  test(`${transport}: two tabs, live badge, mark all read, network cut`, async (t) => {
    const proxy = await new Proxy().listen();
    const srv = new Server({ origins: [proxy.url], mqtt: transport === 'mqtt' });
    t.after(async () => {
      await proxy.close();
      await srv.close();
    });
    await srv.start();
    proxy.targetPort = srv.port;
    if (transport === 'mqtt' && (await fetch(srv.url + '/mqtt')).status === 404) {
      assert.notEqual(process.env.CI, 'true', 'MQTT over WebSocket (/mqtt) is not served');
      t.skip('MQTT over WebSocket (/mqtt) is not served by this build');
      return;
    }

    const ctx = await newContext(browser, { viewport: { width: 1200, height: 860 } });
    t.after(() => ctx.close());
    const a = await openDemo(ctx, proxy.url, { transport });
    const b = await openDemo(ctx, proxy.url, { transport });
    const roles = await Promise.all([a, b].map((p) => p.evaluate(() => window.demo.rd.role)));
    assert.deepEqual(roles.sort(), ['follower', 'leader']);
    for (const p of [a, b]) assert.equal(await p.evaluate(() => window.demo.rd.transport), transport);
    if (STAT[transport]) assert.equal((await srv.connections())[STAT[transport]], 1, 'one server connection for two tabs');

    // Live: a notification lights both badges within 2 s.
    const first = await srv.notify('42', 'Ada commented on your post');
    await Promise.all([waitBadge(a, 1, 2000), waitBadge(b, 1, 2000)]);
    await listOnce(a, [first], 2000);

    // Mark all read in one tab clears the badge in both.
    await b.click('#readall');
    await Promise.all([waitBadge(a, 0, 2000), waitBadge(b, 0, 2000)]);

    // Cut the network, publish 5 while the page cannot reach the server, restore.
    const leader = roles[0] === 'leader' ? a : b;
    await leader.evaluate(() => (window.__states = []) && window.demo.rd.on('state', (s) => window.__states.push(s.state)));
    proxy.cut();
    await leader.waitForFunction(() => window.demo.rd.state !== 'open', null, { timeout: 5000 });
    const ids = [];
    for (let i = 1; i <= 5; i++) ids.push(await srv.notify('42', `Missed while offline #${i}`, i % 2 ? 'mention' : 'system'));
    await sleep(500);
    proxy.restore();
    await Promise.all([waitBadge(a, 5, 20000), waitBadge(b, 5, 20000)]);
    await Promise.all([listOnce(a, ids), listOnce(b, ids)]);
    await sleep(300); // nothing arrives twice later either
    for (const p of [a, b]) {
      assert.equal(await badge(p), 5);
      const listed = await p.evaluate(() => [...document.querySelectorAll('#list li')].map((li) => li.dataset.id));
      assert.equal(listed.length, 6, 'the first notification and the 5 missed ones');
      assert.deepEqual(listed.slice(0, 5).sort(), [...ids].sort());
      const received = await p.evaluate(() => window.demo.received);
      assert.deepEqual(received.slice(1).sort(), [...ids].sort(), 'each missed notification delivered once');
      assert.equal(await p.evaluate(() => document.querySelectorAll('#list li.unread').length), 5);
    }
    const states = await leader.evaluate(() => window.__states);
    assert.ok(states.includes('open') && states.indexOf('open') > 0, `the leader reconnected: ${states}`);

    await screenshot(a, `${transport}-desktop`);
    await b.setViewportSize({ width: 390, height: 844 });
    await screenshot(b, `${transport}-phone`);
  });
}
