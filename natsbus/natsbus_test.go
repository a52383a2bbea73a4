package natsbus_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/bustest"
	"github.com/reddot-dev/reddot/natsbus"
)

const env = "REDDOT_TEST_NATS"

func TestBus(t *testing.T) {
	base := bustest.Service(t, env, "NATS")
	bustest.Run(t, bustest.Harness{
		Addr: bustest.Host(t, base),
		New: func(tb testing.TB, ns string, o bustest.Options) reddot.Bus {
			tb.Helper()
			url := bustest.WithHost(tb, base, o.Via, "subject", "reddot-test."+ns)
			b, err := natsbus.Open(context.Background(), url, natsbus.Options{
				OnReconnect: o.OnReconnect, PingEvery: 500 * time.Millisecond, Logger: bustest.Logger(tb)})
			if err != nil {
				tb.Fatalf("Open: %v", err)
			}
			tb.Cleanup(func() { _ = b.Close() })
			return b
		},
	})
}

func TestOpenErrors(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"nats://u:secret@127.0.0.1:1", "cannot reach nats://u:xxxxx@127.0.0.1:1"},
		{"nats://%zz", "bad URL"},
	} {
		start := time.Now()
		b, err := natsbus.Open(context.Background(), c.url, natsbus.Options{})
		if err == nil {
			_ = b.Close()
			t.Errorf("Open(%s) succeeded", c.url)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "secret") || strings.Contains(msg, "\n") {
			t.Errorf("Open(%s) = %q; want one line with %q and no password", c.url, msg, c.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Open(%s) took %v", c.url, d)
		}
	}
}

// TestOversizeEvent: an event larger than the server's max_payload is not
// sent, and every node is asked to catch up from the store instead.
func TestOversizeEvent(t *testing.T) {
	base := bustest.Service(t, env, "NATS")
	url := bustest.WithHost(t, base, "", "subject", "reddot-test."+bustest.Namespace())
	open := func(o natsbus.Options) *natsbus.Bus {
		o.Logger = bustest.Logger(t)
		b, err := natsbus.Open(context.Background(), url, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a := open(natsbus.Options{})
	resyncs := bustest.NewCounter()
	b := open(natsbus.Options{OnReconnect: resyncs.Inc})
	b.Subscribe(func(*reddot.Event) {})
	big := bustest.Samples()[3]
	big.Data = json.RawMessage(`"` + strings.Repeat("x", 2<<20) + `"`) // over the 1 MiB default
	if err := a.Publish(context.Background(), []*reddot.Event{big}); err != nil {
		t.Fatal(err)
	}
	if !resyncs.WaitAbove(0, 10*time.Second) {
		t.Error("the other node was not asked to resync")
	}
}
