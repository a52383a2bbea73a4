// Package membus is the in-process Bus: one node, no network.
package membus

import (
	"context"
	"sync"

	"github.com/reddot-dev/reddot"
)

// Bus hands published events straight to the handler.
type Bus struct {
	mu      sync.RWMutex
	handler func(*reddot.Event)
}

var _ reddot.Bus = (*Bus)(nil)

// New returns an in-process bus.
func New() *Bus { return &Bus{} }

// Subscribe sets the handler that receives every published event.
func (b *Bus) Subscribe(h func(*reddot.Event)) {
	b.mu.Lock()
	b.handler = h
	b.mu.Unlock()
}

// Publish delivers events synchronously, in order, before returning.
func (b *Bus) Publish(ctx context.Context, events []*reddot.Event) error {
	b.mu.RLock()
	h := b.handler
	b.mu.RUnlock()
	if h == nil {
		return nil
	}
	for _, ev := range events {
		h(ev)
	}
	return nil
}

// Ping always succeeds.
func (b *Bus) Ping(context.Context) error { return nil }

// Close is a no-op.
func (b *Bus) Close() error { return nil }

// Local reports that this bus delivers to this node synchronously, so the
// engine need not deliver locally first.
func (b *Bus) Local() bool { return true }
