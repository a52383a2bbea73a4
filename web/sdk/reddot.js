// reddot.js — browser client for reddot. Placeholder until the full SDK lands:
// a tiny SSE-based client with the same API shape.
export class Reddot {
  constructor({ url = location.origin, token } = {}) {
    this.url = url.replace(/\/$/, '');
    this.token = token;
    this.unread = { total: 0, categories: {} };
    this.handlers = {};
  }
  on(name, fn) { (this.handlers[name] ||= []).push(fn); return this; }
  emit(name, v) { for (const fn of this.handlers[name] || []) fn(v); }
  connect() {
    const q = new URLSearchParams({ token: this.token });
    this.es = new EventSource(`${this.url}/v1/sse?${q}`);
    for (const name of ['notification', 'unread']) {
      this.es.addEventListener(name, (m) => {
        const ev = JSON.parse(m.data);
        const counts = name === 'unread' ? ev.data : ev.data.unread;
        if (counts) { this.unread = counts; this.emit('unread', counts); }
        if (name === 'notification') this.emit('notification', ev);
      });
    }
    this.es.onopen = () => this.emit('state', 'open');
    this.es.onerror = () => this.emit('state', 'reconnecting');
    return this;
  }
  async api(path, opts = {}) {
    const r = await fetch(this.url + path, { ...opts, headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' } });
    return r.status === 204 ? null : r.json();
  }
  close() { this.es?.close(); }
}
