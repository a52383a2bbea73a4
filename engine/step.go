package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/reddot-dev/reddot"
)

// This file is the consumer side of a Session: commands, catch-up from the
// store, the live queue, and cursors.

// Cursor returns the subscription's current position, opaque.
func (s *Session) Cursor() string {
	c := reddot.Cursor{Epoch: s.eng.store.Epoch()}
	for _, p := range s.pos {
		c.Positions = append(c.Positions, reddot.Position{Topic: p.topic, Seq: p.seq})
	}
	return c.Encode(s.user)
}

// encodeCursor appends the current position to the session's arena and
// returns it. Cursors stay valid until the next Next/TryNext call.
func (s *Session) encodeCursor() []byte {
	c := reddot.Cursor{Epoch: s.eng.store.Epoch(), Positions: s.scratch[:0]}
	for _, p := range s.pos {
		c.Positions = append(c.Positions, reddot.Position{Topic: p.topic, Seq: p.seq})
	}
	s.scratch = c.Positions
	start := len(s.arena)
	s.arena = c.AppendEncode(s.arena, s.user)
	return s.arena[start:len(s.arena):len(s.arena)]
}

func (s *Session) find(topic string) *position {
	for _, p := range s.pos {
		if p.topic == topic {
			return p
		}
	}
	return nil
}

// step does one unit of work: pending commands, then one catch-up page,
// then the live queue.
func (s *Session) step(ctx context.Context) ([]Out, error) {
	if cap(s.arena) > 64<<10 {
		s.arena = nil // a big catch-up should not pin memory while idle
	}
	s.arena = s.arena[:0]
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	cmds := s.cmds
	s.cmds = nil
	if s.resyncReq {
		s.resyncReq = false
		for _, p := range s.pos {
			p.fill = true
		}
	}
	s.mu.Unlock()

	out := append(s.outs[:0], s.pending...)
	s.pending = nil
	defer func() { s.outs = out[:0] }()
	for _, c := range cmds {
		o, err := s.apply(ctx, c)
		if c.done != nil {
			c.done <- err
		}
		if err != nil {
			s.close(err)
			return nil, err
		}
		out = append(out, o...)
	}
	if len(out) > 0 {
		return s.finish(ctx, out)
	}
	for _, p := range s.pos {
		if p.fill {
			o, err := s.fill(ctx, p)
			if err != nil {
				return nil, err
			}
			if len(o) > 0 {
				return s.finish(ctx, o)
			}
		}
	}

	s.mu.Lock()
	q := s.queue
	s.queue = s.spare[:0]
	s.mu.Unlock()
	for i, ev := range q {
		q[i] = nil
		p := s.find(ev.Topic)
		switch {
		case p == nil:
		case ev.Ephemeral():
			out = append(out, Out{Event: ev, Cursor: s.encodeCursor()})
		case ev.Seq <= p.seq:
		case ev.Seq == p.seq+1 && !p.fill:
			p.seq, p.delivered = ev.Seq, true
			out = append(out, Out{Event: ev, Cursor: s.encodeCursor()})
		default:
			p.fill = true // a gap: the store has what the bus did not bring
		}
	}
	s.mu.Lock()
	if s.err == nil {
		s.spare = q[:0]
	}
	s.mu.Unlock()
	if len(out) == 0 {
		for _, p := range s.pos {
			if p.fill {
				return s.step(ctx)
			}
		}
	}
	return s.finish(ctx, out)
}

func (s *Session) apply(ctx context.Context, c command) ([]Out, error) {
	for _, t := range c.remove {
		if i := slices.IndexFunc(s.pos, func(p *position) bool { return p.topic == t }); i >= 0 {
			s.pos = slices.Delete(s.pos, i, i+1)
			s.eng.hub.Unsubscribe(t, s)
			s.mu.Lock()
			s.joined = slices.DeleteFunc(s.joined, func(x string) bool { return x == t })
			s.mu.Unlock()
		}
	}
	if len(c.add) == 0 {
		return nil, nil
	}
	var need []string
	heads := map[string]uint64{}
	for _, t := range c.add {
		if s.find(t) != nil {
			continue
		}
		s.mu.Lock()
		closed := s.err != nil
		if !closed {
			s.joined = append(s.joined, t)
		}
		s.mu.Unlock()
		if closed {
			return nil, s.Err()
		}
		head, known := s.eng.hub.Subscribe(t, s)
		if s.Err() != nil {
			// Close may have run between the check above and Subscribe.
			s.eng.hub.Unsubscribe(t, s)
			return nil, s.Err()
		}
		if _, ok := sinceSeq(c.since, t); c.reset || !ok {
			if known {
				heads[t] = head
			} else {
				need = append(need, t)
			}
		}
	}
	if len(need) > 0 {
		hs, err := s.eng.store.Heads(ctx, need)
		if err != nil {
			return nil, err
		}
		for i, t := range need {
			heads[t] = hs[i]
			s.eng.hub.SetHead(t, hs[i])
		}
	}
	var out []Out
	for _, t := range c.add {
		p := s.find(t)
		seq, has := sinceSeq(c.since, t)
		has = has && !c.reset
		switch {
		case p == nil:
			p = &position{topic: t, seq: heads[t]}
			if has {
				p.seq, p.fill = seq, true
			}
			s.pos = append(s.pos, p)
		case has && !p.delivered:
			p.seq, p.fill = seq, true
		}
		if c.reset {
			out = append(out, Out{Event: s.resetEvent(t, "cursor belongs to another store epoch"), Cursor: s.encodeCursor()})
		}
	}
	return out, nil
}

func (s *Session) fill(ctx context.Context, p *position) ([]Out, error) {
	page := s.eng.opts.ReplayPage
	if s.page > 0 {
		page = s.page
	}
	evs, err := s.eng.store.ReadTopic(ctx, p.topic, p.seq, page)
	if errors.Is(err, reddot.ErrReset) {
		hs, herr := s.eng.store.Heads(ctx, []string{p.topic})
		if herr != nil {
			return nil, herr
		}
		p.seq, p.fill = hs[0], false
		return []Out{{Event: s.resetEvent(p.topic, "events after your cursor are no longer retained"), Cursor: s.encodeCursor()}}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]Out, 0, len(evs))
	for _, ev := range evs {
		if ev.Seq != p.seq+1 {
			continue
		}
		p.seq, p.delivered = ev.Seq, true
		out = append(out, Out{Event: ev, Cursor: s.encodeCursor()})
	}
	if len(evs) < page {
		p.fill = false
	}
	return out, nil
}

func (s *Session) resetEvent(topic, reason string) *reddot.Event {
	now := s.eng.now()
	data, _ := json.Marshal(map[string]string{"reason": reason})
	return &reddot.Event{ID: reddot.NewID(now), Topic: topic, Event: reddot.EventReset, Data: data, Time: now}
}

// finish attaches the current unread counts to notification events that
// do not carry them (broadcasts and replays).
func (s *Session) finish(ctx context.Context, out []Out) ([]Out, error) {
	if s.user == "" {
		return out, nil
	}
	var counts *reddot.Counts
	for i, o := range out {
		if o.Event.Event != reddot.EventNotification || o.Event.Unread != nil {
			continue
		}
		if counts == nil {
			c, err := s.eng.store.Unread(ctx, s.user)
			if err != nil {
				return nil, err
			}
			counts = &c
		}
		out[i].Event = o.Event.WithUnread(*counts)
	}
	return out, nil
}

func sinceSeq(c *reddot.Cursor, topic string) (uint64, bool) {
	if c == nil {
		return 0, false
	}
	return c.Seq(topic)
}

// More reports whether TryNext may return more right now (a catch-up in
// progress, queued events or commands). Call it from the consumer after
// TryNext to decide whether to go idle until the next OnReady signal.
func (s *Session) More() bool {
	if len(s.pending) > 0 {
		return true
	}
	for _, p := range s.pos {
		if p.fill {
			return true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) > 0 || len(s.cmds) > 0 || s.resyncReq || s.err != nil
}
