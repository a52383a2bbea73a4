// Package hub fans events out to the local subscribers of each topic.
//
// Topics are spread over shards, each with its own lock, so publishers of
// different topics do not contend and a publish holds only a read lock.
// Subscribers must accept events without blocking: the hub never waits.
package hub

import (
	"hash/maphash"
	"slices"
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
//
// Subscribers are kept in a slice in the order they joined (index finds
// one to remove): a publish walks them in that order, which is also the
// order their connections and sessions were allocated. Walking a map
// instead visits them at random, and on a 10,000-way broadcast the cache
// and TLB misses that causes cost the kernel's sends ~20 % more
// (docs/performance.md).
type entry struct {
	subs  []Subscriber
	index map[Subscriber]int
	head  atomic.Uint64
}

func (e *entry) add(s Subscriber) {
	if _, ok := e.index[s]; ok {
		return
	}
	e.index[s] = len(e.subs)
	e.subs = append(e.subs, s)
}

// remove swaps the last subscriber into s's place, so a stable
// population keeps its order and removal stays O(1).
func (e *entry) remove(s Subscriber) {
	i, ok := e.index[s]
	if !ok {
		return
	}
	last := len(e.subs) - 1
	if i != last {
		e.subs[i] = e.subs[last]
		e.index[e.subs[i]] = i
	}
	e.subs[last] = nil
	e.subs = e.subs[:last]
	delete(e.index, s)
	if cap(e.subs) > 64 && len(e.subs) < cap(e.subs)/4 {
		e.subs = slices.Clip(slices.Clone(e.subs)) // a crowd left: give its room back
	}
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
		e = &entry{index: make(map[Subscriber]int, 1)}
		sh.topics[topic] = e
	}
	e.add(s)
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
		e.remove(s)
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
		for _, s := range e.subs {
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
