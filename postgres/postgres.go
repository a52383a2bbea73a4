// Package postgres implements reddot.Store on PostgreSQL (jackc/pgx/v5), so
// that several reddot nodes can share one store.
//
// Every node runs the same code against the same database; there is no
// leader. The per-topic seq is allocated under the topic row's lock inside
// the transaction that inserts the event, so seqs stay gapless and commit in
// order on every topic however many nodes publish to it: a reader that has
// seen seq n+1 has been able to see seq n (see docs/postgres.md).
//
// Writes go through one writer goroutine per Store that sends whatever is
// queued as one transaction, pipelined in a single round trip, and commits
// once (group commit). A write returns only after its transaction committed.
// Reads use the pool directly and never wait for the writer.
//
// Retention, inbox and broadcast semantics are those of the sqlite package:
// topic streams (including "user:<id>" inbox streams and "broadcast") are
// trimmed to Retention.MaxEvents after each write and by age by a background
// sweeper ([Store.Sweep]); notifications stay until deleted; a broadcast is
// stored once and counts as unread for every user until that user reads or
// deletes it.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reddot-dev/reddot"
)

var _ reddot.Store = (*Store)(nil)

// ErrClosed is returned by writes and Ping on a closed Store.
var ErrClosed = reddot.Errorf(reddot.EUNAVAILABLE, "store is closed")

// Defaults of Options.
const (
	DefaultMaxBatch     = 256
	DefaultBatchTimeout = 15 * time.Second
	DefaultMaxConns     = 10
)

// Options configure a Store. Zero fields take defaults.
type Options struct {
	// Retention bounds topic streams; zero fields take reddot.DefaultRetention.
	Retention reddot.Retention
	// Logger receives background errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock for event times and age retention; nil is time.Now.
	Now func() time.Time
	// MaxBatch is how many writes one transaction carries at most.
	MaxBatch int
	// BatchTimeout bounds one write transaction, retries included.
	BatchTimeout time.Duration
	// MaxConns is the pool size when the URL has no pool_max_conns.
	MaxConns int32
}

func (o Options) withDefaults() Options {
	o.Retention = o.Retention.WithDefaults()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = DefaultBatchTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	return o
}

// Store is a reddot.Store in a PostgreSQL database. It is safe for
// concurrent use, and any number of Stores (in any number of processes) may
// share one database.
type Store struct {
	opt   Options
	pool  *pgxpool.Pool
	epoch uint32

	jobs       chan *job
	mu         sync.RWMutex // guards closed against senders on jobs
	closed     bool
	writerDone chan struct{}
	stopSweep  chan struct{}
	sweepDone  chan struct{}
	closeOnce  sync.Once

	commits   atomic.Uint64
	committed atomic.Uint64
	failed    atomic.Uint64
	retries   atomic.Uint64
}

// Stats are counters of the writer since Open.
type Stats struct {
	Commits uint64 // transactions committed
	Jobs    uint64 // writes committed (Publish, MarkRead, Delete calls)
	Failed  uint64 // writes answered with an error
	Retries uint64 // transactions retried after a deadlock, serialization or connection failure
}

// Stats returns the writer's counters. Jobs/Commits is the mean batch size.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Jobs: s.committed.Load(), Failed: s.failed.Load(), Retries: s.retries.Load()}
}

// Open connects to the database at dsn (postgres://…; pgx pool parameters
// and runtime parameters such as search_path are honoured), migrates it to
// the current schema and starts the writer. It fails when the database
// cannot be reached.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	o = o.withDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad URL %s: %s", redact(dsn), oneLine(err))
	}
	if !hasParam(dsn, "pool_max_conns") {
		cfg.MaxConns = o.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %s", redact(dsn), oneLine(err))
	}
	s := &Store{
		opt:        o,
		pool:       pool,
		jobs:       make(chan *job, o.MaxBatch),
		writerDone: make(chan struct{}),
		stopSweep:  make(chan struct{}),
		sweepDone:  make(chan struct{}),
	}
	if s.epoch, err = migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %s: %s", redact(dsn), oneLine(err))
	}
	go s.writeLoop()
	go s.sweepLoop()
	return s, nil
}

// redact returns url without its password, for messages and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if err != nil {
			return "(unparsable URL)"
		}
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// oneLine flattens pgx's multi-line connection errors (one line per
// address and attempt) into one line without repeats.
func oneLine(err error) string {
	head, rest, _ := strings.Cut(err.Error(), "\n")
	parts := []string{strings.TrimSuffix(strings.TrimSpace(head), ":")}
	for _, p := range strings.Split(rest, "\n") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return parts[0] + ": " + strings.Join(parts[1:], "; ")
}

func hasParam(raw, name string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Query().Has(name)
}

// Epoch identifies this database (schema); it is created with it and never
// changes.
func (s *Store) Epoch() uint32 { return s.epoch }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return s.read(ctx, func() error { return s.pool.Ping(ctx) })
}

// read runs an idempotent read, once more when it failed on a connection
// the server had already closed (the pool then hands out a new one).
func (s *Store) read(ctx context.Context, fn func() error) error {
	err := fn()
	for i := 0; i < 2 && lostConnection(err) && ctx.Err() == nil; i++ {
		err = fn()
	}
	return err
}

// lostConnection reports whether err is the connection failing rather than
// the query: the server went away or the network failed.
func lostConnection(err error) bool {
	var re *reddot.Error
	var pe *pgconn.PgError
	switch {
	case err == nil, errors.As(err, &re), errors.Is(err, pgx.ErrNoRows),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &pe):
		return pe.Code[:2] == "08" || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return true
}

// Close commits the writes already queued, stops the background work and
// closes the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopSweep)
		<-s.sweepDone
		s.mu.Lock()
		s.closed = true
		close(s.jobs)
		s.mu.Unlock()
		<-s.writerDone
		s.pool.Close()
	})
	return nil
}

// isClosed reports whether Close has begun.
func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}
