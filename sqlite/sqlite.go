// Package sqlite implements reddot.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go, no cgo).
//
// Durability: the database runs in WAL mode with synchronous=FULL, and a
// write returns only after the transaction holding it is committed, so a
// publish that returned survives kill -9 and power loss. Writes go through
// one writer goroutine that commits whatever is queued together (group
// commit): one fsync per batch, not per event. Reads use a separate pool of
// read-only connections and never wait for the writer.
//
// Topic streams are trimmed by Retention: to MaxEvents per topic after each
// write, and by age (MaxAge) by a background sweeper, see [Store.Sweep].
// Inbox streams ("user:<id>") and the "broadcast" stream are topic streams
// too. Inbox items (notifications) are not subject to retention: they stay
// until the user deletes them.
//
// Broadcasts are stored once and count as unread for every user, including
// users that first appear after the broadcast was sent. Read and delete
// state of a broadcast is kept per user.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reddot-dev/reddot"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ reddot.Store = (*Store)(nil)

// ErrClosed is returned by writes on a closed Store.
var ErrClosed = reddot.Errorf(reddot.EUNAVAILABLE, "store is closed")

// DefaultMaxBatch is the number of writes committed in one transaction at most.
const DefaultMaxBatch = 256

// Options configure a Store. Zero fields take defaults.
type Options struct {
	// Retention bounds topic streams; zero fields take reddot.DefaultRetention.
	Retention reddot.Retention
	// Logger receives background errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock for event times and age retention; nil is time.Now.
	Now func() time.Time
	// MaxBatch is how many writes one transaction commits at most
	// (DefaultMaxBatch when <= 0).
	MaxBatch int
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
	return o
}

// Store is a reddot.Store in one SQLite database file. It is safe for
// concurrent use. Stores of several processes on one file stay correct but
// contend for SQLite's write lock; use one.
type Store struct {
	opt   Options
	path  string
	epoch uint32

	wdb   *sql.DB   // the single write connection, owned by the writer
	wconn *sql.Conn //
	rdb   *sql.DB   // read-only pool

	jobs       chan *job
	mu         sync.RWMutex // guards closed against senders on jobs
	closed     bool
	writerDone chan struct{}
	stopSweep  chan struct{}
	sweepDone  chan struct{}
	closeOnce  sync.Once
	closeErr   error

	commits   atomic.Uint64
	committed atomic.Uint64
	failed    atomic.Uint64
}

// Stats are counters of the writer since Open.
type Stats struct {
	Commits uint64 // transactions committed
	Jobs    uint64 // writes committed (Publish, MarkRead, Delete, Sweep calls)
	Failed  uint64 // writes answered with an error
}

// Stats returns the writer's counters. Jobs/Commits is the mean batch size.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Jobs: s.committed.Load(), Failed: s.failed.Load()}
}

// Open opens or creates the database at path and migrates it to the current
// schema. The directory is created if missing and must be writable.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	o = o.withDefaults()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := checkDir(filepath.Dir(abs)); err != nil {
		return nil, err
	}
	s := &Store{
		opt:        o,
		path:       abs,
		jobs:       make(chan *job, o.MaxBatch),
		writerDone: make(chan struct{}),
		stopSweep:  make(chan struct{}),
		sweepDone:  make(chan struct{}),
	}
	if err := s.openDBs(ctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	go s.writeLoop()
	go s.sweepLoop()
	return s, nil
}

// checkDir creates dir if needed and verifies that files can be created in it.
func checkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("sqlite: data directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".reddot-probe-*")
	if err != nil {
		return fmt.Errorf("sqlite: data directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	_ = os.Remove(name)
	return nil
}

func dsn(path string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: path, RawQuery: params.Encode()}
	return u.String()
}

func (s *Store) openDBs(ctx context.Context) error {
	var err error
	w := url.Values{}
	w.Add("_pragma", "busy_timeout(10000)")
	w.Add("_pragma", "journal_mode(WAL)")
	w.Add("_pragma", "synchronous(FULL)")
	w.Add("_pragma", "cache_size(-16000)")
	if s.wdb, err = sql.Open("sqlite", dsn(s.path, w)); err != nil {
		return err
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetConnMaxIdleTime(0)
	s.wdb.SetConnMaxLifetime(0)
	if s.wconn, err = s.wdb.Conn(ctx); err != nil {
		return err
	}
	var mode string
	if err = s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	if s.epoch, err = migrate(ctx, s.wconn); err != nil {
		return err
	}

	r := url.Values{}
	r.Add("_pragma", "busy_timeout(10000)")
	r.Add("_query_only", "1")
	if s.rdb, err = sql.Open("sqlite", dsn(s.path, r)); err != nil {
		return err
	}
	n := max(4, runtime.NumCPU())
	s.rdb.SetMaxOpenConns(n)
	s.rdb.SetMaxIdleConns(n)
	return s.rdb.PingContext(ctx)
}

// Epoch identifies this database; it is created with it and never changes.
func (s *Store) Epoch() uint32 { return s.epoch }

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	var one int
	return s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close commits the writes already queued, stops the background work and
// closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopSweep)
		<-s.sweepDone
		s.mu.Lock()
		s.closed = true
		close(s.jobs)
		s.mu.Unlock()
		<-s.writerDone
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.wconn != nil {
		// Checkpoint so the WAL does not outgrow the database between runs.
		_, _ = s.wconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	return errors.Join(errs...)
}
