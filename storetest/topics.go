package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
)

func testPublishTopic(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	msgs := []reddot.Message{Topic("news", `{"n":1}`), Topic("news", `{"n":2}`), Topic("other", `3`)}
	msgs[1].Event = "update"
	ps := MustPublish(t, s, msgs...)
	wantSeq := []uint64{1, 2, 1}
	seen := map[string]bool{}
	for i, p := range ps {
		if len(p.IDs) != 1 || len(p.Events) != 1 {
			t.Fatalf("result %d: %d ids, %d events; want 1 and 1", i, len(p.IDs), len(p.Events))
		}
		e := p.Events[0]
		if p.IDs[0] == "" || e.ID != p.IDs[0] || seen[e.ID] {
			t.Errorf("result %d: id %q, event id %q: want a new non-empty id on both", i, p.IDs[0], e.ID)
		}
		seen[e.ID] = true
		if e.Topic != msgs[i].Topic || e.Seq != wantSeq[i] || e.Event != msgs[i].Event {
			t.Errorf("result %d: event %s #%d %q, want %s #%d %q", i, e.Topic, e.Seq, e.Event,
				msgs[i].Topic, wantSeq[i], msgs[i].Event)
		}
		if !bytes.Equal(e.Data, msgs[i].Data) || e.Time.IsZero() || e.Unread != nil {
			t.Errorf("result %d: data %s time %v unread %v", i, e.Data, e.Time, e.Unread)
		}
	}
	if ps[0].Events[0].Event != reddot.EventMessage {
		t.Errorf("default event name %q, want %q", ps[0].Events[0].Event, reddot.EventMessage)
	}
	if p := MustPublish(t, s, Topic("news", `{}`)); p[0].Events[0].Seq != 3 {
		t.Errorf("next seq of news = %d, want 3", p[0].Events[0].Seq)
	}
}

func testReadTopicPaging(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	ctx := context.Background()
	var pub []*reddot.Event
	for i := 1; i <= 10; i++ {
		pub = append(pub, MustPublish(t, s, Topic("feed", fmt.Sprintf(`{"i":%d}`, i)))[0].Events[0])
	}
	MustPublish(t, s, Topic("feed2", `1`))
	for _, page := range []struct {
		after    uint64
		from, to uint64
	}{{0, 1, 4}, {4, 5, 8}, {8, 9, 10}, {10, 1, 0}} {
		evs, err := s.ReadTopic(ctx, "feed", page.after, 4)
		if err != nil {
			t.Fatalf("ReadTopic(after %d): %v", page.after, err)
		}
		wantSeqs(t, fmt.Sprintf("ReadTopic(after %d, limit 4)", page.after), evs, page.from, page.to)
		for _, e := range evs {
			p := pub[e.Seq-1]
			if e.ID != p.ID || e.Topic != "feed" || e.Event != p.Event || !bytes.Equal(e.Data, p.Data) ||
				!e.Time.Equal(p.Time) {
				t.Errorf("read %+v, published %+v", e, p)
			}
		}
	}
	all := readAll(t, s, "feed", 0)
	wantSeqs(t, "readAll", all, 1, 10)
	evs, err := s.ReadTopic(ctx, "feed", 3, 1000)
	if err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, "ReadTopic(after 3, limit 1000)", evs, 4, 10)
}

func testHeads(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	ctx := context.Background()
	if hs, err := s.Heads(ctx, nil); err != nil || len(hs) != 0 {
		t.Errorf("Heads(nil) = %v, %v; want empty", hs, err)
	}
	MustPublish(t, s, Topic("a", `1`), Topic("a", `2`), Topic("b", `1`))
	MustPublish(t, s, Notify("c", "hi", "u1"))
	hs, err := s.Heads(ctx, []string{"a", "b", "nope", "a", reddot.InboxTopic("u1"), reddot.BroadcastTopic})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{2, 1, 0, 2, 1, 0}; fmt.Sprint(hs) != fmt.Sprint(want) {
		t.Errorf("Heads = %v, want %v", hs, want)
	}
}

func testResetBeyondHead(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	ctx := context.Background()
	MustPublish(t, s, Topic("t", `1`), Topic("t", `2`), Topic("t", `3`))
	wantReset(t, s, "t", 4)
	wantReset(t, s, "t", 1000)
	wantReset(t, s, "never", 1)
	for _, c := range []struct {
		topic string
		after uint64
	}{{"never", 0}, {"t", 3}} {
		if evs, err := s.ReadTopic(ctx, c.topic, c.after, 10); err != nil || len(evs) != 0 {
			t.Errorf("ReadTopic(%q, %d) = %d events, %v; want none, nil", c.topic, c.after, len(evs), err)
		}
	}
}

func testCountRetention(t *testing.T, h Harness) {
	s := h.New(t, Options{Retention: reddot.Retention{MaxEvents: 10}})
	ctx := context.Background()
	var batch []reddot.Message
	for i := range 25 {
		MustPublish(t, s, Topic("r", fmt.Sprint(i)))
		batch = append(batch, Topic("r2", fmt.Sprint(i)))
	}
	MustPublish(t, s, batch...) // 25 events to r2 in one call
	for i := range 12 {
		MustPublish(t, s, Notify("c", fmt.Sprint("n", i), "u"))
	}
	for _, topic := range []string{"r", "r2"} {
		wantReset(t, s, topic, 0)
		wantReset(t, s, topic, 14)
		evs, err := s.ReadTopic(ctx, topic, 15, 100)
		if err != nil {
			t.Fatalf("ReadTopic(%q, 15): %v", topic, err)
		}
		wantSeqs(t, topic+" after 15", evs, 16, 25)
		if hs, err := s.Heads(ctx, []string{topic}); err != nil || hs[0] != 25 {
			t.Errorf("Heads(%q) = %v, %v; want 25", topic, hs, err)
		}
	}
	inbox := reddot.InboxTopic("u")
	wantReset(t, s, inbox, 1)
	wantSeqs(t, "inbox stream after 2", readAll(t, s, inbox, 2), 3, 12)
	// Retention applies to streams, not to inbox items.
	if items := inboxAll(t, s, "u", reddot.InboxQuery{}); len(items) != 12 {
		t.Errorf("inbox has %d items after stream retention, want 12", len(items))
	}
	unread(t, s, "u", map[string]int64{"c": 12})
}

func testAgeRetention(t *testing.T, h Harness) {
	clock := NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := h.New(t, Options{Retention: reddot.Retention{MaxAge: time.Hour}, Now: clock.Now})
	ctx := context.Background()
	sweeper, canSweep := s.(Sweeper)
	sweep := func() {
		t.Helper()
		if canSweep {
			if err := sweeper.Sweep(ctx); err != nil {
				t.Fatalf("Sweep: %v", err)
			}
		}
	}
	for i := range 5 {
		MustPublish(t, s, Topic("old", fmt.Sprint(i)))
	}
	MustPublish(t, s, Topic("idle", `1`), Topic("idle", `2`), Topic("idle", `3`))
	MustPublish(t, s, Notify("c", "kept", "u"))

	clock.Advance(30 * time.Minute)
	MustPublish(t, s, Topic("old", `5`)) // seq 6
	sweep()
	wantSeqs(t, "nothing expired yet", readAll(t, s, "old", 0), 1, 6)

	clock.Advance(45 * time.Minute) // seqs 1..5 are 75 minutes old, 6 is 45
	MustPublish(t, s, Topic("old", `6`))
	sweep()
	wantReset(t, s, "old", 0)
	wantReset(t, s, "old", 4)
	wantSeqs(t, "old after 5", readAll(t, s, "old", 5), 6, 7)
	if hs, err := s.Heads(ctx, []string{"old", "idle"}); err != nil || hs[0] != 7 || hs[1] != 3 {
		t.Errorf("Heads = %v, %v; want [7 3]", hs, err)
	}
	if canSweep {
		wantReset(t, s, "idle", 0)
		wantSeqs(t, "idle at head", readAll(t, s, "idle", 3), 1, 0)
	} else {
		t.Log("store has no Sweep: idle-topic expiry not checked")
	}
	if p := MustPublish(t, s, Topic("idle", `4`)); p[0].Events[0].Seq != 4 {
		t.Errorf("seq after expiry = %d, want 4", p[0].Events[0].Seq)
	}
	if items := inboxAll(t, s, "u", reddot.InboxQuery{}); len(items) != 1 {
		t.Errorf("inbox has %d items after age retention, want 1", len(items))
	}
	unread(t, s, "u", map[string]int64{"c": 1})
}

// testConcurrentSeq publishes from many goroutines to one topic (and a few
// others) and checks that every topic is numbered 1..n with no gap or
// duplicate, and reads back in order.
func testConcurrentSeq(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	const workers, each = 8, 100
	var mu sync.Mutex
	idOf := map[string]map[uint64]string{}
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				msgs := []reddot.Message{Topic("hot", fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))}
				if i%10 == 0 {
					msgs = append(msgs, Topic(fmt.Sprint("side-", g%3), `0`))
				}
				ps, err := s.Publish(context.Background(), msgs)
				if err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				mu.Lock()
				for _, p := range ps {
					for _, e := range p.Events {
						if idOf[e.Topic] == nil {
							idOf[e.Topic] = map[uint64]string{}
						}
						if _, dup := idOf[e.Topic][e.Seq]; dup {
							t.Errorf("%s seq %d returned twice", e.Topic, e.Seq)
						}
						idOf[e.Topic][e.Seq] = e.ID
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for topic, m := range idOf {
		evs := readAll(t, s, topic, 0)
		wantSeqs(t, topic, evs, 1, uint64(len(m)))
		for _, e := range evs {
			if m[e.Seq] != e.ID {
				t.Errorf("%s seq %d: read id %s, published %s", topic, e.Seq, e.ID, m[e.Seq])
			}
		}
	}
	if n := len(idOf["hot"]); n != workers*each {
		t.Errorf("hot has %d events, want %d", n, workers*each)
	}
}

func testCanceledContext(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msgs := []reddot.Message{Topic("c", `1`)}
	if _, err := s.Publish(ctx, msgs); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a canceled context: %v, want context.Canceled", err)
	}
	if _, _, err := s.MarkRead(ctx, "u", reddot.ReadRequest{All: true}); err == nil {
		t.Error("MarkRead with a canceled context succeeded")
	}
	if hs, err := s.Heads(context.Background(), []string{"c"}); err != nil || hs[0] != 0 {
		t.Errorf("Heads after a canceled publish = %v, %v; want [0]", hs, err)
	}
}
