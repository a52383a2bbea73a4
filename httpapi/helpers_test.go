package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/engine"
	"github.com/reddot-dev/reddot/httpapi"
	"github.com/reddot-dev/reddot/sqlite"
)

const (
	testSecret = "test-secret-0123456789"
	testKey    = "test-api-key-0123456789"
)

type env struct {
	t      testing.TB
	srv    *httptest.Server
	eng    *engine.Engine
	store  *sqlite.Store
	secret []byte
}

type authOptions = auth.Options

type envOpt func(*httpapi.Options, *auth.Options)

// newEnv runs the whole HTTP stack on a fresh SQLite store.
func newEnv(t testing.TB, opts ...envOpt) *env {
	t.Helper()
	return newEnvStore(t, sqlite.Options{}, opts...)
}

func (e *env) token(user string, grants ...string) string {
	e.t.Helper()
	var topics, publish []string
	for _, g := range grants {
		if p, ok := strings.CutPrefix(g, "publish:"); ok {
			publish = append(publish, p)
		} else {
			topics = append(topics, g)
		}
	}
	tok, err := auth.Mint(e.secret, auth.Claims{User: user, Topics: topics, Publish: publish, TTL: time.Hour}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// do sends a request and returns status and body.
func (e *env) do(method, path, bearer string, body string) (int, []byte, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (e *env) publish(body string) []string {
	e.t.Helper()
	st, b, _ := e.do("POST", "/v1/publish", testKey, body)
	if st != 200 {
		e.t.Fatalf("publish %s: %d %s", body, st, b)
	}
	var r struct{ IDs []string }
	if err := json.Unmarshal(b, &r); err != nil {
		e.t.Fatal(err)
	}
	return r.IDs
}

// wireEvent is an event as a client decodes it.
type wireEvent struct {
	ID     string          `json:"id"`
	Topic  string          `json:"topic"`
	Seq    uint64          `json:"seq"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
	Time   string          `json:"time"`
	Cursor string          `json:"cursor"`
	Op     string          `json:"op,omitempty"`
}

func (w wireEvent) unreadTotal(t testing.TB) int64 {
	t.Helper()
	var d struct {
		Total  *int64 `json:"total"`
		Unread *struct {
			Total int64 `json:"total"`
		} `json:"unread"`
	}
	if err := json.Unmarshal(w.Data, &d); err != nil {
		t.Fatalf("data %s: %v", w.Data, err)
	}
	if d.Unread != nil {
		return d.Unread.Total
	}
	if d.Total != nil {
		return *d.Total
	}
	t.Fatalf("event has no unread counts: %s", w.Data)
	return 0
}

// sseClient reads an SSE stream into a channel.
type sseClient struct {
	events chan wireEvent
	ids    chan string
	resp   *http.Response
	cancel context.CancelFunc
}

func (e *env) sse(query string, header ...string) *sseClient {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/v1/sse?"+query, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		e.t.Fatalf("sse %s: %d %s", query, resp.StatusCode, b)
	}
	c := &sseClient{events: make(chan wireEvent, 1000), resp: resp, cancel: cancel}
	ready := make(chan struct{})
	go c.read(ready)
	<-ready
	e.t.Cleanup(c.close)
	return c
}

func (c *sseClient) read(ready chan struct{}) {
	defer close(c.events)
	br := bufio.NewReader(c.resp.Body)
	var id, name string
	var data bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if data.Len() > 0 {
				var ev wireEvent
				if json.Unmarshal(data.Bytes(), &ev) == nil && ev.Cursor == id && ev.Event == name {
					c.events <- ev
				} else {
					c.events <- wireEvent{Event: "malformed:" + data.String()}
				}
			}
			id, name = "", ""
			data.Reset()
		case strings.HasPrefix(line, ": connected"):
			close(ready)
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			name = line[7:]
		case strings.HasPrefix(line, "data: "):
			data.WriteString(line[6:])
		}
	}
}

func (c *sseClient) close() { c.cancel(); c.resp.Body.Close() }

// next returns the next value (an event, a read), failing after timeout.
func next[T any](t testing.TB, ch <-chan T, timeout time.Duration) T {
	t.Helper()
	var v T
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		v = got
	case <-time.After(timeout):
		t.Fatalf("nothing within %v", timeout)
	}
	return v
}

// nextOf skips events whose name is not one of names.
func nextOf(t testing.TB, ch <-chan wireEvent, timeout time.Duration, names ...string) wireEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev := next(t, ch, time.Until(deadline))
		for _, n := range names {
			if ev.Event == n {
				return ev
			}
		}
	}
}

// wsClient wraps a WebSocket connection; events and answers go to separate channels.
type wsClient struct {
	c       *websocket.Conn
	events  chan wireEvent
	answers chan map[string]any
}

func (e *env) ws(query string) *wsClient {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/ws?" + query
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		e.t.Fatalf("dial %s: %v", u, err)
	}
	w := &wsClient{c: c, events: make(chan wireEvent, 1000), answers: make(chan map[string]any, 100)}
	go w.read()
	e.t.Cleanup(func() { c.CloseNow() })
	// a ping round trip proves the session is registered
	w.send(e.t, `{"op":"ping","ref":"ready"}`)
	if a := w.answer(e.t); a["op"] != "pong" {
		e.t.Fatalf("want pong, got %v", a)
	}
	return w
}

func (w *wsClient) read() {
	defer close(w.events)
	for {
		_, b, err := w.c.Read(context.Background())
		if err != nil {
			return
		}
		var probe struct{ Op string }
		_ = json.Unmarshal(b, &probe)
		if probe.Op == "event" {
			var ev wireEvent
			_ = json.Unmarshal(b, &ev)
			w.events <- ev
			continue
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		w.answers <- m
	}
}

func (w *wsClient) send(t testing.TB, frame string) {
	t.Helper()
	if err := w.c.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

func (w *wsClient) answer(t testing.TB) map[string]any {
	t.Helper()
	select {
	case a := <-w.answers:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
	return nil
}

func newReq(method, url, bearer string) (*http.Request, error) {
	r, err := http.NewRequest(method, url, nil)
	if err == nil && bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	return r, err
}

func mustStatus(t testing.TB, r *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
