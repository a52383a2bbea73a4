package engine

import (
	"sync"

	"github.com/reddot-dev/reddot"
)

// LocalBus is implemented by buses that deliver to this node themselves,
// synchronously (membus). For any other bus the engine delivers to local
// subscribers first and ignores the bus's echo, so a bus outage never
// delays this node's own subscribers.
type LocalBus interface{ Local() bool }

func busIsLocal(b reddot.Bus) bool {
	l, ok := b.(LocalBus)
	return ok && l.Local()
}

// recentIDs remembers the ids of the last ephemeral events this node
// delivered itself, so their echo from the bus is not delivered twice.
// Stored events need no such list: sessions drop a seq they already have.
type recentIDs struct {
	mu   sync.Mutex
	ring [1024]string
	next int
	set  map[string]struct{}
}

func (r *recentIDs) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = make(map[string]struct{}, len(r.ring))
	}
	delete(r.set, r.ring[r.next])
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.set[id] = struct{}{}
}

// seen reports whether id was added (and not yet pushed out by newer ones).
func (r *recentIDs) seen(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.set[id]
	return ok
}
