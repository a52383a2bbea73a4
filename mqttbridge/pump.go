package mqttbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// The pump moves events from a connection's engine session to its client.
// A goroutine runs only while there is work (an event, an acknowledgement
// that opens the window, a subscription change), so an idle connection
// costs mochi's two goroutines and no third.

var payloads = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// start begins deliveries from resume (empty: every topic from its head).
func (c *conn) start(resume string) {
	c.mu.Lock()
	c.sent = []byte(resume)
	c.changed = true
	c.mu.Unlock()
	c.resuming = resume != ""
	c.kick()
}

// detach stops deliveries without waiting and returns the resume cursor.
func (c *conn) detach() string {
	c.cancel()
	c.kick() // an idle pump closes its engine session
	return c.snapshot()
}

// hangUp disconnects the client with code (a DISCONNECT packet for v5).
func (c *conn) hangUp(code packets.Code) {
	if c.v5 {
		_ = c.b.srv.DisconnectClient(c.cl, code)
		return
	}
	c.cl.Stop(code)
}

// kick schedules a pass of the pump; it never blocks.
func (c *conn) kick() {
	c.again.Store(true)
	if c.running.CompareAndSwap(false, true) {
		go c.run()
	}
}

func (c *conn) run() {
	for {
		c.again.Store(false)
		busy, alive := c.pass()
		if !alive {
			c.end() // running stays set: no pass runs again
			return
		}
		if busy {
			continue
		}
		c.running.Store(false)
		if !c.again.Load() || !c.running.CompareAndSwap(false, true) {
			return
		}
	}
}

func (c *conn) end() {
	if c.stream != nil {
		c.stream.Close()
		c.stream = nil
	}
	if c.expiry != nil {
		c.expiry.Stop()
	}
}

// pass does what can be done now. busy asks for another pass at once;
// alive false ends the pump.
func (c *conn) pass() (busy, alive bool) {
	if c.ctx.Err() != nil {
		return false, false
	}
	if c.expired.Load() {
		c.b.log.Info("mqtt: token expired; disconnecting", "client", c.cl.ID)
		c.hangUp(packets.ErrNotAuthorized)
		return false, false
	}
	c.mu.Lock()
	reopen := c.changed || c.stream == nil
	c.mu.Unlock()
	if reopen {
		sess, pre, err := c.open()
		switch {
		case errors.Is(err, engine.ErrShuttingDown):
			c.hangUp(packets.ErrServerShuttingDown)
			return false, false
		case err != nil && c.ctx.Err() != nil:
			return false, false
		case err != nil:
			c.b.log.Warn("mqtt: cannot open the subscription; retrying", "client", c.cl.ID, "err", err)
			time.AfterFunc(time.Second, c.kick)
			return false, true
		}
		c.resuming = false
		if c.stream != nil {
			c.stream.Close()
		}
		c.stream, c.queue = sess, pre
		sess.OnReady(c.kick)
	}
	for len(c.queue) > 0 && c.room() {
		if err := c.write(c.queue[0]); err != nil {
			return false, false // the connection is gone; mochi ends the client
		}
		c.queue = c.queue[1:]
		busy = true
	}
	if len(c.queue) > 0 || !c.room() {
		return busy, true // an acknowledgement kicks the next pass
	}
	outs, err := c.stream.TryNext(c.ctx)
	switch {
	case errors.Is(err, engine.ErrSlowConsumer):
		c.retry() // reopen from what was written; the store has the rest
		return true, true
	case errors.Is(err, engine.ErrShuttingDown):
		c.hangUp(packets.ErrServerShuttingDown)
		return false, false
	case err != nil:
		if c.ctx.Err() == nil {
			c.b.log.Warn("mqtt: subscription failed", "client", c.cl.ID, "err", err)
			c.hangUp(packets.ErrUnspecifiedError)
		}
		return false, false
	}
	c.queue = outs
	return busy || len(outs) > 0, true
}

// open starts an engine session over the subscribed topics from the
// position written so far. Topics without a position start at their pin or
// head. When resuming a persistent session, a topic more than OfflineQueue
// events behind skips ahead, announced by a reset event.
func (c *conn) open() (*engine.Session, []engine.Out, error) {
	c.mu.Lock()
	topics := make([]string, 0, len(c.topics))
	for t := range c.topics {
		topics = append(topics, t)
	}
	pins := maps.Clone(c.pins) // dropped once sent holds them, so snapshots always see them
	c.changed = false
	base := string(c.sent)
	c.mu.Unlock()
	slices.Sort(topics)

	store := c.b.eng.Store()
	epoch := store.Epoch()
	pos := map[string]uint64{}
	if base != "" {
		if cur, err := reddot.DecodeCursor(base, c.user); err == nil {
			epoch = cur.Epoch
			for _, p := range cur.Positions {
				pos[p.Topic] = p.Seq
			}
		}
	}
	for t, s := range pins {
		pos[t] = s
	}
	bound := c.resuming && epoch == store.Epoch()
	var need []string
	for _, t := range topics {
		if _, ok := pos[t]; !ok || bound {
			need = append(need, t)
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	now := c.b.o.Now()
	var pre []engine.Out
	if len(need) > 0 {
		heads, err := store.Heads(ctx, need)
		if err != nil {
			c.retry()
			return nil, nil, err
		}
		for i, t := range need {
			p, ok := pos[t]
			switch {
			case !ok:
				pos[t] = heads[i]
			case heads[i] > p+uint64(c.b.o.OfflineQueue):
				pos[t] = heads[i] - uint64(c.b.o.OfflineQueue)
				pre = append(pre, engine.Out{Event: resetEvent(t, now, c.b.o.OfflineQueue)})
			}
		}
	}
	cur := reddot.Cursor{Epoch: epoch, Positions: make([]reddot.Position, 0, len(topics))}
	for _, t := range topics {
		cur.Positions = append(cur.Positions, reddot.Position{Topic: t, Seq: pos[t]})
	}
	since := cur.AppendEncode(nil, c.user)
	for i := range pre {
		pre[i].Cursor = since
	}
	sess, err := c.b.eng.Subscribe(ctx, c.p, engine.SubscribeRequest{
		Topics: topics, Since: string(since), Transport: "mqtt", AllowEmpty: true, Trusted: true,
	})
	if err != nil {
		c.retry()
		return nil, nil, err
	}
	c.mu.Lock()
	for t, seq := range pins {
		if s, ok := c.pins[t]; ok && s == seq {
			delete(c.pins, t)
		}
	}
	c.sent = bytes.Clone(since)
	c.progress = true
	c.mu.Unlock()
	return sess, pre, nil
}

// retry makes the next pass open the engine session again.
func (c *conn) retry() {
	c.mu.Lock()
	c.changed = true
	c.mu.Unlock()
}

func resetEvent(topic string, now time.Time, kept int) *reddot.Event {
	data, _ := json.Marshal(map[string]any{
		"reason": "more events arrived while this session was offline than the offline queue keeps; the oldest were skipped",
		"kept":   kept,
	})
	return &reddot.Event{ID: reddot.NewID(now), Topic: topic, Event: reddot.EventReset, Data: data, Time: now}
}

// write sends one event as a PUBLISH. A nil error means the event counts
// as written (or as skipped: unsubscribed meanwhile, or larger than the
// client accepts); an error means the connection is gone.
func (c *conn) write(o engine.Out) error {
	c.mu.Lock()
	d, ok := c.topics[o.Event.Topic]
	var id uint16
	if ok && d.qos > 0 {
		id = c.allocID()
		c.unacked[id] = pending{topic: o.Event.Topic, seq: o.Event.Seq}
		c.progress = true
	}
	c.mu.Unlock()
	if ok {
		bp := payloads.Get().(*[]byte)
		defer payloads.Put(bp)
		*bp = o.AppendJSON((*bp)[:0])
		pk := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: d.qos},
			TopicName:   d.name, Payload: *bp, PacketID: id,
		}
		if c.v5 {
			pk.Properties.PayloadFormat, pk.Properties.PayloadFormatFlag = 1, true
			pk.Properties.ContentType = "application/json"
		}
		err := c.cl.WritePacket(pk)
		if errors.Is(err, packets.ErrPacketTooLarge) {
			c.b.log.Debug("mqtt: event larger than the client's maximum packet size; skipped", "client", c.cl.ID, "topic", o.Event.Topic)
			c.mu.Lock()
			delete(c.unacked, id)
			c.mu.Unlock()
		} else if err != nil {
			return err
		}
		if cap(*bp) > 64<<10 {
			*bp = nil // a big event should not stay pooled
		}
	}
	c.mu.Lock()
	c.sent = append(c.sent[:0], o.Cursor...) // o.Cursor lives until the next TryNext
	c.progress = true
	c.mu.Unlock()
	return nil
}

// allocID returns a packet id not in flight; c.mu is held and the window
// is below 65535.
func (c *conn) allocID() uint16 {
	for {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		if _, used := c.unacked[c.nextID]; !used {
			return c.nextID
		}
	}
}
