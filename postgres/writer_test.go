package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/postgres/pgtest"
	"github.com/reddot-dev/reddot/storetest"
)

func openTest(tb testing.TB, o Options) (*Store, string) {
	tb.Helper()
	url := pgtest.Schema(tb)
	s, err := Open(context.Background(), url, o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, url
}

// blockWriter occupies the writer until the returned func is called.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.do(context.Background(), nil, func(*wtx) func() error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	release = sync.OnceFunc(func() { close(unblock) })
	t.Cleanup(release)
	return release
}

// waitQueued waits until n jobs wait for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.jobs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs queued, want %d", len(s.jobs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func publish(s *Store, msgs ...reddot.Message) ([]reddot.Published, error) {
	for i := range msgs {
		if err := msgs[i].Validate(reddot.Limits{}); err != nil {
			return nil, err
		}
	}
	return s.Publish(context.Background(), msgs)
}

// TestGroupCommit checks that concurrent writes share transactions.
func TestGroupCommit(t *testing.T) {
	s, _ := openTest(t, Options{})
	const n = 500
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			if _, err := publish(s, storetest.Topic("gc", `1`)); err != nil {
				t.Errorf("publish %d: %v", i, err)
			}
		})
	}
	before := s.Stats()
	close(start)
	wg.Wait()
	st := s.Stats()
	commits, jobs := st.Commits-before.Commits, st.Jobs-before.Jobs
	t.Logf("%d publishes in %d commits", jobs, commits)
	if jobs != n || commits > n/5 {
		t.Errorf("%d jobs in %d commits; want %d jobs in at most %d commits", jobs, commits, n, n/5)
	}
}

// TestFailedJobIsolated checks that a write the server refuses fails alone:
// the writes batched with it commit, and no seq is lost.
func TestFailedJobIsolated(t *testing.T) {
	s, _ := openTest(t, Options{Retention: reddot.Retention{MaxEvents: 3}})
	release := blockWriter(t, s)
	bad := storetest.Notify("c", "bad \xff title", "u") // PostgreSQL text refuses invalid UTF-8
	jobs := []func() error{
		func() error { _, err := publish(s, storetest.Topic("t", `1`)); return err },
		func() error { _, err := s.Delete(context.Background(), "u", "missing"); return err },
		func() error { _, err := publish(s, storetest.Topic("t", `2`), bad); return err },
		func() error { _, err := publish(s, storetest.Topic("t", `3`)); return err },
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, fn := range jobs {
		wg.Go(func() { errs[i] = fn() })
		waitQueued(t, s, i+1)
	}
	release()
	wg.Wait()
	if errs[0] != nil || errs[3] != nil {
		t.Errorf("publishes around the failure: %v, %v", errs[0], errs[3])
	}
	if reddot.ErrorCode(errs[1]) != reddot.ENOTFOUND {
		t.Errorf("Delete of a missing id: %v, want not_found", errs[1])
	}
	if errs[2] == nil || !strings.Contains(errs[2].Error(), "UTF8") {
		t.Errorf("publish with invalid UTF-8: %v, want the server's refusal", errs[2])
	}
	evs, err := s.ReadTopic(context.Background(), "t", 0, 10)
	if err != nil || len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 || string(evs[1].Data) != "3" {
		t.Errorf("ReadTopic = %v, %v; want seqs 1, 2 with data 1, 3", evs, err)
	}
	if c, err := s.Unread(context.Background(), "u"); err != nil || c.Total != 0 {
		t.Errorf("Unread(u) = %+v, %v; want nothing from the refused publish", c, err)
	}
}

// TestCanceledWhileQueued checks that a write whose context ends before the
// writer takes it is not stored.
func TestCanceledWhileQueued(t *testing.T) {
	s, _ := openTest(t, Options{})
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Publish(ctx, []reddot.Message{storetest.Topic("c", `1`)})
		errc <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Publish: %v, want context.Canceled", err)
	}
	release()
	if _, err := publish(s, storetest.Topic("d", `1`)); err != nil {
		t.Fatal(err)
	}
	if hs, err := s.Heads(context.Background(), []string{"c"}); err != nil || hs[0] != 0 {
		t.Errorf("Heads = %v, %v; want [0]", hs, err)
	}
}

// TestCloseFinishesQueued checks that Close commits queued writes first.
func TestCloseFinishesQueued(t *testing.T) {
	s, url := openTest(t, Options{})
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			if _, err := publish(s, storetest.Topic("q", `1`)); err != nil {
				t.Errorf("queued publish: %v", err)
			}
		})
		waitQueued(t, s, i+1)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	waitClosing(t, s) // Close has stopped taking jobs and waits for the writer
	release()
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close: %v", err)
	}
	s2, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if hs, err := s2.Heads(context.Background(), []string{"q"}); err != nil || hs[0] != 3 {
		t.Errorf("Heads after reopen = %v, %v; want [3]", hs, err)
	}
}

// TestConnectionLoss kills the store's server connections between writes:
// the next writes succeed on new connections.
func TestConnectionLoss(t *testing.T) {
	base, _ := openTest(t, Options{})
	_ = base.Close()
	url := pgtest.Schema(t) + "&application_name=rd_conn_loss"
	s, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for round := range 3 {
		if _, err := publish(s, storetest.Topic("k", `1`)); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		pgtest.Exec(t, pgtest.URL(t), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'rd_conn_loss' AND pid <> pg_backend_pid()`)
	}
	if hs, err := s.Heads(context.Background(), []string{"k"}); err != nil || hs[0] != 3 {
		t.Errorf("Heads = %v, %v; want [3]", hs, err)
	}
	t.Logf("stats after connection loss: %+v", s.Stats())
}

// TestSweeper checks that age retention runs in the background.
func TestSweeper(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, _ := openTest(t, Options{Retention: reddot.Retention{MaxAge: time.Second}, Now: clock.Now})
	if _, err := publish(s, storetest.Topic("s", `1`), storetest.Topic("s", `2`)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.ReadTopic(context.Background(), "s", 0, 10)
		if errors.Is(err, reddot.ErrReset) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events not expired by the sweeper: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpenErrors(t *testing.T) {
	base := pgtest.URL(t)
	ctx := context.Background()
	cases := []struct{ url, want string }{
		{"postgres://nobody:secret@127.0.0.1:1/x?connect_timeout=2", "127.0.0.1:1"},
		{"postgres://u:pw@host:notaport/db", "bad URL"},
		{base + "&search_path=rd_no_such_schema", "no schema"},
	}
	for _, c := range cases {
		start := time.Now()
		s, err := Open(ctx, c.url, Options{})
		if err == nil {
			_ = s.Close()
			t.Errorf("Open(%s) succeeded", c.url)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Open(%s) = %q; want one line with %q and no password", c.url, err, c.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Open(%s) took %v", c.url, d)
		}
	}
}

func TestSchemaVersion(t *testing.T) {
	s, _ := openTest(t, Options{})
	scripts, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.pool.QueryRow(context.Background(), `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil || v != len(scripts) {
		t.Errorf("schema_version = %d, %v; want %d", v, err, len(scripts))
	}
}

func TestRetryable(t *testing.T) {
	cases := []struct {
		err       error
		retry     bool
		statement bool
	}{
		{&pgconn.PgError{Code: "40P01"}, true, false},
		{&pgconn.PgError{Code: "40001"}, true, false},
		{&pgconn.PgError{Code: "57P01"}, true, false},
		{&pgconn.PgError{Code: "22021"}, false, true},
		{&pgconn.PgError{Code: "23505"}, false, true},
		{commitError{errors.New("EOF")}, false, false},
		{errors.New("read tcp: connection reset"), true, false},
		{context.DeadlineExceeded, false, false},
	}
	for _, c := range cases {
		if got := retryable(c.err); got != c.retry {
			t.Errorf("retryable(%v) = %v", c.err, got)
		}
		if got := isStatementError(c.err); got != c.statement {
			t.Errorf("isStatementError(%v) = %v", c.err, got)
		}
	}
}

// waitClosing waits until Close has marked the store closed.
func waitClosing(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.RLock()
		closed := s.closed
		s.mu.RUnlock()
		if closed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Close did not start")
		}
		time.Sleep(time.Millisecond)
	}
}
