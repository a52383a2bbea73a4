package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/membus"
	"github.com/reddot-dev/reddot/sqlite"
)

func openStore(ctx context.Context, c *Config, log *slog.Logger) (reddot.Store, error) {
	if c.Store == "sqlite" {
		s, err := sqlite.Open(ctx, filepath.Join(c.DataDir, "reddot.db"), sqlite.Options{
			Logger: log, Retention: reddot.Retention{MaxEvents: c.RetentionEvents, MaxAge: c.RetentionAge},
		})
		if err != nil {
			return nil, fmt.Errorf("cannot open the SQLite store in %s: %v", c.DataDir, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("store %s is not available in this build", storeName(c.Store))
}

func openBus(ctx context.Context, c *Config, log *slog.Logger) (reddot.Bus, error) {
	if c.Bus == "memory" {
		return membus.New(), nil
	}
	return nil, fmt.Errorf("bus %s is not available in this build", busName(c.Bus))
}
