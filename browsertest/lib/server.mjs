// Helpers for the browser tests: build and run `reddot serve --demo` on a
// free loopback port, talk to its API, and a TCP proxy that can cut the
// network between the browser and the server.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const API_KEY = 'browsertest-key';

let built;
/**
 * buildReddot compiles ./cmd/reddot once per process and returns the binary
 * path; $REDDOT_BIN names a prebuilt binary instead.
 */
export function buildReddot() {
  if (process.env.REDDOT_BIN) return process.env.REDDOT_BIN;
  if (built) return built;
  // Under browsertest/.bin (gitignored), away from other tests' temp dirs.
  const dir = path.join(ROOT, 'browsertest/.bin');
  mkdirSync(dir, { recursive: true });
  const bin = path.join(dir, `reddot-${process.pid}`);
  execFileSync('go', ['build', '-o', bin, './cmd/reddot'], { cwd: ROOT, stdio: 'inherit' });
  process.on('exit', () => rmSync(bin, { force: true }));
  return (built = bin);
}

/** freePort returns a loopback port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Server is one `reddot serve --demo` process on 127.0.0.1. origins are
 * extra allowed origins (e.g. a proxy's). stop/start keep port and data.
 */
export class Server {
  constructor({ origins = [], mqtt = false, args = [] } = {}) {
    this.origins = origins;
    this.mqtt = mqtt;
    this.args = args;
    this.dataDir = mkdtempSync(path.join(os.tmpdir(), 'rdbrowsertest-'));
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    const bin = buildReddot();
    this.port ||= await freePort();
    if (this.mqtt && !this.mqttPort) this.mqttPort = await freePort();
    const origins = [this.url, ...this.origins].join(',');
    const args = ['serve', '--demo', '--http-addr', `127.0.0.1:${this.port}`,
      '--mqtt-addr', this.mqtt ? `127.0.0.1:${this.mqttPort}` : 'off',
      '--data-dir', this.dataDir, '--api-keys', API_KEY, '--allowed-origins', origins,
      '--log-level', 'warn', '--shutdown-timeout', '2s', ...this.args];
    this.proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.log = '';
    this.proc.stdout.on('data', (b) => (this.log += b));
    this.proc.stderr.on('data', (b) => (this.log += b));
    this.exited = new Promise((r) => this.proc.once('exit', (code) => r(code)));
    for (let i = 0; i < 200; i++) {
      if (this.proc.exitCode !== null) throw new Error('reddot exited: ' + this.log);
      try {
        if ((await fetch(this.url + '/healthz')).ok) return this;
      } catch {}
      await sleep(50);
    }
    throw new Error('reddot did not come up: ' + this.log);
  }

  /** stop sends SIGTERM to our own process and waits for it (SIGKILL after 5 s). */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const pid = this.proc.pid;
    process.kill(pid, 'SIGTERM');
    const t = setTimeout(() => this.proc.exitCode === null && process.kill(pid, 'SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }

  async close() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async api(p, { method = 'GET', body } = {}) {
    const r = await fetch(this.url + p, {
      method,
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** notify publishes one notification to user and returns its id. */
  async notify(user, title, category = 'comment') {
    const { ids } = await this.api('/v1/publish', { method: 'POST', body: { users: [user], notification: { category, title } } });
    return ids[0];
  }

  /** connections returns /v1/stats connections per transport. */
  async connections() {
    return (await this.api('/v1/stats')).connections || {};
  }
}

/**
 * Proxy forwards TCP from a loopback port to target. cut() drops every
 * connection and refuses new ones until restore(); blockUpgrade answers
 * WebSocket handshakes with 502 (a proxy that kills upgrades); bufferSSE
 * forwards the headers of text/event-stream answers but holds their body
 * (a buffering proxy).
 */
export class Proxy {
  constructor() {
    this.sockets = new Set();
    this.down = false;
    this.blockUpgrade = false;
    this.bufferSSE = false;
    this.upgrades = 0; // WebSocket handshakes seen
    this.paths = []; // request paths seen, in order
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen() {
    this.srv = net.createServer((c) => this._conn(c));
    await new Promise((r) => this.srv.listen(0, '127.0.0.1', r));
    this.port = this.srv.address().port;
    return this;
  }

  _conn(client) {
    if (this.down) return client.destroy();
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    let first = true;
    client.on('data', (b) => {
      const head = b.toString('latin1');
      for (const m of head.matchAll(/^(?:GET|POST|DELETE|OPTIONS) (\S+) HTTP\/1/gm)) this.paths.push(m[1]);
      const upgrade = first && /^upgrade:\s*websocket/im.test(head);
      if (upgrade) this.upgrades++;
      if (upgrade && this.blockUpgrade) {
        client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        upstream.destroy();
        return;
      }
      first = false;
      upstream.write(b);
    });
    let holding = false;
    upstream.on('data', (b) => {
      if (holding) return;
      const s = b.toString('latin1');
      const end = s.indexOf('\r\n\r\n');
      if (this.bufferSSE && end >= 0 && /^content-type:\s*text\/event-stream/im.test(s.slice(0, end))) {
        holding = true;
        client.write(b.subarray(0, end + 4));
        return;
      }
      client.write(b);
    });
  }

  cut() {
    this.down = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore() {
    this.down = false;
  }

  async close() {
    this.cut();
    await new Promise((r) => this.srv.close(r));
  }
}
