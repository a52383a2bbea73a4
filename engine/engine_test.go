package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
	"github.com/reddot-dev/reddot/membus"
	"github.com/reddot-dev/reddot/sqlite"
)

// lossyBus drops or repeats events on request, like a real bus on a bad day.
type lossyBus struct {
	mu      sync.Mutex
	inner   *membus.Bus
	drop    func(*reddot.Event) bool
	repeats int
	remote  bool // behave like a network bus: the engine delivers locally itself
}

func (b *lossyBus) Local() bool { return !b.remote }

func (b *lossyBus) Subscribe(h func(*reddot.Event)) { b.inner.Subscribe(h) }
func (b *lossyBus) Ping(ctx context.Context) error  { return nil }
func (b *lossyBus) Close() error                    { return nil }
func (b *lossyBus) Publish(ctx context.Context, evs []*reddot.Event) error {
	b.mu.Lock()
	drop, repeats := b.drop, b.repeats
	b.mu.Unlock()
	for _, ev := range evs {
		if drop != nil && drop(ev) {
			continue
		}
		for i := 0; i <= repeats; i++ {
			_ = b.inner.Publish(ctx, []*reddot.Event{ev})
		}
	}
	return nil
}

func newEngine(t testing.TB, bus reddot.Bus, queue int) (*engine.Engine, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/r.db", sqlite.Options{Retention: reddot.Retention{MaxEvents: 50}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if bus == nil {
		bus = membus.New()
	}
	return engine.New(engine.Options{Store: st, Bus: bus, QueueSize: queue}), st
}

func publishTopic(t testing.TB, e *engine.Engine, topic string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		m := reddot.Message{Topic: topic, Data: []byte(fmt.Sprint(i))}
		if err := m.Validate(reddot.Limits{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Publish(context.Background(), []reddot.Message{m}); err != nil {
			t.Fatal(err)
		}
	}
}

// collect reads until n events arrived or the deadline passed.
func collect(t testing.TB, s *engine.Session, n int) []engine.Out {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []engine.Out
	for len(got) < n {
		outs, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(got), n, err)
		}
		got = append(got, outs...)
	}
	return got
}

func seqs(outs []engine.Out) []uint64 {
	var s []uint64
	for _, o := range outs {
		s = append(s, o.Event.Seq)
	}
	return s
}

func wantSeqs(t *testing.T, outs []engine.Out, from, to uint64) {
	t.Helper()
	got := seqs(outs)
	if len(got) != int(to-from+1) {
		t.Fatalf("seqs %v, want %d..%d", got, from, to)
	}
	for i, s := range got {
		if s != from+uint64(i) {
			t.Fatalf("seqs %v, want %d..%d", got, from, to)
		}
	}
}

var reader = &reddot.Principal{User: "42"}

func TestGapsFromTheBusAreFilledFromTheStore(t *testing.T) {
	bus := &lossyBus{inner: membus.New()}
	e, _ := newEngine(t, bus, 100)
	s, err := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bus.drop = func(ev *reddot.Event) bool { return ev.Seq%3 == 2 } // lose seq 2, 5, 8
	publishTopic(t, e, "news", 9)
	wantSeqs(t, collect(t, s, 9), 1, 9)
}

func TestRedeliveredEventsArriveOnce(t *testing.T) {
	bus := &lossyBus{inner: membus.New(), repeats: 2}
	e, _ := newEngine(t, bus, 100)
	s, err := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publishTopic(t, e, "news", 5)
	wantSeqs(t, collect(t, s, 5), 1, 5)
	if outs, _ := s.TryNext(context.Background()); len(outs) != 0 {
		t.Fatalf("duplicates after the last event: %v", seqs(outs))
	}
}

func TestResyncCatchesUpAfterABusOutage(t *testing.T) {
	bus := &lossyBus{inner: membus.New()}
	e, _ := newEngine(t, bus, 100)
	s, _ := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}})
	defer s.Close()
	bus.drop = func(*reddot.Event) bool { return true }
	publishTopic(t, e, "news", 3) // nothing arrives live
	e.Resync()                    // e.g. the bus reconnected
	wantSeqs(t, collect(t, s, 3), 1, 3)
}

func TestSlowConsumerIsClosedAndResumes(t *testing.T) {
	e, _ := newEngine(t, nil, 4)
	s, _ := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}})
	publishTopic(t, e, "news", 2)
	first := collect(t, s, 1)
	publishTopic(t, e, "news", 10) // never read: overflows the queue of 4
	_, err := s.TryNext(context.Background())
	if !errors.Is(err, engine.ErrSlowConsumer) {
		t.Fatalf("err = %v, want slow consumer", err)
	}
	s.Close()
	again, err := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}, Since: string(first[0].Cursor)})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	wantSeqs(t, collect(t, again, 11), 2, 12)
}

func TestCursorPastRetentionResets(t *testing.T) {
	e, _ := newEngine(t, nil, 100)
	s, _ := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}})
	publishTopic(t, e, "news", 1)
	old := collect(t, s, 1)[0].Cursor
	s.Close()
	publishTopic(t, e, "news", 60) // retention keeps 50
	s2, err := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}, Since: string(old)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	out := collect(t, s2, 1)
	if out[0].Event.Event != reddot.EventReset {
		t.Fatalf("first event %q, want reset", out[0].Event.Event)
	}
	publishTopic(t, e, "news", 1)
	if got := collect(t, s2, 1); got[0].Event.Seq != 62 {
		t.Fatalf("after reset got seq %d, want the live 62", got[0].Event.Seq)
	}
}

func TestDrainClosesSessionsAndRefusesNewWork(t *testing.T) {
	e, _ := newEngine(t, nil, 100)
	s, _ := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}})
	if err := e.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, engine.ErrShuttingDown) {
		t.Fatalf("session err %v", err)
	}
	if _, err := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}}); !errors.Is(err, engine.ErrShuttingDown) {
		t.Fatalf("subscribe during drain: %v", err)
	}
	if _, err := e.Publish(context.Background(), nil); !errors.Is(err, engine.ErrShuttingDown) {
		t.Fatalf("publish during drain: %v", err)
	}
}

func TestStatsCountConnectionsPerTransport(t *testing.T) {
	e, _ := newEngine(t, nil, 100)
	a, _ := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"x"}, Transport: "sse"})
	b, _ := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"x"}, Transport: "sse"})
	c, _ := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"x"}, Transport: "ws"})
	if st := e.Stats(); st.Connections["sse"] != 2 || st.Connections["ws"] != 1 || st.Topics != 1 {
		t.Fatalf("stats %+v", st)
	}
	a.Close()
	a.Close()
	b.Close()
	c.Close()
	if st := e.Stats(); st.Connections["sse"] != 0 || st.Connections["ws"] != 0 || st.Topics != 0 {
		t.Fatalf("stats after close %+v", st)
	}
}

// With a network bus, this node's subscribers get its own publishes even
// while the bus is down, and an echo of an unread event is not delivered twice.
func TestLocalDeliveryDoesNotWaitForTheBus(t *testing.T) {
	bus := &lossyBus{inner: membus.New(), remote: true, drop: func(*reddot.Event) bool { return true }}
	e, _ := newEngine(t, bus, 100)
	s, _ := e.Subscribe(context.Background(), reader, engine.SubscribeRequest{Topics: []string{"news"}, Inbox: true})
	defer s.Close()
	publishTopic(t, e, "news", 3)
	wantSeqs(t, collect(t, s, 3), 1, 3)

	bus.mu.Lock()
	bus.drop, bus.repeats = nil, 1 // the bus is back and echoes everything twice
	bus.mu.Unlock()
	publishTopic(t, e, "news", 1)
	if _, err := e.MarkRead(context.Background(), "42", reddot.ReadRequest{All: true}); err != nil {
		t.Fatal(err)
	}
	got := collect(t, s, 1)
	if got[0].Event.Seq != 4 {
		t.Fatalf("got seq %d, want 4", got[0].Event.Seq)
	}
	// MarkRead changed nothing (no notifications), so publish one and read it.
	m := reddot.Message{Users: []string{"42"}, Notification: &reddot.NotificationInput{Title: "t"}}
	if err := m.Validate(reddot.Limits{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Publish(context.Background(), []reddot.Message{m}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.MarkRead(context.Background(), "42", reddot.ReadRequest{All: true}); err != nil {
		t.Fatal(err)
	}
	var unread, notes int
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && (notes < 1 || unread < 1) {
		outs, err := s.TryNext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			switch o.Event.Event {
			case reddot.EventUnread:
				unread++
			case reddot.EventNotification:
				notes++
			}
		}
		if len(outs) == 0 {
			select {
			case <-s.Ready():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// Anything still queued is an echo; drain it and count again.
	outs, _ := s.TryNext(context.Background())
	for _, o := range outs {
		if o.Event.Event == reddot.EventUnread {
			unread++
		}
	}
	if notes != 1 || unread != 1 {
		t.Fatalf("got %d notifications and %d unread events, want 1 and 1", notes, unread)
	}
}
