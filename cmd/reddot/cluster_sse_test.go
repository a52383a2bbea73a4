package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clusterEvent is one event as an SSE client received it.
type clusterEvent struct {
	ID     string          `json:"id"`
	Topic  string          `json:"topic"`
	Seq    uint64          `json:"seq"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
	Cursor string          `json:"cursor"`
	At     time.Time       `json:"-"` // when it arrived
}

// sseClient is a subscriber that, like a browser's EventSource, can resume
// on another node with the last id it received (Last-Event-ID).
type sseClient struct {
	name  string
	query string // path and query, token included

	mu      sync.Mutex
	events  []clusterEvent
	lastID  string
	ended   chan struct{} // closed when the current stream ends
	changed chan struct{}
	cancel  context.CancelFunc
}

// subscribe opens an SSE stream on n and returns once it is connected.
func subscribe(tb testing.TB, n *clusterNode, name, query string) *sseClient {
	tb.Helper()
	c := &sseClient{name: name, query: query, changed: make(chan struct{}, 1)}
	c.connect(tb, n)
	tb.Cleanup(func() {
		c.mu.Lock()
		cancel := c.cancel
		c.mu.Unlock()
		cancel()
	})
	return c
}

// connect opens the stream on n, resuming after the last id received.
func (c *sseClient) connect(tb testing.TB, n *clusterNode) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", n.URL+c.query, nil)
	if err != nil {
		tb.Fatal(err)
	}
	c.mu.Lock()
	if c.lastID != "" {
		req.Header.Set("Last-Event-ID", c.lastID)
	}
	c.mu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatalf("%s: connect to %s: %v", c.name, n.name, err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		cancel()
		tb.Fatalf("%s: %s answered %d", c.name, n.name, resp.StatusCode)
	}
	ended := make(chan struct{})
	c.mu.Lock()
	c.cancel, c.ended = cancel, ended
	c.mu.Unlock()
	connected := make(chan struct{})
	go func() {
		defer close(ended)
		defer resp.Body.Close()
		c.read(resp, connected)
	}()
	select {
	case <-connected:
	case <-ended:
		tb.Fatalf("%s: stream on %s ended before it was connected", c.name, n.name)
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s: stream on %s did not connect", c.name, n.name)
	}
}

func (c *sseClient) read(resp *http.Response, connected chan struct{}) {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var id, data string
	once := sync.Once{}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ": connected"):
			once.Do(func() { close(connected) })
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "data: "):
			data = line[6:]
		case line == "":
			// Like EventSource: an id counts even on a block without data
			// (the server's preamble carries the starting cursor).
			var ev clusterEvent
			ok := data != "" && json.Unmarshal([]byte(data), &ev) == nil
			c.mu.Lock()
			if id != "" {
				c.lastID = id
			}
			if ok {
				ev.At = time.Now()
				c.events = append(c.events, ev)
			}
			c.mu.Unlock()
			if ok {
				select {
				case c.changed <- struct{}{}:
				default:
				}
			}
			id, data = "", ""
		}
	}
}

// Ended is closed when the current stream ends.
func (c *sseClient) Ended() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// Events returns the events received so far, on every connection.
func (c *sseClient) Events() []clusterEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]clusterEvent(nil), c.events...)
}

// waitFor waits until cond holds for the events received.
func (c *sseClient) waitFor(tb testing.TB, what string, timeout time.Duration, cond func([]clusterEvent) bool) []clusterEvent {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		evs := c.Events()
		if cond(evs) {
			return evs
		}
		select {
		case <-c.changed:
		case <-deadline.C:
			tb.Fatalf("%s: %s: not within %v (%d events received)", c.name, what, timeout, len(evs))
		}
	}
}

// of returns the events of topic named name ("" for any name).
func of(evs []clusterEvent, topic, name string) []clusterEvent {
	var out []clusterEvent
	for _, e := range evs {
		if e.Topic == topic && (name == "" || e.Event == name) {
			out = append(out, e)
		}
	}
	return out
}

// haveSeqs waits until the client has n events of topic.
func (c *sseClient) haveSeqs(tb testing.TB, topic string, n int, timeout time.Duration) []clusterEvent {
	tb.Helper()
	evs := c.waitFor(tb, fmt.Sprintf("%d events of %s", n, topic), timeout, func(evs []clusterEvent) bool {
		return len(of(evs, topic, "")) >= n
	})
	return of(evs, topic, "")
}

// exactlyOnce fails tb unless evs are seqs 1..n, each once, in order.
func exactlyOnce(tb testing.TB, who string, evs []clusterEvent, n int) {
	tb.Helper()
	if len(evs) != n {
		tb.Errorf("%s: %d events, want %d", who, len(evs), n)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			tb.Errorf("%s: event %d has seq %d: lost, repeated or out of order", who, i+1, e.Seq)
			return
		}
	}
}

func sseQuery(tb testing.TB, user, topics string) string {
	tb.Helper()
	q := "/v1/sse?token=" + clusterToken(tb, user)
	if topics != "" {
		q += "&topics=" + topics
	}
	return q
}
