package engine_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
	"github.com/reddot-dev/reddot/membus"
)

// BenchmarkDeliver1000 measures one event fanned out to 1,000 local
// sessions and drained by them: hub, queues, dedup and cursor encoding.
func BenchmarkDeliver1000(b *testing.B) {
	bus := membus.New()
	e, _ := newEngine(b, bus, 4096)
	const subs = 1000
	sessions := make([]*engine.Session, subs)
	for i := range sessions {
		s, err := e.Subscribe(context.Background(), &reddot.Principal{User: "u"}, engine.SubscribeRequest{Topics: []string{"news"}})
		if err != nil {
			b.Fatal(err)
		}
		sessions[i] = s
	}
	ctx := context.Background()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := &reddot.Event{ID: "01J", Topic: "news", Seq: uint64(i + 1), Event: "message", Data: json.RawMessage(`{"n":1}`), Time: time.Now()}
		_ = bus.Publish(ctx, []*reddot.Event{ev})
		for _, s := range sessions {
			outs, err := s.TryNext(ctx)
			if err != nil || len(outs) != 1 {
				b.Fatalf("got %d outs, err %v", len(outs), err)
			}
			buf = outs[0].AppendJSON(buf[:0])
		}
	}
	b.ReportMetric(float64(b.N)*subs/b.Elapsed().Seconds(), "deliveries/s")
}
