package httpapi_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reddot-dev/reddot/httpapi"
)

// Both ways of writing streams: batched through io_uring (where the kernel
// allows it) and one write per connection.
var writeModes = []struct {
	name string
	off  bool
}{{"io_uring", false}, {"write", true}}

// A client that stops reading while megabytes are published gets all of
// it, in order and intact, once it reads again: a send that finds the
// socket full hands the rest to the connection's own writer.
func TestStalledReaderGetsEverythingIntact(t *testing.T) {
	for _, m := range writeModes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, withHTTPOpts(func(o *httpapi.Options) { o.NoIOUring = m.off; o.PingTimeout = time.Minute }))
			resp, err := http.Get(e.srv.URL + "/v1/sse?topics=big&token=" + e.token("1", "*"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("sse: %d", resp.StatusCode)
			}
			defer resp.Body.Close()

			const events, size = 200, 32 << 10 // 6.4 MB: more than the socket buffers hold
			pad := strings.Repeat("x", size)
			for i := range events {
				e.publish(fmt.Sprintf(`{"topic":"big","data":{"n":%d,"pad":%q}}`, i, pad))
			}

			c := &sseClient{events: make(chan wireEvent, 16), resp: resp, cancel: func() {}}
			ready := make(chan struct{})
			go c.read(ready)
			<-ready
			for i := range events {
				ev := next(t, c.events, 20*time.Second)
				want := fmt.Sprintf(`{"n":%d,"pad":%q}`, i, pad)
				if ev.Seq != uint64(i+1) || string(ev.Data) != want {
					t.Fatalf("event %d: seq %d, %d data bytes (%.40s…)", i, ev.Seq, len(ev.Data), ev.Data)
				}
			}
		})
	}
}

// Connections that go away while broadcasts are being written are cleaned
// up, and the server keeps serving the rest.
func TestClientsLeavingDuringBroadcasts(t *testing.T) {
	for _, m := range writeModes {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, withHTTPOpts(func(o *httpapi.Options) { o.NoIOUring = m.off }))
			q := "topics=churn&token=" + e.token("1", "*")
			stay := e.sse(q)
			e.publish(`{"topic":"warm-up"}`) // the publisher's keep-alive connection exists from here on
			base := runtime.NumGoroutine()
			const n = 40
			clients := make([]*sseClient, n)
			for i := range clients {
				clients[i] = e.sse(q)
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, c := range clients {
					c.close()
				}
			}()
			const events = 60
			for i := range events {
				e.publish(fmt.Sprintf(`{"topic":"churn","data":{"n":%d}}`, i))
			}
			wg.Wait()
			for i := range events {
				if ev := next(t, stay.events, 10*time.Second); ev.Seq != uint64(i+1) {
					t.Fatalf("the remaining client got seq %d, want %d", ev.Seq, i+1)
				}
			}
			pollUntil(t, 10*time.Second, "the departed clients' goroutines to end", func() bool {
				return runtime.NumGoroutine() <= base+2 // the heartbeat wheel, a batcher pass
			})
		})
	}
}
