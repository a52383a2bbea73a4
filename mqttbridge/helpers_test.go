package mqttbridge_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/engine"
	"github.com/reddot-dev/reddot/httpapi"
	"github.com/reddot-dev/reddot/membus"
	"github.com/reddot-dev/reddot/mqttbridge"
	"github.com/reddot-dev/reddot/sqlite"
)

const (
	testSecret = "test-secret-0123456789"
	testKey    = "test-api-key-0123456789"
	wait       = 10 * time.Second
)

// stack is the whole server in-process: SQLite in dir, the in-memory bus,
// the engine, the HTTP API with /mqtt, and the broker on a loopback port.
type stack struct {
	t      testing.TB
	dir    string
	store  *sqlite.Store
	eng    *engine.Engine
	broker *mqttbridge.Broker
	srv    *httptest.Server
	tcp    string // host:port of the MQTT TCP listener
	closed bool
}

// newStack starts the stack on the data in dir; a second stack on the same
// dir after close() is a restart.
func newStack(t testing.TB, dir string, opts ...func(*mqttbridge.Options)) *stack {
	t.Helper()
	ctx := context.Background()
	log := testLogger(t)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "reddot.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{Store: st, Bus: membus.New(), Logger: log})
	a, err := auth.New(auth.Options{Secret: []byte(testSecret), APIKeys: []string{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, dir: dir, store: st, eng: eng}
	o := mqttbridge.Options{Engine: eng, Auth: a, Logger: log, SessionsPath: filepath.Join(dir, "mqtt-sessions.db")}
	for _, f := range opts {
		f(&o)
	}
	if s.broker, err = mqttbridge.New(ctx, o); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.tcp = ln.Addr().String()
	if err := s.broker.Listen("tcp", ln); err != nil {
		t.Fatal(err)
	}
	if err := s.broker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(httpapi.New(httpapi.Options{
		Engine: eng, Auth: a, Logger: log, Heartbeat: time.Second,
		Mount: func(mux *http.ServeMux) { mux.Handle("GET /mqtt", s.broker) },
	}))
	t.Cleanup(s.close)
	return s
}

// testLogger discards logs unless REDDOT_TEST_LOG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("REDDOT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// close stops the stack like a SIGTERM does: drain, broker, HTTP, store.
func (s *stack) close() {
	if s.closed {
		return
	}
	s.closed = true
	_ = s.eng.Drain(context.Background())
	if err := s.broker.Close(); err != nil {
		s.t.Errorf("broker close: %v", err)
	}
	s.srv.CloseClientConnections()
	s.srv.Close()
	_ = s.store.Close()
}

func (s *stack) token(user string, grants ...string) string {
	s.t.Helper()
	var topics, publish []string
	for _, g := range grants {
		if p, ok := strings.CutPrefix(g, "publish:"); ok {
			publish = append(publish, p)
		} else {
			topics = append(topics, g)
		}
	}
	tok, err := auth.Mint([]byte(testSecret), auth.Claims{User: user, Topics: topics, Publish: publish, TTL: time.Hour}, time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// do sends an HTTP request and returns status and body.
func (s *stack) do(method, path, bearer, body string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// publish publishes over HTTP with the API key.
func (s *stack) publish(body string) {
	s.t.Helper()
	if st, b := s.do("POST", "/v1/publish", testKey, body); st != 200 {
		s.t.Fatalf("publish %s: %d %s", body, st, b)
	}
}

// event is an event as a client decodes it.
type event struct {
	ID     string          `json:"id"`
	Topic  string          `json:"topic"`
	Seq    uint64          `json:"seq"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
	Time   string          `json:"time"`
	Cursor string          `json:"cursor"`

	mqttTopic string
}

// client is a paho MQTT 3.1.1 client whose messages go to a channel.
type client struct {
	c    paho.Client
	msgs chan event
	lost chan error
}

type dialOpts struct {
	transport string // "tcp" or "ws"
	id        string
	password  string
	clean     bool
}

func (s *stack) url(transport string) string {
	if transport == "ws" {
		return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/mqtt"
	}
	return "tcp://" + s.tcp
}

// connect dials and returns the client and the CONNECT token's outcome.
func (s *stack) connect(o dialOpts) (*client, paho.Token) {
	s.t.Helper()
	c := &client{msgs: make(chan event, 1000), lost: make(chan error, 1)}
	opts := paho.NewClientOptions().AddBroker(s.url(o.transport)).
		SetClientID(o.id).SetUsername("ignored").SetPassword(o.password).
		SetCleanSession(o.clean).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(wait).SetKeepAlive(30 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			var ev event
			if err := json.Unmarshal(m.Payload(), &ev); err != nil {
				ev.Event = "malformed:" + string(m.Payload())
			}
			ev.mqttTopic = m.Topic()
			c.msgs <- ev
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case c.lost <- err:
			default:
			}
		})
	c.c = paho.NewClient(opts)
	tok := c.c.Connect()
	if !tok.WaitTimeout(wait) {
		s.t.Fatal("connect timed out")
	}
	return c, tok
}

// dial connects and fails the test on error.
func (s *stack) dial(o dialOpts) *client {
	s.t.Helper()
	c, tok := s.connect(o)
	if err := tok.Error(); err != nil {
		s.t.Fatalf("connect %s: %v", o.id, err)
	}
	s.t.Cleanup(func() { c.c.Disconnect(0) })
	return c
}

// subscribe subscribes to filters at qos and returns the SUBACK codes.
func (c *client) subscribe(t testing.TB, qos byte, filters ...string) map[string]byte {
	t.Helper()
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = qos
	}
	tok := c.c.SubscribeMultiple(m, nil)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %v: %v", filters, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()
}

func (c *client) mustSubscribe(t testing.TB, qos byte, filters ...string) {
	t.Helper()
	for f, code := range c.subscribe(t, qos, filters...) {
		if code > 2 {
			t.Fatalf("subscribe %s refused: 0x%02x", f, code)
		}
	}
}

func (c *client) publish(t testing.TB, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// next returns the next message, failing after the timeout.
func next(t testing.TB, ch <-chan event) event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(wait):
		t.Fatal("no message within", wait)
	}
	return event{}
}

// sse reads /v1/sse into a channel.
func (s *stack) sse(query, token string) <-chan event {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.srv.URL+"/v1/sse?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		s.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		cancel()
		s.t.Fatalf("sse %s: %d", query, resp.StatusCode)
	}
	out := make(chan event, 1000)
	ready := make(chan struct{})
	go func() {
		br := bufio.NewReader(resp.Body)
		var data bytes.Buffer
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, ": connected"):
				close(ready)
			case strings.HasPrefix(line, "data: "):
				data.WriteString(line[6:])
			case line == "" && data.Len() > 0:
				var ev event
				_ = json.Unmarshal(data.Bytes(), &ev)
				out <- ev
				data.Reset()
			}
		}
	}()
	<-ready
	s.t.Cleanup(func() { cancel(); resp.Body.Close() })
	return out
}

var _ = reddot.EventMessage
