package httpapi

import (
	"sync"
	"time"

	"github.com/reddot-dev/reddot/engine"
)

// rates turns the engine's counters into per-second figures between two
// /v1/stats calls (at least one second apart).
type rates struct {
	mu        sync.Mutex
	at        time.Time
	published uint64
	delivered uint64
	pubRate   float64
	delRate   float64
}

type statsResponse struct {
	engine.Stats
	EventsPerSec     float64 `json:"events_per_sec"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	Node             string  `json:"node,omitempty"`
}

func (r *rates) snapshot(st engine.Stats) statsResponse {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if dt := now.Sub(r.at).Seconds(); !r.at.IsZero() && dt >= 1 {
		r.pubRate = float64(st.Published-r.published) / dt
		r.delRate = float64(st.Deliveries-r.delivered) / dt
	}
	if r.at.IsZero() || now.Sub(r.at) >= time.Second {
		r.at, r.published, r.delivered = now, st.Published, st.Deliveries
	}
	return statsResponse{Stats: st, EventsPerSec: r.pubRate, DeliveriesPerSec: r.delRate}
}
