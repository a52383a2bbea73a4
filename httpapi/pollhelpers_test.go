package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/engine"
	"github.com/reddot-dev/reddot/httpapi"
	"github.com/reddot-dev/reddot/internal/front"
	"github.com/reddot-dev/reddot/membus"
	"github.com/reddot-dev/reddot/sqlite"
)

// newEnvStore is newEnv on a store opened with so (e.g. a short retention).
func newEnvStore(t testing.TB, so sqlite.Options, opts ...envOpt) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/reddot.db", so)
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{Store: st, Bus: membus.New(), QueueSize: 256})
	ao := auth.Options{Secret: []byte(testSecret), APIKeys: []string{testKey}}
	ho := httpapi.Options{Engine: eng, AllowedOrigins: []string{"https://app.example"}, Heartbeat: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&ho, &ao)
	}
	a, err := auth.New(ao)
	if err != nil {
		t.Fatal(err)
	}
	ho.Auth = a
	srv := serve(t, httpapi.New(ho))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		_ = eng.Drain(context.Background())
		srv.Close()
		_ = st.Close()
	})
	return &env{t: t, srv: srv, eng: eng, store: st, secret: []byte(testSecret)}
}

// plainNetHTTP makes newEnv serve with net/http alone, as
// --direct-upgrade=false does; otherwise streams are taken by
// internal/front first, as by default. No test here runs in parallel.
var plainNetHTTP bool

func withPlainNetHTTP(t testing.TB) {
	plainNetHTTP = true
	t.Cleanup(func() { plainNetHTTP = false })
}

func serve(t testing.TB, h http.Handler) *httptest.Server {
	if plainNetHTTP {
		return httptest.NewServer(h)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.URL = "http://" + srv.Listener.Addr().String()
	f := &front.Front{Handler: h, Match: httpapi.Detaches, HeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { _ = f.Serve(srv.Listener, srv.Config); close(done) }()
	t.Cleanup(func() { <-done }) // runs after the env's cleanup closes srv
	return srv
}

func withHTTPOpts(f func(*httpapi.Options)) envOpt {
	return func(o *httpapi.Options, _ *auth.Options) { f(o) }
}

// pollAnswer is one decoded poll answer.
type pollAnswer struct {
	status int
	header http.Header
	body   []byte
	events []wireEvent
	cursor string
}

// pollGet sends GET path with header name/value pairs and decodes a poll body.
func (e *env) pollGet(path string, header ...string) pollAnswer {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	a := pollAnswer{status: resp.StatusCode, header: resp.Header}
	a.body, _ = io.ReadAll(resp.Body)
	decodePoll(e.t, &a)
	return a
}

// decodePoll fills events and cursor from a 200 poll body.
func decodePoll(t testing.TB, a *pollAnswer) {
	t.Helper()
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		return
	}
	var b struct {
		Events []wireEvent `json:"events"`
		Cursor *string     `json:"cursor"`
	}
	if json.Unmarshal(a.body, &b) == nil && b.Cursor != nil {
		a.events, a.cursor = b.Events, *b.Cursor
	}
}

// eventIDs lists the events' ids.
func eventIDs(evs []wireEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// pollUntil polls cond until it holds or timeout passes.
func pollUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitHeld waits until n requests of transport are held by the engine.
func (e *env) waitHeld(transport string, n int64) {
	e.t.Helper()
	pollUntil(e.t, wait, transport+" sessions", func() bool { return e.eng.Stats().Connections[transport] == n })
}

// frameMsg is one postMessage payload of an iframe stream: an event or a
// control message.
type frameMsg struct {
	wireEvent
	Control string `json:"control"`
	Code    string `json:"code"`
	Retry   *int64 `json:"retry"`
	line    string // the <script> line as sent
}

// frameClient reads an iframe forever frame.
type frameClient struct {
	resp   *http.Response
	head   string // everything before the first d(…) call
	msgs   chan frameMsg
	cancel context.CancelFunc
}

// openIframe opens /v1/iframe?query and returns once the open message arrived.
func (e *env) openIframe(query string) (*frameClient, frameMsg) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/iframe?"+query, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		e.t.Fatalf("iframe %s: %d %s", query, resp.StatusCode, b)
	}
	c := &frameClient{resp: resp, msgs: make(chan frameMsg, 5000), cancel: cancel}
	head := make(chan string, 1)
	go c.read(head)
	c.head = <-head
	e.t.Cleanup(c.close)
	open := c.next(e.t, wait)
	if open.Control != "open" {
		e.t.Fatalf("first message %q, want the open control", open.line)
	}
	return c, open
}

func (c *frameClient) read(head chan<- string) {
	defer close(c.msgs)
	br := bufio.NewReaderSize(c.resp.Body, 64<<10)
	var pre strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if head != nil {
				head <- pre.String()
			}
			return
		}
		js, ok := strings.CutPrefix(line, "<script>d(")
		if !ok {
			if head != nil {
				pre.WriteString(line)
				continue
			}
			c.msgs <- frameMsg{Control: "malformed", line: line}
			continue
		}
		if head != nil {
			head <- pre.String()
			head = nil
		}
		m := frameMsg{line: line}
		js, ok = strings.CutSuffix(js, ")</script>\n")
		if !ok || json.Unmarshal([]byte(js), &m) != nil {
			m.Control = "malformed"
		}
		c.msgs <- m
	}
}

// next returns the next message, heartbeats included.
func (c *frameClient) next(t testing.TB, timeout time.Duration) frameMsg {
	t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			t.Fatal("iframe stream ended")
		}
		if m.Control == "malformed" {
			t.Fatalf("malformed frame line %q", m.line)
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no iframe message within %v", timeout)
	}
	return frameMsg{}
}

// event returns the next event, skipping heartbeats; a close fails.
func (c *frameClient) event(t testing.TB, timeout time.Duration) frameMsg {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := c.next(t, time.Until(deadline))
		switch m.Control {
		case "heartbeat":
		case "":
			return m
		default:
			t.Fatalf("want an event, got control %q", m.line)
		}
	}
}

func (c *frameClient) close() { c.cancel(); c.resp.Body.Close() }
