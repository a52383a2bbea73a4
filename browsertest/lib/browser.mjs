// Debian's chromium driven by playwright-core, plus demo-page helpers.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT } from './server.mjs';

export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

/** launch starts the system chromium (never a downloaded one). */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

// The demo loads mqtt.js from a CDN; tests serve the npm copy instead.
const MQTT_LIB = 'https://cdn.jsdelivr.net/npm/mqtt@5.16.0/dist/mqtt.esm.js';
const MQTT_FILE = path.join(ROOT, 'browsertest/node_modules/mqtt/dist/mqtt.esm.js');

/** newContext returns a browser context whose pages load mqtt.js locally. */
export async function newContext(browser, opts = {}) {
  const ctx = await browser.newContext(opts);
  await ctx.route(MQTT_LIB, (route) =>
    route.fulfill({ path: MQTT_FILE, contentType: 'text/javascript', headers: { 'Access-Control-Allow-Origin': '*' } }));
  return ctx;
}

/** openDemo opens the demo as user in a new page of ctx and waits until it is live. */
export async function openDemo(ctx, base, { user = '42', transport = 'auto', wait = true } = {}) {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[page ${user}/${transport}] ${e.message}`));
  await page.goto(`${base}/?user=${encodeURIComponent(user)}&transport=${transport}`);
  if (wait) await waitLive(page);
  return page;
}

/** waitLive waits until the page's client reports an open connection. */
export function waitLive(page, timeout = 15000) {
  return page.waitForFunction(() => window.demo?.rd.state === 'open', null, { timeout });
}

/** badge returns the number the red badge shows (0 when hidden). */
export function badge(page) {
  return page.evaluate(() => {
    const b = document.querySelector('#badge');
    return b.hidden ? 0 : Number(b.textContent);
  });
}

/** waitBadge waits until the badge shows n. */
export function waitBadge(page, n, timeout = 2000) {
  return page.waitForFunction((n) => {
    const b = document.querySelector('#badge');
    return (b.hidden ? 0 : Number(b.textContent)) === n;
  }, n, { timeout, polling: 25 });
}

/** screenshot writes test-artifacts/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: true });
}
