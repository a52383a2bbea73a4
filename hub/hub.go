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
	topics map[string]map[Subscriber]struct{}
}

// New returns a hub with at least n shards (rounded up to a power of two).
func New(n int) *Hub {
	size := 1
	for size < n {
		size <<= 1
	}
	h := &Hub{seed: maphash.MakeSeed(), shards: make([]shard, size), mask: uint64(size - 1)}
	for i := range h.shards {
		h.shards[i].topics = make(map[string]map[Subscriber]struct{})
	}
	return h
}

func (h *Hub) shard(topic string) *shard {
	return &h.shards[maphash.String(h.seed, topic)&h.mask]
}

// Subscribe adds s to topic. Adding twice is harmless.
func (h *Hub) Subscribe(topic string, s Subscriber) {
	sh := h.shard(topic)
	sh.mu.Lock()
	set := sh.topics[topic]
	if set == nil {
		set = make(map[Subscriber]struct{}, 1)
		sh.topics[topic] = set
	}
	set[s] = struct{}{}
	sh.mu.Unlock()
}

// Unsubscribe removes s from topic.
func (h *Hub) Unsubscribe(topic string, s Subscriber) {
	sh := h.shard(topic)
	sh.mu.Lock()
	if set := sh.topics[topic]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(sh.topics, topic)
		}
	}
	sh.mu.Unlock()
}

// Publish delivers ev to every subscriber of ev.Topic and returns how many got it.
func (h *Hub) Publish(ev *reddot.Event) int {
	sh := h.shard(ev.Topic)
	sh.mu.RLock()
	set := sh.topics[ev.Topic]
	for s := range set {
		s.Deliver(ev)
	}
	n := len(set)
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
