package redisbus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/bustest"
	"github.com/reddot-dev/reddot/redisbus"
)

const env = "REDDOT_TEST_REDIS"

func TestBus(t *testing.T) {
	base := bustest.Service(t, env, "Redis")
	bustest.Run(t, bustest.Harness{
		Addr: bustest.Host(t, base),
		New: func(tb testing.TB, ns string, o bustest.Options) reddot.Bus {
			tb.Helper()
			url := bustest.WithHost(tb, base, o.Via, "channel", "reddot-test:"+ns)
			b, err := redisbus.Open(context.Background(), url, redisbus.Options{OnReconnect: o.OnReconnect, PingEvery: 500 * time.Millisecond, Logger: bustest.Logger(tb)})
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
		{"redis://:secret@127.0.0.1:1/0", "cannot reach redis://:xxxxx@127.0.0.1:1/0"},
		{"redis://127.0.0.1:1/notadb", "bad URL"},
		{"http://127.0.0.1:6379", "bad URL"},
	} {
		start := time.Now()
		b, err := redisbus.Open(context.Background(), c.url, redisbus.Options{})
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

// TestOversizeEvent: an event too large for one message is not sent, and
// every node is asked to catch up from the store instead.
func TestOversizeEvent(t *testing.T) {
	base := bustest.Service(t, env, "Redis")
	url := bustest.WithHost(t, base, "", "channel", "reddot-test:"+bustest.Namespace())
	open := func(o redisbus.Options) *redisbus.Bus {
		o.Logger = bustest.Logger(t)
		b, err := redisbus.Open(context.Background(), url, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a := open(redisbus.Options{MaxMessageBytes: 1000})
	resyncs := bustest.NewCounter()
	b := open(redisbus.Options{OnReconnect: resyncs.Inc})
	b.Subscribe(func(*reddot.Event) {})
	big := bustest.Samples()[3] // 60 KiB of data
	if err := a.Publish(context.Background(), []*reddot.Event{big}); err != nil {
		t.Fatal(err)
	}
	if !resyncs.WaitAbove(0, 10*time.Second) {
		t.Error("the other node was not asked to resync")
	}
}
