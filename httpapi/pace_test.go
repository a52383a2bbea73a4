package httpapi_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/reddot-dev/reddot/httpapi"
)

// chunk is one read from a raw connection and when it returned.
type chunk struct {
	at time.Time
	b  []byte
}

// With a write delay, an event waits that long before it is written, and
// the events published meanwhile leave in the same write: the client reads
// both at once, in order.
func TestWriteDelayGroupsEvents(t *testing.T) {
	const delay = time.Second // long enough that two publishes fit in it anywhere
	for _, m := range writeModes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, withHTTPOpts(func(o *httpapi.Options) {
				o.NoIOUring, o.WriteDelay, o.Heartbeat = m.off, delay, time.Minute
			}))
			c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("GET /v1/sse?topics=paced&token=" + e.token("1", "*") + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			chunks := make(chan chunk, 16)
			go func() {
				defer close(chunks)
				for {
					b := make([]byte, 64<<10)
					n, err := c.Read(b)
					if n > 0 {
						chunks <- chunk{time.Now(), b[:n]}
					}
					if err != nil {
						return
					}
				}
			}()
			var seen []byte
			for !bytes.Contains(seen, []byte(": connected\n\n")) { // the head and preamble are not held
				seen = append(seen, next(t, chunks, 10*time.Second).b...)
			}
			// A warm-up event ends any window opened while connecting, so
			// the next publish opens a fresh one.
			warm := e.publish(`{"topic":"paced","data":{"n":0}}`)[0]
			for !bytes.Contains(seen, []byte(`"id":"`+warm+`"`)) {
				seen = append(seen, next(t, chunks, 10*time.Second).b...)
			}

			start := time.Now()
			first := e.publish(`{"topic":"paced","data":{"n":1}}`)[0]
			second := e.publish(`{"topic":"paced","data":{"n":2}}`)[0]
			published := time.Since(start)
			got := next(t, chunks, 10*time.Second)
			if held := got.at.Sub(start); held < delay {
				t.Fatalf("the first event was written %v after publishing, want at least the %v delay", held, delay)
			}
			i, j := bytes.Index(got.b, []byte(`"id":"`+first+`"`)), bytes.Index(got.b, []byte(`"id":"`+second+`"`))
			if published >= delay {
				t.Fatalf("the two publishes took %v, longer than the %v window, so they cannot share a write", published, delay)
			}
			if i < 0 || j < i {
				t.Fatalf("both events were published within %v, want them in one write in order; first read:\n%s", published, got.b)
			}
		})
	}
}

// The WebSocket transport is held the same way.
func TestWriteDelayHoldsWebSocketEvents(t *testing.T) {
	const delay = 300 * time.Millisecond
	e := newEnv(t, withHTTPOpts(func(o *httpapi.Options) { o.WriteDelay, o.Heartbeat = delay, time.Minute }))
	w := e.ws("topics=paced&token=" + e.token("1", "*"))
	warm := e.publish(`{"topic":"paced"}`)[0] // ends any window opened while connecting
	if ev := next(t, w.events, 5*time.Second); ev.ID != warm {
		t.Fatalf("got %s, want the warm-up %s", ev.ID, warm)
	}
	start := time.Now()
	id := e.publish(`{"topic":"paced"}`)[0]
	ev := next(t, w.events, 5*time.Second)
	if held := time.Since(start); ev.ID != id || held < delay {
		t.Fatalf("got %s after %v, want %s after at least %v", ev.ID, held, id, delay)
	}
}
