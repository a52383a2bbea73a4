package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/storetest"
)

func openTest(tb testing.TB, o Options) *Store {
	tb.Helper()
	s, err := Open(context.Background(), filepath.Join(tb.TempDir(), "reddot.db"), o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// blockWriter occupies the writer until the returned func is called.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.do(context.Background(), func(*wtx) error {
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
	s := openTest(t, Options{})
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

// TestFailedJobIsolated checks that a failing write in a batch is undone
// alone: the others commit, and its seqs are not consumed.
func TestFailedJobIsolated(t *testing.T) {
	s := openTest(t, Options{Retention: reddot.Retention{MaxEvents: 3}})
	release := blockWriter(t, s)
	commits := s.Stats().Commits
	var wg sync.WaitGroup
	errs := make([]error, 4)
	jobs := []func() error{
		func() error { _, err := publish(s, storetest.Topic("t", `1`)); return err },
		func() error { _, err := s.Delete(context.Background(), "u", "missing"); return err },
		func() error { _, err := publish(s, storetest.Topic("t", `2`)); return err },
		func() error {
			return s.do(context.Background(), func(w *wtx) error {
				for range 10 {
					if _, err := w.appendEvent("t", "message", reddot.NewID(w.now), []byte(`0`)); err != nil {
						return err
					}
				}
				return errors.New("boom")
			})
		},
	}
	for i, fn := range jobs {
		wg.Go(func() { errs[i] = fn() })
		waitQueued(t, s, i+1)
	}
	release()
	wg.Wait()
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("publishes around failures: %v, %v", errs[0], errs[2])
	}
	if reddot.ErrorCode(errs[1]) != reddot.ENOTFOUND || errs[3] == nil || errs[3].Error() != "boom" {
		t.Errorf("failing jobs: %v, %v", errs[1], errs[3])
	}
	if got := s.Stats().Commits - commits; got != 2 {
		t.Errorf("%d commits, want 2 (blocker, then one batch)", got)
	}
	evs, err := s.ReadTopic(context.Background(), "t", 0, 10)
	if err != nil || len(evs) != 2 || evs[0].Seq != 1 || evs[1].Seq != 2 {
		t.Errorf("ReadTopic = %v, %v; want seqs 1, 2 kept", evs, err)
	}
}

// TestCanceledWhileQueued checks that a write whose context ends before the
// writer takes it is not stored.
func TestCanceledWhileQueued(t *testing.T) {
	s := openTest(t, Options{})
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
	if _, err := publish(s, storetest.Topic("d", `1`)); err != nil { // the writer is past the canceled job
		t.Fatal(err)
	}
	if hs, err := s.Heads(context.Background(), []string{"c"}); err != nil || hs[0] != 0 {
		t.Errorf("Heads = %v, %v; want [0]", hs, err)
	}
}

// TestCloseFinishesQueued checks that Close commits queued writes first.
func TestCloseFinishesQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reddot.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
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
	s2, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if hs, err := s2.Heads(context.Background(), []string{"q"}); err != nil || hs[0] != 3 {
		t.Errorf("Heads after reopen = %v, %v; want [3]", hs, err)
	}
}

// TestSweeper checks that age retention runs in the background.
func TestSweeper(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := openTest(t, Options{Retention: reddot.Retention{MaxAge: time.Second}, Now: clock.Now})
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
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), filepath.Join(file, "reddot.db"), Options{})
	if err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("Open under a file: %v, want a data directory error", err)
	}
	_, err = Open(context.Background(), t.TempDir(), Options{}) // a directory, not a file
	if err == nil {
		t.Error("Open of a directory succeeded")
	}
}

func TestSchemaVersion(t *testing.T) {
	s := openTest(t, Options{})
	scripts, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.rdb.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil || v != len(scripts) {
		t.Errorf("schema_version = %d, %v; want %d", v, err, len(scripts))
	}
	var mode string
	if err := s.rdb.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	var sync int
	if err := s.wconn.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
}

// waitClosing waits until Close has marked the store closed.
func waitClosing(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Close did not start")
		}
		time.Sleep(time.Millisecond)
	}
}
