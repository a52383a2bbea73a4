package bench_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/bench"
	"github.com/reddot-dev/reddot/engine"
	"github.com/reddot-dev/reddot/httpapi"
	"github.com/reddot-dev/reddot/membus"
	"github.com/reddot-dev/reddot/sqlite"
)

const (
	testSecret = "bench-test-secret-0123456789"
	testKey    = "bench-test-key-0123456789"
	testOrigin = "http://bench.test"
)

// server is the whole HTTP stack in-process on 127.0.0.1:0. It can cut
// every subscriber connection once, after a given publish.
type server struct {
	URL string

	mu        sync.Mutex
	subConns  map[net.Conn]bool
	remotes   map[string]bool // source IPs of subscriber connections
	publishes atomic.Int64
	cutAfter  int64
}

type connKey struct{}

func newServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/reddot.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{Store: st, Bus: membus.New()})
	a, err := auth.New(auth.Options{Secret: []byte(testSecret), APIKeys: []string{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Options{Engine: eng, Auth: a, AllowedOrigins: []string{testOrigin},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s := &server{subConns: map[net.Conn]bool{}, remotes: map[string]bool{}}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/publish") {
			api.ServeHTTP(w, r)
			if s.publishes.Add(1) == s.cutAfter {
				s.cutSubscribers()
			}
			return
		}
		s.mu.Lock()
		s.subConns[r.Context().Value(connKey{}).(net.Conn)] = true
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		s.remotes[host] = true
		s.mu.Unlock()
		api.ServeHTTP(w, r)
	}))
	hs.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	hs.Start()
	t.Cleanup(func() {
		s.cutSubscribers()
		_ = eng.Drain(context.Background())
		hs.Close()
		_ = st.Close()
	})
	s.URL = hs.URL
	return s
}

func (s *server) cutSubscribers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.subConns {
		c.Close()
	}
	clear(s.subConns)
}

func minted(t *testing.T) bench.Credentials {
	t.Helper()
	return func(_ context.Context, i int) (string, string, error) {
		user := "u" + strconv.Itoa(i)
		tok, err := auth.Mint([]byte(testSecret), auth.Claims{User: user, TTL: time.Hour}, time.Now())
		return user, tok, err
	}
}

func config(url, transport string, n, events int) bench.Config {
	return bench.Config{
		URL: url, Transport: transport, Subscribers: n, Events: events, Rate: 200,
		APIKey: testKey, Origin: testOrigin, PollInterval: 20 * time.Millisecond,
		Duration: time.Minute, Wait: 10 * time.Second,
	}
}

func run(t *testing.T, cfg bench.Config) *bench.Summary {
	t.Helper()
	sum, err := bench.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// checkClean asserts every subscriber connected and got every event once.
func checkClean(t *testing.T, sum *bench.Summary, subs, events int) {
	t.Helper()
	want := int64(subs * events)
	if sum.Connected != int64(subs) || sum.Failed != 0 {
		t.Errorf("connected %d failed %d, want %d and 0 (errors %v)", sum.Connected, sum.Failed, subs, sum.Errors)
	}
	if sum.Expected != want || sum.Delivered != want || sum.Duplicates != 0 || sum.Missing != 0 {
		t.Errorf("expected %d delivered %d duplicates %d missing %d, want %d, %d, 0, 0 (errors %v)",
			sum.Expected, sum.Delivered, sum.Duplicates, sum.Missing, want, want, sum.Errors)
	}
	if !sum.OK || len(sum.Problems()) > 0 {
		t.Errorf("not OK: %v", sum.Problems())
	}
	if sum.Latency.P50 <= 0 || sum.Latency.Max < sum.Latency.P99 || sum.Latency.P99 < sum.Latency.P50 {
		t.Errorf("latency quantiles out of order: %+v", sum.Latency)
	}
}

func TestTopicBroadcastOverEveryHTTPTransport(t *testing.T) {
	srv := newServer(t)
	for _, tr := range []string{"ws", "sse", "longpoll", "poll", "iframe", "ws-goroutines", "sse-goroutines"} {
		t.Run(tr, func(t *testing.T) {
			transport, goroutines := strings.CutSuffix(tr, "-goroutines")
			cfg := config(srv.URL, transport, 50, 10)
			cfg.GoroutineReaders = goroutines
			cfg.Topic = "bench-" + tr
			cfg.Credentials = minted(t)
			sum := run(t, cfg)
			checkClean(t, sum, 50, 10)
			if sum.Published != 10 || sum.ConnectP99MS <= 0 || sum.ConnectTotalMS < sum.ConnectP99MS {
				t.Errorf("published %d connect p99 %v total %v", sum.Published, sum.ConnectP99MS, sum.ConnectTotalMS)
			}
		})
	}
}

func TestNotificationsToEachUser(t *testing.T) {
	srv := newServer(t)
	for _, tr := range []string{"ws", "sse", "longpoll"} {
		t.Run(tr, func(t *testing.T) {
			cfg := config(srv.URL, tr, 30, 5)
			cfg.Mode = bench.ModeNotify
			cfg.UsersPerRequest = 7 // several messages per event, sent as a batch
			cfg.Credentials = func(ctx context.Context, i int) (string, string, error) {
				return minted(t)(ctx, i+1000*len(tr)) // fresh users per transport
			}
			checkClean(t, run(t, cfg), 30, 5)
		})
	}
}

func TestBatchedPublishing(t *testing.T) {
	srv := newServer(t)
	cfg := config(srv.URL, "ws", 20, 100)
	cfg.Rate, cfg.Batch = 0, 25
	cfg.Credentials = minted(t)
	sum := run(t, cfg)
	checkClean(t, sum, 20, 100)
	if got := srv.publishes.Load(); got != 4 {
		t.Errorf("%d publish requests, want 4 batches of 25", got)
	}
}

func TestSubscribersResumeAfterDrops(t *testing.T) {
	for _, tr := range []string{"ws", "sse", "iframe", "longpoll", "ws-goroutines"} {
		t.Run(tr, func(t *testing.T) {
			srv := newServer(t)
			srv.cutAfter = 5
			transport, goroutines := strings.CutSuffix(tr, "-goroutines")
			cfg := config(srv.URL, transport, 20, 20)
			cfg.GoroutineReaders = goroutines
			cfg.Rate = 100
			cfg.Credentials = minted(t)
			sum := run(t, cfg)
			checkClean(t, sum, 20, 20)
			if sum.Reconnects < 20 {
				t.Errorf("%d reconnects, want every subscriber to have resumed", sum.Reconnects)
			}
		})
	}
}

func TestAnonymousAndSharedToken(t *testing.T) {
	srv := newServer(t)
	cfg := config(srv.URL, "sse", 5, 2)
	sum := run(t, cfg) // the server refuses anonymous subscribers
	var unauthorized int64
	for k, n := range sum.Errors {
		if strings.HasPrefix(k, "HTTP 401") {
			unauthorized += n
		}
	}
	if sum.Failed != 5 || sum.OK || unauthorized != 5 {
		t.Fatalf("failed %d ok %v errors %v, want 5 failures with HTTP 401", sum.Failed, sum.OK, sum.Errors)
	}
	tok, _ := auth.Mint([]byte(testSecret), auth.Claims{User: "shared", TTL: time.Hour}, time.Now())
	cfg.Credentials = func(context.Context, int) (string, string, error) { return "", tok, nil }
	checkClean(t, run(t, cfg), 5, 2)
}

func TestServerStatsFromProc(t *testing.T) {
	if _, err := bench.ReadProc(os.Getpid()); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	srv := newServer(t) // in this process, so the server's PID is ours
	cfg := config(srv.URL, "ws", 20, 5)
	cfg.Credentials = minted(t)
	cfg.ServerPID = os.Getpid()
	sum := run(t, cfg)
	checkClean(t, sum, 20, 5)
	s := sum.Server
	if s == nil || s.PID != os.Getpid() || s.RSSBeforeKiB <= 0 || s.RSSConnectedKiB <= 0 || s.RSSEndKiB <= 0 || s.Error != "" {
		t.Fatalf("server stats %+v", s)
	}
	if s.CPUPerDeliveryUS < 0 || s.CPUPublishS < 0 {
		t.Fatalf("negative CPU: %+v", s)
	}
}

func TestSourceAddressesRoundRobin(t *testing.T) {
	srv := newServer(t)
	cfg := config(srv.URL, "sse", 9, 1)
	cfg.SourceIPs = 3
	cfg.Credentials = minted(t)
	checkClean(t, run(t, cfg), 9, 1)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		if !srv.remotes[ip] {
			t.Errorf("no connection from %s; saw %v", ip, srv.remotes)
		}
	}
}

func TestRunStopsByItself(t *testing.T) {
	// A server that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := config("http://"+ln.Addr().String(), "ws", 5, 3)
	cfg.ConnectTimeout = 30 * time.Second
	cfg.Duration = 500 * time.Millisecond
	start := time.Now()
	sum := run(t, cfg)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("run took %v with a 500ms limit", el)
	}
	if !sum.TimedOut || sum.OK || sum.Connected != 0 {
		t.Fatalf("timed out %v ok %v connected %d", sum.TimedOut, sum.OK, sum.Connected)
	}
}
