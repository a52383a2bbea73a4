package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds reddot once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "reddot-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "reddot")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

const (
	e2eSecret = "e2e-secret-0123456789abcdef"
	e2eKey    = "e2e-key-0123456789abcdef"
)

// server is one reddot serve process started by a test.
type server struct {
	t       testing.TB
	cmd     *exec.Cmd
	URL     string
	addr    string
	dataDir string
	exited  chan struct{}
	stderr  *strings.Builder
	mu      sync.Mutex
}

func startServer(t testing.TB, dataDir string, extra ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"serve", "--http-addr", addr, "--mqtt-addr", "off", "--data-dir", dataDir,
		"--jwt-secret", e2eSecret, "--api-keys", e2eKey, "--heartbeat", "1s", "--log-level", "warn"}, extra...)
	cmd := exec.Command(binary(t), args...)
	stdout, _ := cmd.StdoutPipe()
	s := &server{t: t, cmd: cmd, URL: "http://" + addr, addr: addr, dataDir: dataDir, exited: make(chan struct{}), stderr: &strings.Builder{}}
	cmd.Stderr = &lockedWriter{mu: &s.mu, w: s.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "reddot is up") {
				once.Do(func() { close(up) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(s.exited) }()
	select {
	case <-up:
	case <-s.exited:
		t.Fatalf("server exited at start: %s", s.logs())
	case <-time.After(30 * time.Second):
		s.kill()
		t.Fatalf("server did not come up: %s", s.logs())
	}
	t.Cleanup(s.kill)
	return s
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// kill sends SIGKILL to our own child and waits for it.
func (s *server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop sends SIGTERM and returns the exit code.
func (s *server) stop() int {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.kill()
		s.t.Fatal("server did not stop on SIGTERM")
	}
	return s.cmd.ProcessState.ExitCode()
}

func token(t testing.TB, user string) string {
	t.Helper()
	var out, errb strings.Builder
	if code := run([]string{"token", "--user", user, "--jwt-secret", e2eSecret, "--ttl", "1h"}, &out, &errb); code != 0 {
		t.Fatalf("token: %s", errb.String())
	}
	return strings.TrimSpace(out.String())
}

var client = &http.Client{Timeout: 30 * time.Second}

func (s *server) publish(t testing.TB, body string) ([]string, error) {
	req, _ := http.NewRequest("POST", s.URL+"/v1/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("publish: %d %s", resp.StatusCode, b)
	}
	var r struct{ IDs []string }
	return r.IDs, json.Unmarshal(b, &r)
}

func (s *server) getJSON(t testing.TB, path, tok string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v in %s", path, err, b)
		}
	}
	return resp.StatusCode
}

type event struct {
	ID     string          `json:"id"`
	Topic  string          `json:"topic"`
	Seq    uint64          `json:"seq"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
	Cursor string          `json:"cursor"`
}

// pollAll follows cursors with short polls until nothing new comes.
func (s *server) pollAll(t testing.TB, query, tok, since string) ([]event, string) {
	t.Helper()
	var all []event
	for {
		var page struct {
			Events []event `json:"events"`
			Cursor string  `json:"cursor"`
		}
		if st := s.getJSON(t, "/v1/poll?"+query+"&since="+since, tok, &page); st != 200 {
			t.Fatalf("poll: status %d", st)
		}
		all = append(all, page.Events...)
		since = page.Cursor
		if len(page.Events) == 0 {
			return all, since
		}
	}
}

// sseStream opens an SSE stream and returns a channel of events.
func sseStream(t testing.TB, ctx context.Context, url, lastID string) <-chan event {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("sse status %d", resp.StatusCode)
	}
	ch := make(chan event, 1000)
	ready := make(chan struct{})
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, ": connected") {
				once.Do(func() { close(ready) })
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				var ev event
				if json.Unmarshal([]byte(d), &ev) == nil {
					ch <- ev
				}
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("sse did not connect")
	}
	return ch
}

func recv(t testing.TB, ch <-chan event) event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return event{}
}

// TestMain removes the binary built for the end-to-end tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
