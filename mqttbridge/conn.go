package mqttbridge

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// delivery is how one subscribed reddot topic goes out to a client.
type delivery struct {
	qos  byte   // 0 or 1
	name string // MQTT topic name
}

// pending is a QoS 1 message written and not yet acknowledged.
type pending struct {
	topic string
	seq   uint64 // 0 for ephemeral events
}

// conn is one connected MQTT client. Its pump (pump.go) owns an engine
// session over the client's subscribed topics and writes each event as a
// PUBLISH, at most MaxInflight unacknowledged at a time. The position it
// has written to (sent) and the unacknowledged messages give the resume
// cursor of a persistent session.
type conn struct {
	b       *Broker
	cl      *mqtt.Client
	p       *reddot.Principal
	backend bool   // authenticated with an API key
	user    string // owner of the cursors
	v5      bool
	limit   int      // inflight window
	sess    *session // guarded by b.mu
	ctx     context.Context
	cancel  context.CancelFunc

	// The pump: one pass at a time (running), another one due (again).
	running  atomic.Bool
	again    atomic.Bool
	expired  atomic.Bool
	expiry   *time.Timer
	stream   *engine.Session // pump only
	queue    []engine.Out    // read from stream, not yet written; pump only
	resuming bool            // the first open resumes a persistent session; pump only

	mu       sync.Mutex
	topics   map[string]delivery // subscribed reddot topics
	pins     map[string]uint64   // where newly subscribed topics start
	changed  bool                // topics changed since the engine session opened
	unacked  map[uint16]pending
	nextID   uint16
	sent     []byte // cursor after the last event written
	progress bool   // sent or unacked changed since the last checkpoint
}

func newConn(b *Broker, cl *mqtt.Client, p *reddot.Principal, backend bool) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	limit := b.o.MaxInflight
	if cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.ReceiveMaximum > 0 {
		limit = min(limit, int(cl.Properties.Props.ReceiveMaximum))
	}
	c := &conn{
		b: b, cl: cl, p: p, backend: backend, user: p.User, v5: cl.Properties.ProtocolVersion == 5,
		limit: limit, ctx: ctx, cancel: cancel,
		topics: map[string]delivery{}, pins: map[string]uint64{}, unacked: map[uint16]pending{},
	}
	if !p.Expires.IsZero() {
		c.expiry = time.AfterFunc(time.Until(p.Expires), func() { c.expired.Store(true); c.kick() })
	}
	return c
}

// canRead returns nil when the client may subscribe to reddot topic t.
func (c *conn) canRead(t string) error {
	if c.backend {
		return reddot.CheckTopic(t)
	}
	return c.b.eng.Policy().CanRead(c.p, t)
}

func (c *conn) setTopic(t string, d delivery) {
	c.mu.Lock()
	c.topics[t] = d
	c.mu.Unlock()
}

// subscribe adds topics; new ones start after pins (their heads when the
// SUBSCRIBE was processed), so nothing published after the SUBACK is missed.
func (c *conn) subscribe(add map[string]delivery, pins map[string]uint64) {
	c.mu.Lock()
	for t, d := range add {
		if _, had := c.topics[t]; !had {
			if seq, ok := pins[t]; ok {
				c.pins[t] = seq
			}
			c.changed = true
		}
		c.topics[t] = d
	}
	c.mu.Unlock()
	c.kick()
}

func (c *conn) unsubscribe(topics []string) {
	c.mu.Lock()
	for _, t := range topics {
		if _, had := c.topics[t]; had {
			delete(c.topics, t)
			delete(c.pins, t)
			c.changed = true
		}
	}
	c.mu.Unlock()
	c.kick()
}

// acked ends the QoS 1 flow of packet id.
func (c *conn) acked(id uint16) {
	c.mu.Lock()
	_, ok := c.unacked[id]
	if ok {
		delete(c.unacked, id)
		c.progress = true
	}
	c.mu.Unlock()
	if ok {
		c.kick()
	}
}

func (c *conn) room() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.unacked) < c.limit
}

func (c *conn) takeProgress() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.progress
	c.progress = false
	return p
}

// snapshot returns the resume cursor: everything written, except that a
// topic with unacknowledged messages resumes before the first of them, and
// topics subscribed but not yet opened start at their pins.
func (c *conn) snapshot() string {
	c.mu.Lock()
	base := string(c.sent)
	pins := maps.Clone(c.pins)
	subscribed := maps.Clone(c.topics)
	var first map[string]uint64
	for _, p := range c.unacked {
		if p.seq == 0 {
			continue
		}
		if first == nil {
			first = map[string]uint64{}
		}
		if s, ok := first[p.topic]; !ok || p.seq < s {
			first[p.topic] = p.seq
		}
	}
	c.mu.Unlock()
	if len(first) == 0 && len(pins) == 0 {
		return base
	}
	cur := reddot.Cursor{Epoch: c.b.eng.Store().Epoch()}
	if base != "" {
		var err error
		if cur, err = reddot.DecodeCursor(base, c.user); err != nil {
			return base
		}
	}
	for t, seq := range pins {
		i := slices.IndexFunc(cur.Positions, func(p reddot.Position) bool { return p.Topic == t })
		if i < 0 {
			cur.Positions = append(cur.Positions, reddot.Position{Topic: t, Seq: seq})
		} else {
			cur.Positions[i].Seq = seq
		}
	}
	// Unsubscribed topics go, so the cursor stays within 256 topics.
	cur.Positions = slices.DeleteFunc(cur.Positions, func(p reddot.Position) bool {
		_, ok := subscribed[p.Topic]
		return !ok
	})
	for i, p := range cur.Positions {
		if s, ok := first[p.Topic]; ok && s-1 < p.Seq {
			cur.Positions[i].Seq = s - 1
		}
	}
	return cur.Encode(c.user)
}
