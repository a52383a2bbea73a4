package mqttbridge_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/reddot-dev/reddot"
)

// benchSub is a lightweight MQTT 3.1.1 subscriber for measurements: it
// counts PUBLISH packets and acknowledges QoS 1 ones, nothing more.
type benchSub struct {
	c    net.Conn
	got  atomic.Int64
	done chan struct{}
}

func dialBenchSub(tb testing.TB, addr, token, id, filter string, qos byte, read bool) *benchSub {
	tb.Helper()
	r := dialRaw(tb, addr, 4)
	if ack := r.connect(id, token, true, 0); ack.ReasonCode != 0 {
		tb.Fatalf("CONNACK 0x%02x", ack.ReasonCode)
	}
	if codes := r.subscribe(1, qos, filter); codes[0] > 2 {
		tb.Fatalf("SUBACK 0x%02x", codes[0])
	}
	s := &benchSub{c: r.c, done: make(chan struct{})}
	if read {
		go s.read(r.br)
	}
	return s
}

func (s *benchSub) read(br *bufio.Reader) {
	defer close(s.done)
	ack := []byte{0x40, 2, 0, 0}
	for {
		hb, err := br.ReadByte()
		if err != nil {
			return
		}
		n, _, err := packets.DecodeLength(br)
		if err != nil {
			return
		}
		body, err := br.Peek(n)
		if err != nil && n > 0 {
			return
		}
		if hb>>4 == packets.Publish {
			if qos := (hb >> 1) & 3; qos > 0 {
				tl := int(body[0])<<8 | int(body[1])
				ack[2], ack[3] = body[2+tl], body[3+tl]
				if _, err := s.c.Write(ack); err != nil {
					return
				}
			}
			s.got.Add(1)
		}
		if _, err := br.Discard(n); err != nil {
			return
		}
	}
}

// BenchmarkFanout1000 measures MQTT deliveries per second from the store
// to 1,000 subscribers of one topic over loopback TCP: each op publishes
// one event (in batches of 10 per engine.Publish) and waits until every
// subscriber has it.
//
//	go test -run '^$' -bench Fanout1000 -benchtime 200x ./mqttbridge/
func BenchmarkFanout1000(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			const n = 1000
			s := newStack(b, b.TempDir())
			tok := s.token("bench")
			subs := make([]*benchSub, n)
			for i := range subs {
				subs[i] = dialBenchSub(b, s.tcp, tok, fmt.Sprint("sub", i), "reddot/topics/bench", qos, true)
			}
			data := json.RawMessage(`{"price":101.25,"symbol":"RDOT"}`)
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for sent := 0; sent < b.N; {
				batch := min(10, b.N-sent)
				msgs := make([]reddot.Message, batch)
				for i := range msgs {
					msgs[i] = reddot.Message{Topic: "bench", Event: "tick", Data: data}
				}
				if _, err := s.eng.Publish(ctx, msgs); err != nil {
					b.Fatal(err)
				}
				sent += batch
			}
			deadline := time.Now().Add(2 * time.Minute)
			for _, sub := range subs {
				for sub.got.Load() < int64(b.N) {
					if time.Now().After(deadline) {
						b.Fatalf("a subscriber got %d of %d", sub.got.Load(), b.N)
					}
					time.Sleep(time.Millisecond)
				}
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/el.Seconds(), "deliveries/s")
			for _, sub := range subs {
				sub.c.Close()
			}
		})
	}
}

// BenchmarkIdleConnection measures the memory of an idle MQTT connection
// (authenticated, one QoS 1 subscription, nothing flowing): Go heap and
// goroutine stacks of the whole process, divided by the connections. The
// clients live in the same process but have no goroutine of their own.
//
//	go test -run '^$' -bench IdleConnection -benchtime 1x ./mqttbridge/
func BenchmarkIdleConnection(b *testing.B) {
	const n = 2000
	s := newStack(b, b.TempDir())
	tok := s.token("idle")
	// One warm-up connection so that lazily built state is not counted.
	dialBenchSub(b, s.tcp, tok, "warm", "reddot/topics/idle", 1, false)
	before := memInUse()
	subs := make([]*benchSub, n)
	for i := range subs {
		subs[i] = dialBenchSub(b, s.tcp, tok, fmt.Sprint("idle", i), "reddot/topics/idle", 1, false)
	}
	// The last subscription is live once an event reaches it.
	if _, err := s.eng.Publish(context.Background(), []reddot.Message{{Topic: "idle", Data: json.RawMessage(`1`)}}); err != nil {
		b.Fatal(err)
	}
	last := subs[n-1]
	buf := make([]byte, 512)
	_ = last.c.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.ReadAtLeast(last.c, buf, 2); err != nil || !bytes.Contains(buf, []byte(`"topic":"idle"`)) {
		b.Fatalf("no event: %v", err)
	}
	after := memInUse()
	b.ReportMetric(float64(after-before)/n, "bytes/conn")
	if testing.Verbose() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		b.Logf("heap in use %d MB, stacks %d MB", m.HeapInuse>>20, m.StackInuse>>20)
	}
	b.ReportMetric(float64(runtime.NumGoroutine())/n, "goroutines/conn")
	var wg sync.WaitGroup
	for _, sub := range subs {
		wg.Add(1)
		go func() { defer wg.Done(); sub.c.Close() }()
	}
	wg.Wait()
}

func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
