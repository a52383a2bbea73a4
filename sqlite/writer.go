package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reddot-dev/reddot"
)

// job is one write. fn runs inside the batch transaction, within its own
// savepoint; it may fill the caller's results, which the caller reads only
// when done reports nil.
type job struct {
	ctx  context.Context
	fn   func(w *wtx) error
	done chan error // buffered: the writer never blocks on an answer
}

// do queues fn for the writer and waits for its batch to commit. A job whose
// ctx ends before the writer takes it is not run. If ctx ends while its
// batch is in flight, do returns ctx.Err() and the write may still commit.
func (s *Store) do(ctx context.Context, fn func(w *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &job{ctx: ctx, fn: fn, done: make(chan error, 1)}
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

// writeLoop is the only user of the write connection. It takes one job,
// drains what else is queued up to MaxBatch, and commits them together.
// It returns once the jobs channel is closed and drained.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	w := &wtx{
		conn:        s.wconn,
		stmts:       map[string]*sql.Stmt{},
		ret:         s.opt.Retention,
		jobTopics:   map[string]topicHead{},
		batchTopics: map[string]topicHead{},
	}
	defer w.closeStmts()
	batch := make([]*job, 0, s.opt.MaxBatch)
	for j := range s.jobs {
		batch = append(batch[:0], j)
	drain:
		for len(batch) < s.opt.MaxBatch {
			select {
			case j, ok := <-s.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		s.runBatch(w, batch)
	}
}

// runBatch runs jobs in one transaction, each in a savepoint so that a job
// that fails is undone alone, then commits and answers every job.
func (s *Store) runBatch(w *wtx, batch []*job) {
	live := batch[:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- err
			s.failed.Add(1)
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	errs := make([]error, len(live))
	err := s.runTx(w, live, errs)
	if err != nil {
		s.opt.Logger.Error("sqlite: write batch failed", "jobs", len(live), "err", err)
		for i := range errs {
			errs[i] = err
		}
	} else {
		s.commits.Add(1)
	}
	for i, j := range live {
		if errs[i] != nil {
			s.failed.Add(1)
		} else {
			s.committed.Add(1)
		}
		j.done <- errs[i]
	}
}

// runTx returns an error only when the whole transaction failed.
func (s *Store) runTx(w *wtx, jobs []*job, errs []error) (err error) {
	w.now = s.opt.Now()
	clear(w.batchTopics)
	if _, err := w.exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if _, rerr := w.conn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
				s.opt.Logger.Error("sqlite: rollback failed", "err", rerr)
			}
		}
	}()
	for i, j := range jobs {
		if _, err := w.exec("SAVEPOINT job"); err != nil {
			return err
		}
		clear(w.jobTopics)
		if errs[i] = runJob(w, j); errs[i] != nil {
			if _, err := w.exec("ROLLBACK TO job"); err != nil {
				return err
			}
		} else {
			w.mergeTopics()
		}
		if _, err := w.exec("RELEASE job"); err != nil {
			return err
		}
	}
	if err := w.trimCount(); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	_, err = w.exec("COMMIT")
	return err
}

// runJob runs j.fn, turning a panic into an error for that job alone.
func runJob(w *wtx, j *job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: write panicked: %v", r)
		}
	}()
	return j.fn(w)
}

// wtx is the writer's view of the open batch transaction.
type wtx struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	ret   reddot.Retention
	now   time.Time

	jobTopics   map[string]topicHead // topics appended to by the current job
	batchTopics map[string]topicHead // ... by the committed jobs of the batch
}

type topicHead struct{ last, trimmed int64 }

func (w *wtx) stmt(q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	w.stmts[q] = st
	return st, nil
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

func (w *wtx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}

// scan runs a query expected to return one row into dest; it returns
// sql.ErrNoRows when there is none.
func (w *wtx) scan(q string, args []any, dest ...any) error {
	st, err := w.stmt(q)
	if err != nil {
		return err
	}
	return st.QueryRowContext(context.Background(), args...).Scan(dest...)
}

// changed runs an exec and returns the number of rows it changed.
func (w *wtx) changed(q string, args ...any) (int64, error) {
	res, err := w.exec(q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (w *wtx) closeStmts() {
	for _, st := range w.stmts {
		_ = st.Close()
	}
}

func (w *wtx) mergeTopics() {
	for t, h := range w.jobTopics {
		w.batchTopics[t] = h
	}
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
