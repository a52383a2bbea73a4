package mqttbridge

import (
	"context"
	"maps"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// session is the broker's view of one MQTT session (one internal client
// id): the live connection, if any, and what a persistent session needs to
// resume. Fields are guarded by Broker.mu.
type session struct {
	id         string
	user       string
	version    byte
	clean      bool // v3 clean session / v5 clean start of the last connection
	persistent bool
	expiry     uint32
	subs       map[string]byte // MQTT filter → granted QoS
	resume     string          // cursor to resume from; current while offline
	offline    int64
	cur        *conn // the live connection, nil while offline

	dirty bool // must be saved at the next checkpoint
	saved bool // a record exists in the store
}

func (s *session) record() record {
	return record{ID: s.id, User: s.user, Version: s.version, Expiry: s.expiry,
		Subs: maps.Clone(s.subs), Cursor: s.resume, Offline: s.offline}
}

// persistentClient reports whether cl's session outlives its connection.
func persistentClient(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

// restore loads saved sessions that have not expired; mochi gets them as
// stored clients and subscriptions when it starts.
func (b *Broker) restore(recs []record) {
	now := b.o.Now().Unix()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range recs {
		expiry := min(int64(r.Expiry), int64(b.o.SessionExpiry/time.Second))
		if r.Offline > 0 && r.Offline+expiry < now {
			b.deleted[r.ID] = true
			continue
		}
		if r.Offline == 0 {
			r.Offline = now // it was connected when the process stopped
		}
		b.sessions[r.ID] = &session{id: r.ID, user: r.User, version: r.Version, persistent: true,
			expiry: r.Expiry, subs: r.Subs, resume: r.Cursor, offline: r.Offline, saved: true}
		b.restored = append(b.restored, r)
	}
}

func (b *Broker) storedClients() []storage.Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]storage.Client, 0, len(b.restored))
	for _, r := range b.restored {
		out = append(out, storage.Client{
			ID: r.ID, Listener: "restored", ProtocolVersion: r.Version, Clean: false,
			Properties: storage.ClientProperties{SessionExpiryInterval: r.Expiry, SessionExpiryIntervalFlag: r.Version == 5},
		})
	}
	return out
}

func (b *Broker) storedSubscriptions() []storage.Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []storage.Subscription
	for _, r := range b.restored {
		for f, q := range r.Subs {
			out = append(out, storage.Subscription{Client: r.ID, Filter: f, Qos: q})
		}
	}
	b.restored = nil
	return out
}

// establish binds the new connection c to its session before CONNACK,
// taking over a live connection of the same id, or starting afresh as mochi
// does: on clean start, or when the old session was a v3 clean one.
func (b *Broker) establish(c *conn, pk packets.Packet) {
	cl := c.cl
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[cl.ID]
	if s != nil && s.cur != nil {
		s.resume = s.cur.detach()
		s.cur = nil
	}
	if s == nil || pk.Connect.Clean || (s.clean && s.version < 5) {
		// A saved record of this id now belongs to the new session, which
		// overwrites or deletes it at the next checkpoint.
		saved := (s != nil && s.saved) || b.deleted[cl.ID]
		delete(b.deleted, cl.ID)
		s = &session{id: cl.ID, user: c.user, subs: map[string]byte{}, saved: saved}
		b.sessions[cl.ID] = s
	}
	s.version = cl.Properties.ProtocolVersion
	s.clean = cl.Properties.Clean
	s.persistent = persistentClient(cl)
	s.offline = 0
	s.cur = c
	s.dirty = true
	c.sess = s
}

// established starts deliveries after CONNACK: subscriptions inherited
// from the session are checked again against the new credentials, and a
// persistent session resumes where it was acknowledged.
func (b *Broker) established(c *conn) {
	cl := c.cl
	subs := cl.State.Subscriptions.GetAll()
	b.mu.Lock()
	s := c.sess
	if s == nil || s.cur != c {
		b.mu.Unlock()
		return
	}
	s.expiry = b.expiryOf(cl)
	s.dirty = true
	resume := s.resume
	s.subs = map[string]byte{}
	for f, sub := range subs {
		t, ok := ReddotTopic(f)
		if !ok || c.canRead(t) != nil {
			b.srv.Topics.Unsubscribe(f, cl.ID)
			cl.State.Subscriptions.Delete(f)
			b.log.Info("mqtt: dropped a subscription the new credentials do not allow", "client", cl.ID, "filter", f)
			continue
		}
		s.subs[f] = sub.Qos
		c.setTopic(t, delivery{qos: min(sub.Qos, 1), name: f})
	}
	b.mu.Unlock()
	c.start(resume)
}

// expiryOf is how long cl's session outlives its connection, in seconds.
func (b *Broker) expiryOf(cl *mqtt.Client) uint32 {
	max := uint32(b.o.SessionExpiry / time.Second)
	if cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.SessionExpiryIntervalFlag {
		return min(cl.Properties.Props.SessionExpiryInterval, max)
	}
	return max
}

// disconnected ends c. A persistent session keeps where c got to; any
// other session ends with it.
func (b *Broker) disconnected(c *conn, expire bool) {
	resume := c.detach()
	b.mu.Lock()
	defer b.mu.Unlock()
	s := c.sess
	if s == nil || s.cur != c {
		return // taken over, or never established
	}
	s.cur = nil
	s.expiry = b.expiryOf(c.cl)
	if expire || !s.persistent {
		b.drop(s)
		return
	}
	s.resume = resume
	s.offline = b.o.Now().Unix()
	s.dirty = true
}

// expired drops an offline session mochi has expired.
func (b *Broker) expired(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.sessions[id]; s != nil && s.cur == nil {
		b.drop(s)
	}
}

func (b *Broker) drop(s *session) {
	delete(b.sessions, s.id)
	if s.saved {
		b.deleted[s.id] = true
	}
}

// subscribed records granted subscriptions of c in its session.
func (b *Broker) subscribed(c *conn, granted map[string]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := c.sess; s != nil && s.cur == c {
		maps.Copy(s.subs, granted)
		s.dirty = true
	}
}

func (b *Broker) unsubscribed(c *conn, filters []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := c.sess; s != nil && s.cur == c {
		for _, f := range filters {
			delete(s.subs, f)
		}
		s.dirty = true
	}
}

// checkpoint saves persistent sessions that changed since the last one:
// subscriptions, and the acknowledged position of live connections.
func (b *Broker) checkpoint() error {
	b.mu.Lock()
	var put []record
	var del []string
	for id := range b.deleted {
		del = append(del, id)
	}
	clear(b.deleted)
	for _, s := range b.sessions {
		if !s.persistent {
			if s.saved {
				del = append(del, s.id)
				s.saved = false
			}
			continue
		}
		if s.cur != nil && s.cur.takeProgress() {
			s.resume = s.cur.snapshot()
			s.dirty = true
		}
		if s.dirty {
			put = append(put, s.record())
			s.dirty, s.saved = false, true
		}
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := b.store.save(ctx, put, del)
	if err != nil {
		b.mu.Lock()
		for _, r := range put {
			if s := b.sessions[r.ID]; s != nil {
				s.dirty = true
			}
		}
		for _, id := range del {
			b.deleted[id] = true
		}
		b.mu.Unlock()
	}
	return err
}
