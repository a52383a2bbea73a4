// Package hub fans events out to the local subscribers of each topic.
//
// Topics are spread over shards, each with its own lock, so publishers of
// different topics do not contend and a publish holds only a read lock.
// Subscribers must accept events without blocking: the hub never waits.
package hub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/reddot-dev/reddot"
)

// Subscriber receives events for the topics it joined.
type Subscriber interface {
	// Deliver hands over ev. It must not block; ev must not be modified.
	Deliver(ev *reddot.Event)
}

// Hub is an in-process topic → subscribers index. The zero value is not usable; call New.
type Hub struct {
	seed   maphash.Seed
	shards []shard
	mask   uint64

	deliveries atomic.Uint64
	published  atomic.Uint64
}

type shard struct {
	mu     sync.RWMutex
	topics map[string]*entry
}

// entry is one topic with local subscribers and, when known, its head:
// the highest seq that passed through the hub (stored +1; 0 = unknown).
type entry struct {
	subs map[Subscriber]struct{}
	head atomic.Uint64
}

func (e *entry) raise(seq uint64) {
	for {
		cur := e.head.Load()
		if cur >= seq+1 || e.head.CompareAndSwap(cur, seq+1) {
			return
		}
	}
}

// New returns a hub with at least n shards (rounded up to a power of two).
func New(n int) *Hub {
	size := 1
	for size < n {
		size <<= 1
	}
	h := &Hub{seed: maphash.MakeSeed(), shards: make([]shard, size), mask: uint64(size - 1)}
	for i := range h.shards {
		h.shards[i].topics = make(map[string]*entry)
	}
	return h
}

func (h *Hub) shard(topic string) *shard {
	return &h.shards[maphash.String(h.seed, topic)&h.mask]
}

// Subscribe adds s to topic. Adding twice is harmless. It returns the
// topic's head when the hub knows it (see SetHead): every event after it
// reaches s.
func (h *Hub) Subscribe(topic string, s Subscriber) (head uint64, known bool) {
	sh := h.shard(topic)
	sh.mu.Lock()
	e := sh.topics[topic]
	if e == nil {
		e = &entry{subs: make(map[Subscriber]struct{}, 1)}
		sh.topics[topic] = e
	}
	e.subs[s] = struct{}{}
	sh.mu.Unlock()
	if v := e.head.Load(); v > 0 {
		return v - 1, true
	}
	return 0, false
}

// SetHead records that topic's head is at least seq (read from the store
// by a subscriber), so later subscribers need not read it. It is kept
// while the topic has local subscribers.
func (h *Hub) SetHead(topic string, seq uint64) {
	sh := h.shard(topic)
	sh.mu.RLock()
	if e := sh.topics[topic]; e != nil {
		e.raise(seq)
	}
	sh.mu.RUnlock()
}

// Unsubscribe removes s from topic.
func (h *Hub) Unsubscribe(topic string, s Subscriber) {
	sh := h.shard(topic)
	sh.mu.Lock()
	if e := sh.topics[topic]; e != nil {
		delete(e.subs, s)
		if len(e.subs) == 0 {
			delete(sh.topics, topic)
		}
	}
	sh.mu.Unlock()
}

// Publish delivers ev to every subscriber of ev.Topic and returns how many got it.
func (h *Hub) Publish(ev *reddot.Event) int {
	sh := h.shard(ev.Topic)
	sh.mu.RLock()
	e := sh.topics[ev.Topic]
	n := 0
	if e != nil {
		if ev.Seq > 0 {
			e.raise(ev.Seq)
		}
		for s := range e.subs {
			s.Deliver(ev)
		}
		n = len(e.subs)
	}
	sh.mu.RUnlock()
	h.published.Add(1)
	h.deliveries.Add(uint64(n))
	return n
}

// Stats is a snapshot of the hub's counters.
type Stats struct {
	Topics     int    `json:"topics"`
	Published  uint64 `json:"published"`
	Deliveries uint64 `json:"deliveries"`
}

// Stats counts topics with local subscribers and events delivered so far.
func (h *Hub) Stats() Stats {
	st := Stats{Published: h.published.Load(), Deliveries: h.deliveries.Load()}
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		st.Topics += len(sh.topics)
		sh.mu.RUnlock()
	}
	return st
}
