package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// job is one write. build queues the job's statements into the batch
// transaction and returns the function that, once the transaction has
// committed, gives the caller's answer from the statements' results.
//
// Statements must not fail for a domain reason: a job that finds nothing to
// do (an unknown id) writes nothing and reports it from its answer, so that
// it never spoils the transaction it shares with other jobs.
type job struct {
	ctx    context.Context
	locks  []string // topic rows the job writes or serializes on
	build  func(w *wtx) (answer func() error)
	answer func() error
	done   chan error // buffered: the writer never blocks on an answer
}

// wtx is one batch transaction being built.
type wtx struct {
	b   *pgx.Batch
	now time.Time
}

func (w *wtx) queue(sql string, args ...any) *pgx.QueuedQuery { return w.b.Queue(sql, args...) }

// do queues a write for the writer and waits for its transaction to commit.
// A write whose ctx ends before the writer takes it is not run. If ctx ends
// while its transaction is in flight, do returns ctx.Err() and the write may
// still commit.
func (s *Store) do(ctx context.Context, locks []string, build func(w *wtx) func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &job{ctx: ctx, locks: locks, build: build, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.jobs <- j:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxBatchLocks bounds the topics one transaction locks, so that a few
// notifications to thousands of users each do not make one huge batch.
const maxBatchLocks = 4096

// writeLoop takes one job, drains what else is queued up to MaxBatch and
// commits them together. It returns once the jobs channel is closed and
// drained.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	batch := make([]*job, 0, s.opt.MaxBatch)
	for j := range s.jobs {
		batch = append(batch[:0], j)
		locks := len(j.locks)
	drain:
		for len(batch) < s.opt.MaxBatch && locks < maxBatchLocks {
			select {
			case j, ok := <-s.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, j)
				locks += len(j.locks)
			default:
				break drain
			}
		}
		s.runBatch(batch)
		clear(batch)
	}
}

// runBatch commits jobs in one transaction and answers each. When the
// transaction fails on a statement, which one job may have caused, each job
// is run again alone so that only the culprit fails.
func (s *Store) runBatch(batch []*job) {
	live := make([]*job, 0, len(batch))
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			s.failed.Add(1)
			j.done <- err
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	err := s.commit(live)
	if err != nil && len(live) > 1 && isStatementError(err) {
		s.opt.Logger.Warn("postgres: write batch failed; retrying its writes one by one", "jobs", len(live), "err", err)
		for _, j := range live {
			s.runBatch([]*job{j})
		}
		return
	}
	if err != nil {
		s.opt.Logger.Error("postgres: write failed", "jobs", len(live), "err", err)
	} else {
		s.commits.Add(1)
	}
	for _, j := range live {
		jerr := err
		if jerr == nil && j.answer != nil {
			jerr = j.answer()
		}
		if jerr != nil {
			s.failed.Add(1)
		} else {
			s.committed.Add(1)
		}
		j.done <- jerr
	}
}

const maxAttempts = 5

// commit runs jobs in one transaction, retrying it while it failed in a way
// that guarantees nothing was committed and a new attempt may succeed.
func (s *Store) commit(jobs []*job) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opt.BatchTimeout)
	defer cancel()
	backoff := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.runTx(ctx, jobs)
		if err == nil || attempt == maxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		s.retries.Add(1)
		s.opt.Logger.Warn("postgres: retrying write transaction", "attempt", attempt, "err", err)
		t := time.NewTimer(backoff + rand.N(backoff))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		backoff = min(2*backoff, time.Second)
	}
}

// lockTopicsSQL creates or locks the rows of every topic a transaction will
// write, in one sorted pass at its start. Every transaction locks in the
// same order, so transactions of different nodes wait for each other but
// never deadlock; and the lock on a topic row is what orders its seqs.
const lockTopicsSQL = `INSERT INTO topics AS t (topic, last_seq)
	SELECT x, 0 FROM unnest($1::text[]) AS x ORDER BY x COLLATE "C"
	ON CONFLICT (topic) DO UPDATE SET last_seq = t.last_seq`

// trimSQL keeps at most $2 events in topic $1. It names one topic so that
// even a plan prepared while the table was small reads the events through
// their primary key: a join over several topics may be planned as a scan of
// the whole table and keep that plan as the table grows.
const trimSQL = `WITH o AS (
		SELECT trimmed_seq AS old, last_seq - $2 AS upto FROM topics
		WHERE topic = $1 AND last_seq - $2 > trimmed_seq),
	t AS (UPDATE topics SET trimmed_seq = o.upto FROM o WHERE topics.topic = $1)
	DELETE FROM events e USING o WHERE e.topic = $1 AND e.seq > o.old AND e.seq <= o.upto`

// commitError marks a failure of COMMIT itself: the outcome is unknown.
type commitError struct{ err error }

func (e commitError) Error() string { return "commit: " + e.err.Error() }
func (e commitError) Unwrap() error { return e.err }

// runTx sends the whole transaction in one pipelined round trip, then
// commits it.
func (s *Store) runTx(ctx context.Context, jobs []*job) error {
	w := &wtx{b: &pgx.Batch{}, now: s.opt.Now()}
	w.b.BeginTx(pgx.TxOptions{})
	var locks []string
	for _, j := range jobs {
		locks = append(locks, j.locks...)
	}
	slices.Sort(locks)
	locks = slices.Compact(locks)
	if len(locks) > 0 {
		w.queue(lockTopicsSQL, locks)
	}
	for _, j := range jobs {
		j.answer = j.build(w)
	}
	for _, t := range locks {
		w.queue(trimSQL, t, int64(s.opt.Retention.MaxEvents))
	}
	br := s.pool.SendBatch(ctx, w.b)
	tx := br.Tx()
	if err := br.Close(); err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return commitError{err}
	}
	return nil
}

// retryable reports whether a failed transaction certainly did not commit
// and may succeed when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// serialization_failure, deadlock_detected; and the server going
		// away (admin_shutdown, crash_shutdown, cannot_connect_now).
		switch pe.Code {
		case "40001", "40P01", "57P01", "57P02", "57P03":
			return true
		}
		return false
	}
	var ce commitError
	if errors.As(err, &ce) {
		return false // COMMIT may have been applied
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// A network failure before COMMIT: the server rolls the transaction back.
	return true
}

// isStatementError reports whether err is the server refusing a statement,
// which one job of a batch may have caused, rather than the database being
// unavailable.
func isStatementError(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code[:2] {
	case "08", "53", "57", "40": // connection, resources, operator intervention, rollback
		return false
	}
	return true
}

// errUnexpected reports a result the SQL cannot produce.
func errUnexpected(what string, got any) error {
	return fmt.Errorf("postgres: unexpected %s: %v", what, got)
}
