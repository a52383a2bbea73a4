// Package bustest is the conformance suite every reddot.Bus passes.
//
// A backend's test calls Run with a Harness that opens buses:
//
//	func TestBus(t *testing.T) {
//		bustest.Run(t, bustest.Harness{New: newBus, Addr: "127.0.0.1:6379"})
//	}
//
// Buses opened with the same namespace are the nodes of one cluster. The
// suite checks that every node, the publisher included, receives every
// event, with its fields intact and in each publisher's order; that Close
// stops delivery; and, for a bus with a network server, that Ping fails
// while the server is unreachable and that the bus calls its reconnect
// callback once it is back, so the node can catch up from the store.
package bustest

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
)

// Options are what the suite asks of a bus it opens.
type Options struct {
	// Via, when not empty, is a host:port (a Proxy) to reach the server
	// through instead of Harness.Addr.
	Via string
	// OnReconnect must be passed to the bus as its callback for "events
	// may have been missed; catch up from the store".
	OnReconnect func()
}

// Harness opens buses of one implementation.
type Harness struct {
	// New opens a bus in namespace ns (a channel or subject of its own) and
	// closes it when tb ends.
	New func(tb testing.TB, ns string, o Options) reddot.Bus
	// Addr is the server's host:port; empty for an in-process bus, which
	// skips the tests that need several nodes or a server.
	Addr string
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name    string
		fn      func(*testing.T, Harness)
		network bool
	}{
		{"SelfDelivery", testSelfDelivery, false},
		{"CloseIdempotent", testCloseIdempotent, false},
		{"RoundTrip", testRoundTrip, true},
		{"EveryNode", testEveryNode, true},
		{"PublisherOrder", testPublisherOrder, true},
		{"Namespaces", testNamespaces, true},
		{"CloseStopsDelivery", testCloseStopsDelivery, true},
		{"Unreachable", testUnreachable, true},
		{"LostPublishes", testLostPublishes, true},
		{"Partition", testPartition, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.network && h.Addr == "" {
				t.Skip("in-process bus: no second node, no server")
			}
			tc.fn(t, h)
		})
	}
}

// Namespace returns a fresh random namespace for one cluster of buses.
func Namespace() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

// Recorder collects the events a bus hands to its handler.
type Recorder struct {
	mu      sync.Mutex
	events  []*reddot.Event
	changed chan struct{}
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{}, 1)} }

// Handle is the bus handler.
func (r *Recorder) Handle(e *reddot.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Events returns what was received so far.
func (r *Recorder) Events() []*reddot.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*reddot.Event(nil), r.events...)
}

// WaitFor waits until cond holds for the events received, or fails tb
// after timeout.
func (r *Recorder) WaitFor(tb testing.TB, what string, timeout time.Duration, cond func([]*reddot.Event) bool) []*reddot.Event {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		evs := r.Events()
		if cond(evs) {
			return evs
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			tb.Fatalf("%s: not within %v (%d events received)", what, timeout, len(r.Events()))
		}
	}
}

// WaitN waits for at least n events.
func (r *Recorder) WaitN(tb testing.TB, n int, timeout time.Duration) []*reddot.Event {
	tb.Helper()
	return r.WaitFor(tb, "waiting for events", timeout, func(evs []*reddot.Event) bool { return len(evs) >= n })
}

// Counter counts calls of a callback and signals each.
type Counter struct {
	mu sync.Mutex
	n  int
	ch chan struct{}
}

// NewCounter returns a Counter at zero.
func NewCounter() *Counter { return &Counter{ch: make(chan struct{}, 1)} }

// Inc is the callback.
func (c *Counter) Inc() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

// N returns the number of calls so far.
func (c *Counter) N() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// WaitAbove waits until the count exceeds n and reports whether it did
// within timeout.
func (c *Counter) WaitAbove(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for c.N() <= n {
		select {
		case <-c.ch:
		case <-deadline.C:
			return c.N() > n
		}
	}
	return true
}
