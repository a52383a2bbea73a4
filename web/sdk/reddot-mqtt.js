// reddot-mqtt.js — optional MQTT transport for reddot.js, over MQTT on
// WebSocket at /mqtt. It needs the npm `mqtt` package, handed in by the page
// (bundled, or loaded lazily), so reddot.js itself stays dependency-free:
//
//   import mqtt from 'mqtt';                       // or () => import(url)
//   import { mqttTransport } from 'reddot/mqtt';
//   new Reddot({ getToken, transport: 'mqtt', adapters: { mqtt: mqttTransport(mqtt) } });
//
// Topic T is the MQTT topic reddot/topics/T, the user's inbox is
// reddot/users/<user>/inbox and broadcasts are reddot/broadcast; payloads
// are the event JSON. The session is persistent (clean: false, QoS 1, one
// client id per browser and user), so the broker keeps what arrives while
// the connection is down.

/** mqttTopics maps a subscription to MQTT topic filters. */
export function mqttTopics(topics, user, inbox = true) {
  const out = topics.map((t) => 'reddot/topics/' + t);
  if (user && inbox) out.push('reddot/users/' + user + '/inbox', 'reddot/broadcast');
  return out;
}

function clientId(user) {
  const key = 'reddot:mqtt-id|' + user;
  let id;
  try {
    id = localStorage.getItem(key);
    if (!id) localStorage.setItem(key, (id = 'reddot-web-' + Math.random().toString(36).slice(2, 12)));
  } catch {
    id = 'reddot-web-' + Math.random().toString(36).slice(2, 12);
  }
  return id;
}

/**
 * mqttTransport returns a reddot.js transport adapter. lib is the `mqtt`
 * module (anything with connect) or a function returning a promise of it.
 * options: path ('/mqtt'), protocolVersion (4 = MQTT 3.1.1, 5), keepalive (s).
 */
export function mqttTransport(lib, options = {}) {
  const o = { path: '/mqtt', protocolVersion: 4, keepalive: 20, ...options };
  return (c) => {
    let client, closed;
    const dec = new TextDecoder();
    Promise.resolve(typeof lib === 'function' ? lib() : lib)
      .then((m) => {
        if (closed) return;
        const mqtt = m.connect ? m : m.default;
        const url = new URL(o.path, c.base.replace(/^http/, 'ws') + '/').href;
        client = mqtt.connect(url, {
          clientId: clientId(c.user),
          username: c.user || 'anonymous',
          password: c.token || '',
          clean: !c.user, // anonymous sessions are not kept
          protocolVersion: o.protocolVersion,
          keepalive: o.keepalive,
          reconnectPeriod: 0, // reddot.js reconnects, with backoff and fallback
          connectTimeout: c.o.openTimeout,
        });
        client.on('connect', () =>
          client.subscribe(mqttTopics(c.topics(), c.user, c.o.inbox), { qos: 1 }, (err, granted) => {
            // SUBACK 0x80 (or MQTT 5 codes >= 0x80) refuses a filter.
            const refused = granted?.find((g) => g.qos >= 0x80);
            if (err || refused) c.error({ code: 'forbidden', message: 'MQTT subscribe refused: ' + (err?.message || refused.topic) });
            if (!err) c.open();
          }),
        );
        client.on('packetreceive', () => c.alive());
        client.on('message', (topic, payload) => {
          try {
            c.event(JSON.parse(dec.decode(payload)));
          } catch {}
        });
        client.on('error', (e) => c.fail({ auth: [4, 5, 134, 135].includes(e.code), err: e }));
        client.on('close', () => c.fail({ eof: 1 }));
      })
      .catch((e) => c.fail({ err: e, token: 1 }));
    return {
      close() {
        closed = true;
        client?.removeAllListeners();
        client?.on('error', () => {});
        client?.end(true);
      },
      add: (topics) => client?.subscribe(mqttTopics(topics), { qos: 1 }),
    };
  };
}

export default mqttTransport;
