package hub_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/hub"
)

type counter struct{ n atomic.Int64 }

func (c *counter) Deliver(*reddot.Event) { c.n.Add(1) }

func TestPublishReachesOnlyTopicSubscribers(t *testing.T) {
	h := hub.New(8)
	a, b, c := &counter{}, &counter{}, &counter{}
	h.Subscribe("news", a)
	h.Subscribe("news", b)
	h.Subscribe("sport", c)
	h.Subscribe("news", a) // twice is once

	if n := h.Publish(&reddot.Event{Topic: "news", Seq: 1}); n != 2 {
		t.Fatalf("deliveries = %d, want 2", n)
	}
	if a.n.Load() != 1 || b.n.Load() != 1 || c.n.Load() != 0 {
		t.Fatalf("got a=%d b=%d c=%d", a.n.Load(), b.n.Load(), c.n.Load())
	}
	h.Unsubscribe("news", a)
	h.Publish(&reddot.Event{Topic: "news", Seq: 2})
	if a.n.Load() != 1 || b.n.Load() != 2 {
		t.Fatalf("after unsubscribe a=%d b=%d", a.n.Load(), b.n.Load())
	}
	h.Unsubscribe("news", b)
	h.Unsubscribe("sport", c)
	if st := h.Stats(); st.Topics != 0 || st.Published != 2 || st.Deliveries != 3 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestConcurrentSubscribeAndPublish(t *testing.T) {
	h := hub.New(16)
	var wg sync.WaitGroup
	subs := make([]*counter, 64)
	for i := range subs {
		subs[i] = &counter{}
		h.Subscribe("t", subs[i])
	}
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				h.Publish(&reddot.Event{Topic: "t", Seq: uint64(i + 1)})
			}
		}()
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				c := &counter{}
				topic := fmt.Sprintf("x%d-%d", g, i)
				h.Subscribe(topic, c)
				h.Unsubscribe(topic, c)
			}
		}(g)
	}
	wg.Wait()
	for i, s := range subs {
		if s.n.Load() != 1000 {
			t.Fatalf("subscriber %d got %d, want 1000", i, s.n.Load())
		}
	}
}

func BenchmarkFanout1000(b *testing.B)  { benchFanout(b, 1000) }
func BenchmarkFanout10000(b *testing.B) { benchFanout(b, 10000) }

func benchFanout(b *testing.B, n int) {
	h := hub.New(64)
	for range n {
		h.Subscribe("news", &counter{})
	}
	ev := &reddot.Event{Topic: "news", Seq: 1}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.Publish(ev)
	}
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "deliveries/s")
}

type recorder struct {
	id  int
	log *[]int
}

func (r *recorder) Deliver(*reddot.Event) { *r.log = append(*r.log, r.id) }

// A publish reaches subscribers in the order they joined (the last one
// taking the place of one that left), so a broadcast walks connections in
// the order they were made.
func TestPublishWalksSubscribersInJoinOrder(t *testing.T) {
	h := hub.New(4)
	var log []int
	subs := make([]*recorder, 6)
	for i := range subs {
		subs[i] = &recorder{id: i, log: &log}
		h.Subscribe("news", subs[i])
	}
	h.Subscribe("news", subs[2]) // again: no second copy
	h.Publish(&reddot.Event{Topic: "news", Seq: 1})
	if want := []int{0, 1, 2, 3, 4, 5}; !slices.Equal(log, want) {
		t.Fatalf("order %v, want %v", log, want)
	}
	log = nil
	h.Unsubscribe("news", subs[1])
	h.Unsubscribe("news", subs[5]) // the last: nothing moves
	h.Unsubscribe("news", subs[5])
	h.Publish(&reddot.Event{Topic: "news", Seq: 2})
	if want := []int{0, 4, 2, 3}; !slices.Equal(log, want) {
		t.Fatalf("order after leaving %v, want %v", log, want)
	}
}

func TestHeadIsKnownWhileTheTopicHasSubscribers(t *testing.T) {
	h := hub.New(4)
	a, b := &counter{}, &counter{}
	if _, known := h.Subscribe("news", a); known {
		t.Fatal("head known before anything happened")
	}
	h.SetHead("news", 5)
	h.Publish(&reddot.Event{Topic: "news", Seq: 7})
	h.Publish(&reddot.Event{Topic: "news", Seq: 6}) // late, from another node
	h.Publish(&reddot.Event{Topic: "news", Event: "unread"})
	if head, known := h.Subscribe("news", b); !known || head != 7 {
		t.Fatalf("head %d known %v, want 7", head, known)
	}
	h.Unsubscribe("news", a)
	h.Unsubscribe("news", b)
	if _, known := h.Subscribe("news", a); known {
		t.Fatal("head kept after the last subscriber left")
	}
}
