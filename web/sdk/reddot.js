// reddot.js — the browser client of reddot: topic events and the red unread
// badge over WebSocket, SSE, long polling, short polling, an iframe stream or
// (with reddot-mqtt.js) MQTT. One connection per browser: the tabs of an
// origin elect a leader that holds it and relays to the others.
// Plain ES module, no dependencies, no build step. Docs: docs/sdk.md.

/** Transports tried by transport:'auto', best first. */
export const ORDER = ['websocket', 'sse', 'longpoll', 'poll'];

const now = () => Date.now();
const g = globalThis;
const json = JSON.stringify;

/**
 * backoff returns the delay before reconnect attempt n (0-based): a random
 * value between half and all of min(max, base·2ⁿ), so clients that lost the
 * same server do not come back in step.
 */
export function backoff(n, base = 500, max = 30000, rnd = Math.random) {
  const d = Math.min(max, base * 2 ** Math.min(n, 20));
  return Math.round(d / 2 + (rnd() * d) / 2);
}

/** jwtClaims returns the payload of a JWT without verifying it, or {}. */
export function jwtClaims(token) {
  try {
    const b = atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(b, (c) => c.charCodeAt(0)))) || {};
  } catch {
    return {};
  }
}

/**
 * expiresSoon reports whether a JWT expires within ms, or within a quarter
 * of its lifetime when that is shorter (tokens without exp never do).
 */
export function expiresSoon(token, ms = 30000, at = now()) {
  const { exp, iat } = jwtClaims(token || '');
  if (typeof iat === 'number' && exp > iat) ms = Math.min(ms, (exp - iat) * 250);
  return typeof exp === 'number' && exp * 1000 - at < ms;
}

/**
 * sseParser returns feed(text), an incremental text/event-stream parser: it
 * calls onEvent({event, data, id}) for each complete event and
 * onComment(text) for each comment line. Chunks may split lines anywhere.
 */
export function sseParser(onEvent, onComment = () => {}) {
  let rest = '', data = [], event = '', id = '';
  return (chunk) => {
    const text = rest + chunk;
    const cut = text.endsWith('\r') ? text.length - 1 : text.length; // \r\n may be split
    const lines = text.slice(0, cut).split(/\r\n|\r|\n/);
    rest = lines.pop() + text.slice(cut);
    for (const line of lines) {
      if (!line) {
        if (data.length) onEvent({ event: event || 'message', data: data.join('\n'), id });
        data = [];
        event = '';
      } else if (line[0] === ':') {
        onComment(line.slice(1).trim());
      } else {
        const i = line.indexOf(':');
        const f = i < 0 ? line : line.slice(0, i);
        let v = i < 0 ? '' : line.slice(i + 1);
        if (v[0] === ' ') v = v.slice(1);
        if (f === 'data') data.push(v);
        else if (f === 'event') event = v;
        else if (f === 'id') id = v;
      }
    }
  };
}

/**
 * Dedup remembers the last `size` event ids and the highest seq per topic;
 * seen(ev) reports whether ev was delivered before (and records it if not).
 */
export class Dedup {
  constructor(size = 1000) {
    this.size = size;
    this.ids = new Set();
    this.seq = {};
  }
  seen(ev) {
    if (this.ids.has(ev.id) || (ev.seq > 0 && this.seq[ev.topic] >= ev.seq)) return true;
    this.ids.add(ev.id);
    if (this.ids.size > this.size) this.ids.delete(this.ids.values().next().value);
    if (ev.seq > 0) this.seq[ev.topic] = ev.seq;
    return false;
  }
  /** forget lets a topic start over (after a reset its seq may restart). */
  forget(topic) {
    if (topic) delete this.seq[topic];
    else this.seq = {};
  }
}

/**
 * nextTransport is where transport:'auto' goes when `name` does not work:
 * one step down ORDER, never below short polling.
 */
export function nextTransport(name) {
  return ORDER[Math.min(ORDER.indexOf(name) + 1, ORDER.length - 1)];
}

function store(key, value) {
  try {
    if (value === undefined) return JSON.parse(g.localStorage.getItem(key));
    g.localStorage.setItem(key, json(value));
  } catch {
    return null;
  }
}

// Adapters. Each gets a connection context c and returns {close, add?, poke?}.
// It calls c.open() once the server is known to stream to us (first byte),
// c.alive() on any sign of life, c.event(ev) per event, c.cursor = x when an
// answer carries a newer cursor, c.reset() when the cursor is gone (410),
// and c.fail(info) once when the connection ends.

async function jsonOf(r) {
  return r.status === 204 || r.status === 304 ? null : r.json();
}

function pollLoop(c, long) {
  let stop = false, busy, ac, timer, etag, more, n = 0;
  const tick = async () => {
    if (busy) return;
    busy = 1;
    clearTimeout(timer);
    ac = new AbortController();
    more = long;
    try {
      // The first request of a long poller is a short poll: it answers at
      // once (open), with what was missed and the cursor.
      const first = !n++ || !c.cursor;
      const h = c.auth();
      if (etag && !long) h['If-None-Match'] = etag;
      const q = long && !first ? { timeout: c.o.longpollTimeout } : {};
      const r = await fetch(c.url(long && !first ? '/v1/longpoll' : '/v1/poll', 0, q), { headers: h, signal: ac.signal, cache: 'no-store' });
      if (r.status === 410) {
        etag = null;
        c.reset();
        more = 1;
      } else if (r.ok || r.status === 304) {
        if (!long) etag = r.headers.get('ETag') || etag;
        const b = await jsonOf(r);
        c.open();
        c.alive();
        for (const ev of b?.events || []) c.event(ev);
        c.cursor = b?.cursor || r.headers.get('Reddot-Cursor');
        more = long || b?.events?.length; // drain a backlog at once
        // Unread events are not stored, so polls never see them: re-read
        // the counts (a 304 while unchanged) each poll, each empty long poll.
        if (!long || r.status === 204) c.sync();
      } else return c.fail({ status: r.status, body: await r.text() });
    } catch (e) {
      return stop || c.fail({ err: e });
    } finally {
      busy = 0;
    }
    if (!stop) timer = setTimeout(tick, more ? 0 : c.o.pollInterval);
  };
  tick();
  return {
    close() {
      stop = true;
      clearTimeout(timer);
      ac?.abort();
    },
    poke: long ? null : tick,
  };
}

/** The built-in transports, by name. Add more with the adapters option. */
export const transports = {
  websocket(c) {
    const ws = new WebSocket(c.url('/v1/ws', 1).replace(/^http/, 'ws'));
    let ping;
    const send = (f) => ws.readyState === 1 && ws.send(json(f));
    ws.onopen = () => {
      c.open();
      ping = setInterval(() => send({ op: 'ping' }), c.o.pingInterval);
    };
    ws.onmessage = (m) => {
      c.alive();
      const f = JSON.parse(m.data);
      if (f.op === 'event') {
        delete f.op;
        c.event(f);
      } else if (f.op === 'error') c.error(f.error);
    };
    ws.onclose = (e) => {
      clearInterval(ping);
      c.fail({ code: e.code, auth: e.code === 4001 });
    };
    return {
      close() {
        clearInterval(ping);
        ws.onclose = ws.onmessage = null;
        ws.close();
      },
      add: (topics) => send({ op: 'subscribe', topics }),
      poke: () => send({ op: 'ping' }),
    };
  },

  sse(c) {
    const ac = new AbortController();
    (async () => {
      const r = await fetch(c.url('/v1/sse'), { headers: { ...c.auth(), Accept: 'text/event-stream' }, signal: ac.signal, cache: 'no-store' });
      if (!r.ok) return c.fail({ status: r.status, body: await r.text() });
      const rd = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let why = '';
      const feed = sseParser((e) => c.event(JSON.parse(e.data)), (t) => t.startsWith('closing') && (why = t));
      for (;;) {
        const { done, value } = await rd.read();
        if (done) break;
        c.open();
        c.alive();
        feed(value);
      }
      c.fail({ auth: why.includes('unauthorized'), eof: 1 });
    })().catch((e) => c.fail({ err: e }));
    return { close: () => ac.abort() };
  },

  longpoll: (c) => pollLoop(c, true),

  poll: (c) => pollLoop(c, false),

  iframe(c) {
    const f = document.createElement('iframe');
    let closed, opened;
    const origin = new URL(c.base, location.href).origin;
    const onmsg = (m) => {
      const d = m.data;
      if (m.source !== f.contentWindow || m.origin !== origin || !d) return;
      c.alive();
      if (d.control === 'open') {
        opened = 1;
        c.open();
        c.cursor = d.cursor;
      } else if (d.control === 'close') {
        c.cursor = d.cursor; // after the last event written
        c.fail({ auth: d.code === 'unauthorized', now: d.retry === 0 }); // retry 0: the frame is full, reopen
      } else if (!d.control) c.event(d);
    };
    addEventListener('message', onmsg);
    // The stream ended, or an error page loaded (e.g. an origin not allowed).
    f.onload = () => c.fail(opened ? { eof: 1 } : { err: new Error(`iframe stream refused: is ${location.origin} in --allowed-origins?`) });
    f.hidden = true;
    f.title = 'reddot stream';
    // A frame still loading holds back the page's load event (and spins
    // the tab's loading icon): insert it once the page has loaded.
    const attach = () => {
      if (closed) return;
      f.src = c.url('/v1/iframe', 1, { origin: location.origin });
      document.body.append(f);
    };
    if (document.readyState === 'complete') attach();
    else addEventListener('load', attach, { once: true });
    return {
      close() {
        closed = 1;
        removeEventListener('message', onmsg);
        f.onload = null;
        f.remove();
      },
    };
  },
};

const DEFAULTS = {
  transport: 'auto',
  topics: [],
  inbox: true,
  share: true,
  pollInterval: 1000,
  longpollTimeout: 25,
  openTimeout: 5000,
  staleTimeout: 45000,
  pingInterval: 20000,
  rememberFor: 864e5,
};

/**
 * Reddot is one subscriber: new Reddot({url, token | getToken, transport,
 * topics}). It connects at once; see docs/sdk.md for options and events.
 */
export class Reddot {
  constructor(opts = {}) {
    const o = (this.o = { ...DEFAULTS, url: g.location?.origin, ...opts });
    this.url = String(o.url).replace(/\/$/, '');
    this.unread = { total: 0, categories: {} };
    this.state = 'connecting';
    this.transport = null;
    this.role = null;
    this.cursor = '';
    this._h = {};
    this._subs = new Map();
    this._topics = new Set(o.topics);
    this._dedup = new Dedup();
    this._tok = o.token;
    this._n = this._fails = this._quick = this._gen = this._uv = 0;
    this._adapters = { ...transports, ...o.adapters };
    this._setTransport(o.transport);
    const req = (path, method, body) => this._fetch(path, method, body);
    const counts = (c) => this._setUnread(c, 1); // every tab learns at once
    /** The inbox over REST; read and delete answer (and apply) the new counts. */
    this.inbox = {
      list: (q = {}) => req('/v1/inbox?' + new URLSearchParams(q)),
      read: (ids) => req('/v1/inbox/read', 'POST', { ids: [].concat(ids) }).then(counts),
      readAll: () => req('/v1/inbox/read', 'POST', { all: true }).then(counts),
      readCategory: (category) => req('/v1/inbox/read', 'POST', { category }).then(counts),
      delete: (id) => req('/v1/inbox/' + encodeURIComponent(id), 'DELETE').then(() => this._refreshUnread()),
      unread: () => req('/v1/inbox/unread').then(counts),
    };
    this._on = {
      online: () => this._wake(true),
      offline: () => this.role === 'leader' && (this._drop(), this._state('offline'), this._schedule(this.o.staleTimeout)),
      visibilitychange: () => g.document?.visibilityState === 'visible' && this._wake(),
      pagehide: () => this._lockless && this.role === 'leader' && this._post({ t: 'bye' }),
    };
    for (const k in this._on) g.addEventListener?.(k, this._on[k]);
    queueMicrotask(() => this._start());
  }

  /** on(name, fn) listens to 'event', 'notification', 'unread', 'reset', 'state' or 'error'; returns an off function. */
  on(name, fn) {
    (this._h[name] ||= new Set()).add(fn);
    return () => this._h[name].delete(fn);
  }

  /** subscribe(topic, fn) calls fn(ev) for each event of topic; returns an unsubscribe function. */
  subscribe(topic, fn) {
    if (!this._subs.has(topic)) this._subs.set(topic, new Set());
    this._subs.get(topic).add(fn);
    if (!this._topics.has(topic)) {
      this._topics.add(topic);
      this._post({ t: 'sub', topics: [topic] });
      this._addTopics([topic]);
    }
    return () => this._subs.get(topic).delete(fn);
  }

  /** setTransport switches every tab of this origin to name ('auto' or a transport). */
  setTransport(name) {
    if (this.role !== 'leader') return this._post({ t: 'tr', n: name });
    this._setTransport(name);
    this._n = 0;
    this._connect();
  }

  /** close ends the connection and, for the leader, hands it to another tab. */
  close() {
    this._closed = true;
    this._drop();
    clearTimeout(this._retry);
    clearInterval(this._hbt);
    if (this._lockless && this.role === 'leader') this._post({ t: 'bye' });
    this._unlock?.();
    this._abort?.abort();
    this._ch?.close();
    for (const k in this._on) g.removeEventListener?.(k, this._on[k]);
    this._state('closed');
  }

  // ---- internals ----

  _emit(name, v) {
    for (const fn of this._h[name] || []) {
      try {
        fn(v);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  _setTransport(name) {
    this._auto = name === 'auto';
    const mem = store('reddot:tr|' + this.url);
    this._tr = this._auto ? (mem && now() - mem.t < this.o.rememberFor && ORDER.includes(mem.n) ? mem.n : ORDER[0]) : name;
    this._fails = this._quick = 0;
  }

  /** _auth returns the token, fetching a fresh one (once, however many ask) when needed. */
  _auth(force) {
    const { getToken } = this.o;
    if (getToken && (force || this._stale || !this._tok || expiresSoon(this._tok))) {
      this._pend ||= Promise.resolve()
        .then(getToken)
        .then((t) => ((this._stale = false), (this._tok = t)))
        .finally(() => (this._pend = null));
      return this._pend;
    }
    return Promise.resolve(this._tok);
  }

  /** _fetch calls the REST API, refreshing the token once on 401. */
  async _fetch(path, method = 'GET', body) {
    for (let i = 0; ; i++) {
      const tok = await this._auth(i > 0);
      const headers = tok ? { Authorization: 'Bearer ' + tok } : {};
      if (body) headers['Content-Type'] = 'application/json';
      const r = await fetch(this.url + path, { method, headers, body: body && json(body), cache: 'no-store' });
      if (r.status === 401 && this.o.getToken && !i) continue;
      const v = r.status === 204 ? null : await r.json().catch(() => null);
      if (r.ok) return v;
      throw Object.assign(new Error(v?.error?.message || 'HTTP ' + r.status), { status: r.status, code: v?.error?.code });
    }
  }

  async _start() {
    try {
      await this._auth();
    } catch (e) {
      this._emit('error', { err: e });
    }
    if (this._closed) return;
    // The tabs of one user share a connection: no token yet, no user, no start.
    if (this.o.getToken && !this._tok) return setTimeout(() => this._start(), backoff(this._n++));
    this.user = jwtClaims(this._tok || '').sub || '';
    this._key = 'reddot:' + this.url + '|' + this.user;
    this._refreshUnread();
    const BC = this.o.share && g.BroadcastChannel;
    if (!BC) return this._lead();
    this._ch = new BC(this._key);
    this._ch.onmessage = (m) => this._msg(m.data);
    this._post({ t: 'hi', topics: [...this._topics] });
    this.role = 'follower';
    if (g.navigator?.locks) {
      this._abort = new AbortController();
      navigator.locks
        .request(this._key, { signal: this._abort.signal }, () => new Promise((res) => {
          this._unlock = res;
          this._lead();
        }))
        .catch(() => {});
    } else {
      // No Web Locks: the leader beats every second; the lowest id wins a tie.
      this._lockless = true;
      this._id = Math.random();
      this._hb = 0;
      const check = () => this.role !== 'leader' && now() - this._hb > 2500 && this._lead();
      setTimeout(check, 300);
      this._hbt = setInterval(() => (this.role === 'leader' ? this._status() : check()), 1000);
    }
  }

  _post(m) {
    try {
      this._ch?.postMessage(m);
    } catch {}
  }

  _status() {
    this._post({ t: 'st', s: this.state, tr: this.transport, a: this._auto, c: this.cursor, u: this.unread, id: this._id });
  }

  _msg(m) {
    const lead = this.role === 'leader';
    const fresh = (m.topics || []).filter((t) => !this._topics.has(t));
    fresh.forEach((t) => this._topics.add(t));
    if (lead && fresh.length) this._addTopics(fresh);
    switch (m.t) {
      case 'hi':
        if (lead) this._status();
        break;
      case 'tr':
        if (lead) this.setTransport(m.n);
        break;
      case 'bye':
        this._hb = 0;
        break;
      case 'ev':
        if (!lead) this._deliver(m.ev);
        break;
      case 'u':
        this._setUnread(m.u);
        break;
      case 'st':
        this._hb = now();
        if (lead) {
          if (m.id < this._id) this._follow();
          break;
        }
        if (m.c) this.cursor = m.c;
        if (m.tr) [this._tr, this._auto] = [m.tr, m.a]; // a successor goes on with what works
        this._setUnread(m.u);
        this._state(m.s, m.tr);
    }
  }

  _lead() {
    if (this._closed || this.role === 'leader') return;
    this.role = 'leader';
    const saved = store(this._key + ':cursor');
    if (!this.cursor && saved && now() - saved.t < 60000) this.cursor = saved.c;
    this._n = 0;
    this._connect();
  }

  _follow() {
    this.role = 'follower';
    this._drop();
    clearTimeout(this._retry);
  }

  _addTopics(topics) {
    if (this.role !== 'leader' || !this._conn) return;
    if (this._conn.a?.add && this._conn.opened) this._conn.a.add(topics);
    else this._connect(); // resumes from the cursor with the new topic list
  }

  _wake(online) {
    if (this.role !== 'leader' || this._closed) return;
    if (this.state === 'open' && this._conn?.opened) return this._conn.a?.poke?.();
    if (online || !this._conn) {
      this._n = 0;
      this._connect();
    }
  }

  _state(s, tr = this.transport) {
    const key = s + tr + this._auto + this.role;
    if (key === this._sk) return;
    this._sk = key;
    this.state = s;
    this.transport = tr;
    if (this.role === 'leader') this._status();
    this._emit('state', { state: s, transport: tr, role: this.role, auto: this._auto });
  }

  _setCursor(c) {
    if (!c || c === this.cursor) return;
    this.cursor = c;
    if (this.role === 'leader' && this._ch) store(this._key + ':cursor', { c, t: now() });
  }

  _url(path, withToken, extra) {
    const p = new URLSearchParams(extra);
    if (this._topics.size) p.set('topics', [...this._topics].join(','));
    if (this.cursor) p.set('since', this.cursor);
    if (!this.o.inbox) p.set('inbox', 'false');
    if (withToken && this._tok) p.set('token', this._tok);
    return this.url + path + '?' + p;
  }

  _drop() {
    const c = this._conn;
    this._gen++;
    this._conn = null;
    if (c) {
      clearTimeout(c.w);
      try {
        c.a?.close();
      } catch {}
    }
  }

  _schedule(ms) {
    clearTimeout(this._retry);
    this._retry = setTimeout(() => this._connect(), ms);
  }

  /** _connect makes one connection attempt with the current transport (leader only). */
  _connect() {
    clearTimeout(this._retry);
    this._drop();
    if (this._closed || this.role !== 'leader') return;
    const name = this._tr;
    if (g.navigator?.onLine === false) {
      this._state('offline', name);
      return this._schedule(this.o.staleTimeout);
    }
    const gen = this._gen;
    const live = () => gen === this._gen;
    const conn = (this._conn = { name, opened: false, t: now() });
    const self = this;
    const kick = () => {
      clearTimeout(conn.w);
      const o = this.o;
      conn.w = setTimeout(() => c.fail({ stale: 1 }), conn.opened ? Math.max(o.staleTimeout, o.longpollTimeout * 1000 + 15000) : o.openTimeout);
    };
    const c = {
      base: this.url,
      o: this.o,
      user: this.user,
      get token() {
        return self._tok;
      },
      get cursor() {
        return self.cursor;
      },
      set cursor(v) {
        live() && self._setCursor(v);
      },
      topics: () => [...this._topics],
      url: (path, withToken, extra) => this._url(path, withToken, extra),
      auth: () => (this._tok ? { Authorization: 'Bearer ' + this._tok } : {}),
      open: () => {
        if (!live() || conn.opened) return;
        conn.opened = true;
        conn.t = now();
        kick();
        this._fails = 0;
        if (this._auto) store('reddot:tr|' + this.url, { n: name, t: now() });
        this._state('open', name);
        this._refreshUnread(); // unread events are not replayed: re-read the counts
      },
      alive: () => live() && conn.opened && kick(),
      sync: () => live() && this._refreshUnread(),
      event: (ev) => live() && this._deliver(ev),
      error: (e) => live() && this._emit('error', { transport: name, ...e }),
      reset: () => {
        if (!live()) return;
        this.cursor = '';
        this._dedup.forget();
        this._refreshUnread();
        this._emit('reset', { event: 'reset', topic: '', data: { reason: 'cursor expired' } });
      },
      fail: (info = {}) => live() && this._failed(conn, info),
    };
    this._state(this._everOpen ? 'reconnecting' : 'connecting', name);
    this._auth()
      .then(() => this.cursor || /poll|iframe/.test(name) || this._head())
      .then(() => {
        if (!live()) return;
        const make = this._adapters[name];
        if (!make) throw new Error('unknown transport ' + name);
        kick();
        conn.a = make(c);
      })
      .catch((e) => c.fail({ err: e, token: 1 }));
  }

  /**
   * _head learns the current cursor before a stream opens: without one, a
   * stream that drops before its first event could not resume exactly.
   */
  async _head() {
    try {
      const r = await fetch(this._url('/v1/poll'), { headers: this._tok ? { Authorization: 'Bearer ' + this._tok } : {}, cache: 'no-store' });
      if (r.ok) this._setCursor((await r.json()).cursor);
    } catch {}
  }

  _failed(conn, info) {
    this._drop();
    const { status } = info;
    if (conn.opened) this._everOpen = true;
    if (info.auth || status === 401) this._stale = true;
    if (status === 400) this.cursor = ''; // a cursor the server cannot read: start over
    if (status || info.err) this._emit('error', { transport: conn.name, ...info });
    const lived = conn.opened ? now() - conn.t : -1;
    if (lived > 5000) this._n = this._quick = 0;
    else if (conn.opened) this._quick++;
    let delay = info.now ? 0 : backoff(this._n++);
    if (status === 429) delay = Math.max(delay, 5000);
    // A transport that never opens (or keeps dying at once) while plain HTTP
    // reaches the server is blocked on the way: try the next one.
    const suspect = this._auto && !info.now && !info.token && !info.auth && !(status >= 400 && status < 500) && this._tr !== 'poll' &&
      ((lived < 0 && (info.stale || ++this._fails >= 2)) || this._quick >= 3);
    this._state(this.state === 'offline' ? 'offline' : this._everOpen ? 'reconnecting' : 'connecting', conn.name);
    if (!suspect) return this._schedule(delay);
    const gen = this._gen;
    fetch(this.url + '/healthz', { mode: 'no-cors', cache: 'no-store' }).then(
      () => {
        if (gen !== this._gen || this.role !== 'leader' || this._closed) return;
        this._tr = nextTransport(this._tr);
        this._fails = this._quick = this._n = 0;
        store('reddot:tr|' + this.url, { n: this._tr, t: now() });
        this._connect();
      },
      () => gen === this._gen && this._schedule(delay),
    );
  }

  _deliver(ev) {
    if (!ev || typeof ev !== 'object' || this._dedup.seen(ev)) return;
    this._setCursor(ev.cursor);
    if (this.role === 'leader') this._post({ t: 'ev', ev });
    const d = ev.data || {};
    if (ev.event === 'reset') {
      this._dedup.forget(ev.topic);
      this._refreshUnread();
    }
    if (ev.event === 'unread') this._setUnread(d);
    if (ev.event === 'notification') this._setUnread(d.unread);
    if (ev.event === 'notification' || ev.event === 'reset') this._emit(ev.event, ev);
    this._emit('event', ev);
    for (const fn of this._subs.get(ev.topic) || []) {
      try {
        fn(ev);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  _setUnread(c, share) {
    if (!c || typeof c.total !== 'number') return this.unread;
    this._uv++;
    this._ue = null;
    const u = { total: c.total, categories: c.categories || {} };
    const changed = json(u) !== json(this.unread);
    this.unread = u;
    if (share || this.role === 'leader') this._post({ t: 'u', u });
    if (changed) this._emit('unread', u);
    return u;
  }

  /**
   * _refreshUnread re-reads the counts (304 when unchanged since the last
   * read) unless an event brings newer ones meanwhile.
   */
  async _refreshUnread() {
    if (!this._tok || !this.o.inbox) return;
    const v = this._uv;
    try {
      const h = { Authorization: 'Bearer ' + (await this._auth()) };
      if (this._ue) h['If-None-Match'] = this._ue;
      const r = await fetch(this.url + '/v1/inbox/unread', { headers: h, cache: 'no-store' });
      if (r.status === 401) this._stale = true;
      if (r.status !== 200) return;
      const c = await r.json();
      if (v !== this._uv) return;
      this._setUnread(c);
      this._ue = r.headers.get('ETag');
    } catch {}
  }
}

export default Reddot;
