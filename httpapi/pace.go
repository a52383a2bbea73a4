package httpapi

import (
	"sync"
	"time"
)

// A pacer holds write passes for up to a fixed delay (Options.WriteDelay)
// so that the events reaching a connection meanwhile leave in one write.
// At a high event rate that divides the number of sends — most of a
// delivery's cost — by the number of events per delay, at the price of
// that much added latency. The first pass held starts the delay; every
// pump kicked before it runs out goes with it. One timer serves the whole
// server, not one per connection.
type pacer struct {
	delay time.Duration

	mu    sync.Mutex
	held  []*pump
	armed bool
}

func newPacer(delay time.Duration) *pacer {
	if delay <= 0 {
		return nil
	}
	return &pacer{delay: delay}
}

// hold queues p, which the caller has marked running, for the next release.
func (g *pacer) hold(p *pump) {
	g.mu.Lock()
	g.held = append(g.held, p)
	arm := !g.armed
	g.armed = true
	g.mu.Unlock()
	if arm {
		time.AfterFunc(g.delay, g.release)
	}
}

// release starts the held passes.
func (g *pacer) release() {
	g.mu.Lock()
	held := g.held
	g.held, g.armed = nil, false
	g.mu.Unlock()
	for _, p := range held {
		p.dispatch()
	}
}
