package bustest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
)

const wait = 15 * time.Second

// Samples returns events that exercise every field a bus must carry.
func Samples() []*reddot.Event {
	at := time.Date(2026, 11, 27, 3, 0, 0, 123456789, time.FixedZone("X", 3600))
	return []*reddot.Event{
		{ID: "01JA", Topic: "news", Seq: 1, Event: "message", Time: at,
			Data: json.RawMessage(`{"html":"<b>&amp;</b>","emoji":"🔴","n":1.5e3,"esc":"\u2028\"q\""}`)},
		{ID: "01JB", Topic: reddot.InboxTopic("alice"), Seq: 7, Event: reddot.EventNotification, Time: at.Add(time.Nanosecond),
			Data:   json.RawMessage(`{"id":"01JB","category":"comment","title":"hi"}`),
			Unread: &reddot.Counts{Total: 3, Categories: map[string]int64{"comment": 2, "system": 1}}},
		{ID: "01JC", Topic: reddot.InboxTopic("alice"), Seq: 0, Event: reddot.EventUnread, Time: at.UTC(),
			Data: json.RawMessage(`{"total":0,"categories":{}}`)},
		{ID: "01JD", Topic: "big/topic:x@y.z-1", Seq: 1 << 40, Event: "a.b:c-d_e", Time: at,
			Data: json.RawMessage(`"` + strings.Repeat("x", 60<<10) + `"`)},
		{ID: "01JE", Topic: "null", Seq: 2, Event: "message", Time: at, Data: json.RawMessage(`null`)},
	}
}

// Same reports how a received event differs from the sent one, "" if not.
func Same(got, want *reddot.Event) string {
	switch {
	case got.ID != want.ID || got.Topic != want.Topic || got.Seq != want.Seq || got.Event != want.Event:
		return fmt.Sprintf("header %s %s #%d %s, want %s %s #%d %s", got.ID, got.Topic, got.Seq, got.Event,
			want.ID, want.Topic, want.Seq, want.Event)
	case !bytes.Equal(got.Data, want.Data):
		return fmt.Sprintf("data %.80s, want %.80s", got.Data, want.Data)
	case !got.Time.Equal(want.Time):
		return fmt.Sprintf("time %v, want %v", got.Time, want.Time)
	case (got.Unread == nil) != (want.Unread == nil):
		return fmt.Sprintf("unread %v, want %v", got.Unread, want.Unread)
	case got.Unread != nil && (got.Unread.Total != want.Unread.Total || !maps.Equal(got.Unread.Categories, want.Unread.Categories)):
		return fmt.Sprintf("unread %+v, want %+v", *got.Unread, *want.Unread)
	}
	return ""
}

func mustPublish(tb testing.TB, b reddot.Bus, evs ...*reddot.Event) {
	tb.Helper()
	if err := b.Publish(context.Background(), evs); err != nil {
		tb.Fatalf("Publish: %v", err)
	}
}

// stream returns n events of topic with seqs from..from+n-1.
func stream(topic string, from, n int) []*reddot.Event {
	out := make([]*reddot.Event, n)
	for i := range out {
		seq := from + i
		out[i] = &reddot.Event{ID: fmt.Sprint(topic, "-", seq), Topic: topic, Seq: uint64(seq), Event: "message",
			Data: json.RawMessage(fmt.Sprint(seq)), Time: time.Now()}
	}
	return out
}

// checkStreams fails tb unless evs hold, for each topic of want, exactly the
// seqs 1..want[topic] in order.
func checkStreams(tb testing.TB, who string, evs []*reddot.Event, want map[string]int) {
	tb.Helper()
	next := map[string]int{}
	for _, e := range evs {
		n, ok := want[e.Topic]
		if !ok {
			continue
		}
		next[e.Topic]++
		if int(e.Seq) != next[e.Topic] || next[e.Topic] > n {
			tb.Errorf("%s: %s seq %d received as number %d", who, e.Topic, e.Seq, next[e.Topic])
			return
		}
	}
	for topic, n := range want {
		if next[topic] != n {
			tb.Errorf("%s: %d events of %s, want %d", who, next[topic], topic, n)
		}
	}
}

func hasAll(want map[string]int) func([]*reddot.Event) bool {
	return func(evs []*reddot.Event) bool {
		got := map[string]int{}
		for _, e := range evs {
			if _, ok := want[e.Topic]; ok {
				got[e.Topic]++
			}
		}
		for t, n := range want {
			if got[t] < n {
				return false
			}
		}
		return true
	}
}

// node opens a subscribed bus and returns it with its recorder.
func node(tb testing.TB, h Harness, ns string, o Options) (reddot.Bus, *Recorder) {
	tb.Helper()
	b := h.New(tb, ns, o)
	r := NewRecorder()
	b.Subscribe(r.Handle)
	return b, r
}

func testSelfDelivery(t *testing.T, h Harness) {
	b, r := node(t, h, Namespace(), Options{})
	s := Samples()
	mustPublish(t, b, s[:3]...)
	mustPublish(t, b, s[3:]...)
	got := r.WaitN(t, len(s), wait)
	for i := range s {
		if d := Same(got[i], s[i]); d != "" {
			t.Errorf("event %d: %s", i, d)
		}
	}
}

func testCloseIdempotent(t *testing.T, h Harness) {
	b := h.New(t, Namespace(), Options{})
	for i := range 2 {
		if err := b.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	ns := Namespace()
	a, ra := node(t, h, ns, Options{})
	_, rb := node(t, h, ns, Options{})
	s := Samples()
	mustPublish(t, a, s...)
	for who, r := range map[string]*Recorder{"publisher": ra, "other node": rb} {
		got := r.WaitN(t, len(s), wait)
		if len(got) != len(s) {
			t.Errorf("%s received %d events, want %d", who, len(got), len(s))
			continue
		}
		for i := range s {
			if d := Same(got[i], s[i]); d != "" {
				t.Errorf("%s, event %d: %s", who, i, d)
			}
		}
	}
}

func testEveryNode(t *testing.T, h Harness) {
	ns := Namespace()
	const nodes, each = 3, 30
	buses := make([]reddot.Bus, nodes)
	recs := make([]*Recorder, nodes)
	for i := range buses {
		buses[i], recs[i] = node(t, h, ns, Options{})
	}
	want := map[string]int{}
	var wg sync.WaitGroup
	for i, b := range buses {
		topic := fmt.Sprint("node-", i)
		want[topic] = each
		wg.Go(func() {
			for _, e := range stream(topic, 1, each) {
				mustPublish(t, b, e)
			}
		})
	}
	wg.Wait()
	for i, r := range recs {
		evs := r.WaitFor(t, fmt.Sprint("node ", i), wait, hasAll(want))
		checkStreams(t, fmt.Sprint("node ", i), evs, want)
	}
}

func testPublisherOrder(t *testing.T, h Harness) {
	ns := Namespace()
	a, _ := node(t, h, ns, Options{})
	c, _ := node(t, h, ns, Options{})
	_, rb := node(t, h, ns, Options{})
	const n = 1000
	want := map[string]int{"from-a": n, "from-c": n}
	var wg sync.WaitGroup
	for topic, bus := range map[string]reddot.Bus{"from-a": a, "from-c": c} {
		wg.Go(func() {
			evs := stream(topic, 1, n)
			for i := 0; i < n; {
				k := min(1+i%5, n-i) // calls of 1 to 5 events
				mustPublish(t, bus, evs[i:i+k]...)
				i += k
			}
		})
	}
	wg.Wait()
	checkStreams(t, "subscriber", rb.WaitFor(t, "both streams", 30*time.Second, hasAll(want)), want)
}

func testNamespaces(t *testing.T, h Harness) {
	ns1, ns2 := Namespace(), Namespace()
	a, ra := node(t, h, ns1, Options{})
	c, _ := node(t, h, ns2, Options{})
	_, rb := node(t, h, ns2, Options{})
	mustPublish(t, a, stream("other-namespace", 1, 1)...)
	ra.WaitN(t, 1, wait) // the server has passed it on
	mustPublish(t, c, stream("marker", 1, 1)...)
	for _, e := range rb.WaitFor(t, "marker", wait, hasAll(map[string]int{"marker": 1})) {
		if e.Topic == "other-namespace" {
			t.Error("an event crossed namespaces")
		}
	}
}

func testCloseStopsDelivery(t *testing.T, h Harness) {
	ns := Namespace()
	a, ra := node(t, h, ns, Options{})
	b, _ := node(t, h, ns, Options{})
	_, rw := node(t, h, ns, Options{})
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Publish(context.Background(), stream("after-close", 1, 1)); err == nil {
		t.Error("Publish after Close succeeded")
	}
	if err := a.Ping(context.Background()); err == nil {
		t.Error("Ping after Close succeeded")
	}
	mustPublish(t, b, stream("late", 1, 1)...)
	rw.WaitFor(t, "witness", wait, hasAll(map[string]int{"late": 1}))
	if n := len(ra.Events()); n != 0 {
		t.Errorf("closed bus delivered %d events", n)
	}
}

// waitPing polls Ping until it fails (want false) or succeeds (want true).
func waitPing(tb testing.TB, b reddot.Bus, ok bool, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := b.Ping(ctx)
		cancel()
		if (err == nil) == ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("Ping = %v after %v, want ok=%v", err, timeout, ok)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testUnreachable(t *testing.T, h Harness) {
	ns := Namespace()
	p := NewProxy(t, h.Addr)
	reconnects := NewCounter()
	a, ra := node(t, h, ns, Options{Via: p.Addr(), OnReconnect: reconnects.Inc})
	b, rb := node(t, h, ns, Options{})
	waitPing(t, a, true, wait)
	mustPublish(t, a, stream("before", 1, 1)...)
	rb.WaitFor(t, "before the cut", wait, hasAll(map[string]int{"before": 1}))

	p.Cut()
	waitPing(t, a, false, wait)
	n := reconnects.N()
	p.Restore()
	waitPing(t, a, true, wait)
	if !reconnects.WaitAbove(n, wait) {
		t.Fatal("the bus came back without calling OnReconnect")
	}
	mustPublish(t, b, stream("to-a", 1, 3)...)
	ra.WaitFor(t, "delivery to the reconnected node", wait, hasAll(map[string]int{"to-a": 3}))
	mustPublish(t, a, stream("from-a", 1, 3)...)
	rb.WaitFor(t, "delivery from the reconnected node", wait, hasAll(map[string]int{"from-a": 3}))
}

// testLostPublishes publishes on a node cut from the server: once it is
// back, every other node has either received those events or been told
// (OnReconnect) to catch up from the store.
func testLostPublishes(t *testing.T, h Harness) {
	ns := Namespace()
	p := NewProxy(t, h.Addr)
	ca, cb := NewCounter(), NewCounter()
	a, _ := node(t, h, ns, Options{Via: p.Addr(), OnReconnect: ca.Inc})
	_, rb := node(t, h, ns, Options{OnReconnect: cb.Inc})
	waitPing(t, a, true, wait)

	p.Cut()
	waitPing(t, a, false, wait)
	na, nb := ca.N(), cb.N()
	for _, e := range stream("during-cut", 1, 20) {
		_ = a.Publish(context.Background(), []*reddot.Event{e}) // may fail or be dropped
	}
	p.Restore()
	waitPing(t, a, true, wait)
	if !ca.WaitAbove(na, wait) {
		t.Error("the cut node came back without calling OnReconnect")
	}
	deadline := time.Now().Add(wait)
	for !hasAll(map[string]int{"during-cut": 20})(rb.Events()) && cb.N() == nb {
		if time.Now().After(deadline) {
			t.Fatalf("the other node neither received the events published during the cut (%d of 20) nor was asked to resync",
				len(rb.Events()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cb.N() == nb {
		checkStreams(t, "other node", rb.Events(), map[string]int{"during-cut": 20})
	}
}

// eventually waits until r has every event of want or c has been called
// more than n times.
func eventually(tb testing.TB, who string, r *Recorder, want map[string]int, c *Counter, n int) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for !hasAll(want)(r.Events()) && c.N() == n {
		if time.Now().After(deadline) {
			tb.Fatalf("%s neither received every event sent across the outage (%d events in all) nor was asked to resync",
				who, len(r.Events()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c.N() == n {
		checkStreams(tb, who, r.Events(), want)
	}
}

// testPartition freezes the path to the server (nothing closed, nothing
// answered) for a few seconds while both sides publish: afterwards every
// event has arrived or the node that may have missed it was told to resync.
func testPartition(t *testing.T, h Harness) {
	ns := Namespace()
	p := NewProxy(t, h.Addr)
	ca, cb := NewCounter(), NewCounter()
	a, ra := node(t, h, ns, Options{Via: p.Addr(), OnReconnect: ca.Inc})
	b, rb := node(t, h, ns, Options{OnReconnect: cb.Inc})
	waitPing(t, a, true, wait)

	p.Freeze()
	waitPing(t, a, false, wait)
	na, nb := ca.N(), cb.N()
	mustPublish(t, b, stream("to-a", 1, 5)...)
	for _, e := range stream("from-a", 1, 5) {
		_ = a.Publish(context.Background(), []*reddot.Event{e})
	}
	time.Sleep(3 * time.Second) // the outage: long enough for keepalives to give up
	p.Restore()
	waitPing(t, a, true, wait)
	eventually(t, "the partitioned node", ra, map[string]int{"to-a": 5}, ca, na)
	eventually(t, "the other node", rb, map[string]int{"from-a": 5}, cb, nb)
	mustPublish(t, b, stream("after", 1, 2)...)
	ra.WaitFor(t, "delivery after the partition", wait, hasAll(map[string]int{"after": 2}))
}
