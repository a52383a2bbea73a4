package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/sqlite"
	"github.com/reddot-dev/reddot/storetest"
)

const crashEnv = "REDDOT_SQLITE_CRASH_CHILD"

// TestKill9 checks that every publish that returned survives kill -9: a
// child process publishes from several goroutines and reports each seq it
// got back; the parent kills it and finds all of them.
func TestKill9(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]bool{}
	sc := bufio.NewScanner(out)
	for len(acked) < 300 && sc.Scan() {
		if seq, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
			acked[seq] = true
		}
	}
	_ = cmd.Process.Kill() // SIGKILL
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged %d publishes before exiting", len(acked))
	}
	s := MustOpen(t, path, sqlite.Options{})
	kept := map[uint64]bool{}
	after := uint64(0)
	for {
		evs, err := s.ReadTopic(context.Background(), "crash", after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			kept[e.Seq] = true
		}
		after = evs[len(evs)-1].Seq
	}
	for seq := range acked {
		if !kept[seq] {
			t.Errorf("acknowledged seq %d lost", seq)
		}
	}
	t.Logf("%d acknowledged, %d stored", len(acked), len(kept))
}

func crashChild(path string) {
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	m := storetest.Topic("crash", `{"x":1}`)
	if err := m.Validate(reddot.Limits{}); err != nil {
		os.Exit(1)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				ps, err := s.Publish(context.Background(), []reddot.Message{m})
				if err != nil {
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(w, ps[0].Events[0].Seq)
				_ = w.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
