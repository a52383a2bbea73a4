// The reddot demo: a site header with a bell, an inbox, a transport switch,
// a publisher and a live event log, all driven by /reddot.js.
import { Reddot } from '/reddot.js';
import { mqttTransport } from '/reddot-mqtt.js';

// The MQTT client library is loaded only when the MQTT transport is used.
export const MQTT_LIB = 'https://cdn.jsdelivr.net/npm/mqtt@5.16.0/dist/mqtt.esm.js';

const $ = (s) => document.querySelector(s);
const q = new URLSearchParams(location.search);
const user = q.get('user') || '42';
const received = []; // ids of notifications handed to on('notification'), for tests

const getToken = async () => {
  const r = await fetch('/demo/token?user=' + encodeURIComponent(user));
  if (!r.ok) throw new Error('demo token: HTTP ' + r.status);
  return (await r.json()).token;
};

const rd = new Reddot({
  getToken,
  transport: q.get('transport') || 'auto',
  topics: ['demo.news'],
  adapters: { mqtt: mqttTransport(() => import(MQTT_LIB)) },
});
window.demo = { rd, received };

$('#me').textContent = user;
$('#fnotif').to.value = user;

// ---- badge ----
const badge = $('#badge');
function showUnread(c) {
  const n = c.total;
  const before = badge.textContent;
  badge.textContent = n > 99 ? '99+' : String(n);
  badge.hidden = n === 0;
  if (n > Number(before)) {
    badge.classList.remove('bump');
    void badge.offsetWidth;
    badge.classList.add('bump');
  }
  $('#bell').setAttribute('aria-label', `Notifications, ${n} unread`);
  document.title = (n ? `(${n}) ` : '') + 'reddot demo';
}
rd.on('unread', showUnread);
$('#bell').onclick = () => $('#inbox').scrollIntoView({ behavior: 'smooth', block: 'start' });

// ---- inbox ----
const items = new Map(); // id → notification; ids sort by time
const fmtTime = (t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function render(freshId) {
  const ul = $('#list');
  const sorted = [...items.values()].sort((a, b) => (a.id < b.id ? 1 : -1)).slice(0, 50);
  ul.replaceChildren(...sorted.map((it) => {
    const li = document.createElement('li');
    li.className = 'item' + (it.read ? '' : ' unread') + (it.id === freshId ? ' fresh' : '');
    li.dataset.id = it.id;
    li.title = it.read ? '' : 'Mark as read';
    const dot = document.createElement('span');
    dot.className = 'udot';
    const body = document.createElement('div');
    const t = document.createElement('div');
    t.className = 't';
    t.textContent = it.title || '(no title)';
    const m = document.createElement('div');
    m.className = 'm';
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.textContent = it.category + (it.broadcast ? ' · all' : '');
    m.append(chip, ' ' + fmtTime(it.time));
    body.append(t, m);
    li.append(dot, body);
    return li;
  }));
  $('#empty').hidden = items.size > 0;
}

let loading;
async function load() {
  if (loading) return loading;
  loading = rd.inbox.list({ limit: 50 }).then(({ items: list }) => {
    for (const it of list) items.set(it.id, it);
    render();
  }).catch((e) => log('error', 'inbox: ' + e.message)).finally(() => (loading = null));
  return loading;
}
let reloadTimer;
const reloadSoon = () => {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(load, 150);
};

rd.on('notification', (ev) => {
  received.push(ev.id);
  const { unread, ...item } = ev.data;
  items.set(item.id, { ...items.get(item.id), ...item, read: false });
  render(item.id);
});
rd.on('unread', (c) => {
  if (c.total === 0) for (const it of items.values()) it.read = true;
  render();
  reloadSoon(); // read states changed somewhere: fetch them
});
rd.on('reset', reloadSoon);

$('#list').onclick = (e) => {
  const li = e.target.closest('li[data-id]');
  const it = li && items.get(li.dataset.id);
  if (!it || it.read) return;
  it.read = true;
  render();
  rd.inbox.read(it.id).catch((err) => log('error', err.message));
};
$('#readall').onclick = () => {
  for (const it of items.values()) it.read = true;
  render();
  rd.inbox.readAll().catch((err) => log('error', err.message));
};

// ---- connection and transport switch ----
const names = { websocket: 'WebSocket', sse: 'SSE', longpoll: 'long poll', poll: 'short poll', iframe: 'iframe', mqtt: 'MQTT' };
let mode = q.get('transport') || 'auto';
function showConn({ state, transport, role, auto }) {
  if (auto !== undefined && transport) mode = auto ? 'auto' : transport; // another tab may have switched
  $('#state').textContent = state === 'open' ? 'live' : state;
  $('#led').className = 'led ' + state;
  $('#tr').textContent = names[transport] || transport || '–';
  $('#role').textContent = role ? role + ' tab' : '–';
  for (const b of document.querySelectorAll('[data-transport]')) {
    b.setAttribute('role', 'radio');
    b.setAttribute('aria-checked', String(b.dataset.transport === mode));
    b.classList.toggle('using', b.dataset.transport === transport && state === 'open');
  }
  $('#trmode').textContent = mode === 'auto' ? 'auto: best that works' : 'fixed';
}
let lastState = '';
rd.on('state', (s) => {
  showConn(s);
  const line = `${s.state} via ${names[s.transport] || s.transport} (${s.role})`;
  if (line !== lastState) log('state', (lastState = line));
  if (s.state === 'open') reloadSoon(); // catch up on reads made while away
});
rd.on('error', (e) => log('error', `${e.transport || ''} ${e.status || e.code || ''} ${e.message || e.err?.message || ''}`.trim()));
showConn(rd);

$('#transports').onclick = (e) => {
  const b = e.target.closest('[data-transport]');
  if (!b) return;
  mode = b.dataset.transport;
  const u = new URL(location.href);
  u.searchParams.set('transport', mode);
  history.replaceState(null, '', u);
  rd.setTransport(mode);
  showConn(rd);
};

// ---- publisher ----
for (const tab of document.querySelectorAll('[data-tab]')) {
  tab.onclick = () => {
    for (const t of document.querySelectorAll('[data-tab]')) t.setAttribute('aria-selected', String(t === tab));
    $('#fnotif').hidden = tab.dataset.tab !== 'notif';
    $('#ftopic').hidden = tab.dataset.tab !== 'topic';
  };
}
async function publish(body) {
  const r = await fetch('/demo/publish', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const v = await r.json();
  $('#pubres').textContent = r.ok ? `Sent ✓ ${v.ids.length > 1 ? v.ids.length + ' events' : v.ids[0]}` : `Failed: ${v.error?.message}`;
}
$('#fnotif').onsubmit = (e) => {
  e.preventDefault();
  const f = e.target;
  const to = f.to.value.split(',').map((s) => s.trim()).filter(Boolean);
  publish({ users: to, notification: { category: f.category.value, title: f.title.value } });
};
$('#ftopic').onsubmit = (e) => {
  e.preventDefault();
  const f = e.target;
  publish({ topic: f.topic.value, event: 'message', data: { text: f.text.value } });
};

// ---- live event log ----
function log(kind, text) {
  const li = document.createElement('li');
  const time = document.createElement('time');
  time.textContent = fmtTime(Date.now());
  const k = document.createElement('span');
  k.className = 'k ' + kind;
  k.textContent = kind;
  const v = document.createElement('span');
  v.className = 'v';
  v.textContent = text;
  v.title = text;
  li.append(time, k, v);
  const ol = $('#log');
  ol.prepend(li);
  while (ol.children.length > 80) ol.lastChild.remove();
}
rd.on('event', (ev) => {
  const d = ev.data || {};
  const text = ev.event === 'notification' ? `${d.title} → unread ${d.unread?.total ?? '?'}`
    : ev.event === 'unread' ? `total ${d.total}`
    : `${ev.topic}: ${JSON.stringify(d)}`;
  log(ev.event, text);
});
rd.subscribe('demo.news', () => {}); // topic events show in the log through on('event')
$('#clearlog').onclick = () => $('#log').replaceChildren();

load();
