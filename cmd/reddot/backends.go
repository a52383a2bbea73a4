package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
	"github.com/reddot-dev/reddot/membus"
	"github.com/reddot-dev/reddot/natsbus"
	"github.com/reddot-dev/reddot/postgres"
	"github.com/reddot-dev/reddot/redisbus"
	"github.com/reddot-dev/reddot/sqlite"
)

// openTimeout bounds connecting to an outside store or bus at start.
const openTimeout = 15 * time.Second

func openStore(ctx context.Context, c *Config, log *slog.Logger) (reddot.Store, error) {
	ret := reddot.Retention{MaxEvents: c.RetentionEvents, MaxAge: c.RetentionAge}
	switch {
	case c.Store == "sqlite":
		s, err := sqlite.Open(ctx, filepath.Join(c.DataDir, "reddot.db"), sqlite.Options{Logger: log, Retention: ret})
		if err != nil {
			return nil, fmt.Errorf("cannot open the SQLite store in %s: %v", c.DataDir, err)
		}
		return s, nil
	case strings.HasPrefix(c.Store, "postgres://"), strings.HasPrefix(c.Store, "postgresql://"):
		ctx, cancel := context.WithTimeout(ctx, openTimeout)
		defer cancel()
		s, err := postgres.Open(ctx, c.Store, postgres.Options{Logger: log, Retention: ret})
		if err != nil {
			return nil, fmt.Errorf("cannot open the PostgreSQL store: %v", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("store %s is not available in this build", storeName(c.Store))
}

// openBus opens the bus and returns with it attach, which hands it the
// engine once that exists: from then on, whenever the bus may have missed
// events (its connection came back, or another node could not publish),
// every session of this node catches up from the store.
func openBus(ctx context.Context, c *Config, log *slog.Logger) (reddot.Bus, func(*engine.Engine), error) {
	r := &resyncer{log: log}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	switch {
	case c.Bus == "memory":
		return membus.New(), r.attach, nil
	case strings.HasPrefix(c.Bus, "redis://"), strings.HasPrefix(c.Bus, "rediss://"):
		b, err := redisbus.Open(ctx, c.Bus, redisbus.Options{Logger: log, OnReconnect: r.resync})
		if err != nil {
			return nil, nil, fmt.Errorf("cannot open the Redis bus: %v", err)
		}
		return b, r.attach, nil
	case strings.HasPrefix(c.Bus, "nats://"):
		b, err := natsbus.Open(ctx, c.Bus, natsbus.Options{Logger: log, OnReconnect: r.resync})
		if err != nil {
			return nil, nil, fmt.Errorf("cannot open the NATS bus: %v", err)
		}
		return b, r.attach, nil
	}
	return nil, nil, fmt.Errorf("bus %s is not available in this build", busName(c.Bus))
}

// resyncer forwards the bus's "may have missed events" to the engine, which
// is created after the bus.
type resyncer struct {
	eng atomic.Pointer[engine.Engine]
	log *slog.Logger
}

func (r *resyncer) attach(e *engine.Engine) { r.eng.Store(e) }

func (r *resyncer) resync() {
	if e := r.eng.Load(); e != nil {
		r.log.Info("bus may have missed events; every session catches up from the store")
		e.Resync()
	}
}
