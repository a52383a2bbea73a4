package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/reddot-dev/reddot"
)

// decode returns the notification carried by a notification event.
func decode(tb testing.TB, e *reddot.Event) reddot.Notification {
	tb.Helper()
	var n reddot.Notification
	if err := json.Unmarshal(e.Data, &n); err != nil {
		tb.Fatalf("event data %s: %v", e.Data, err)
	}
	return n
}

func testNotifyUsers(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	p := MustPublish(t, s, Notify("comment", "hi", "alice", "bob"))[0]
	if len(p.IDs) != 2 || len(p.Events) != 2 || p.IDs[0] == p.IDs[1] {
		t.Fatalf("Publish to 2 users: ids %v, %d events", p.IDs, len(p.Events))
	}
	for i, user := range []string{"alice", "bob"} {
		e := p.Events[i]
		if e.Topic != reddot.InboxTopic(user) || e.Event != reddot.EventNotification || e.Seq != 1 || e.ID != p.IDs[i] {
			t.Errorf("event %d: %s #%d %q id %s, want %s #1 notification id %s",
				i, e.Topic, e.Seq, e.Event, e.ID, reddot.InboxTopic(user), p.IDs[i])
		}
		if e.Unread == nil {
			t.Fatalf("event %d has no unread counts", i)
		}
		wantCounts(t, "event unread", *e.Unread, map[string]int64{"comment": 1})
		n := decode(t, e)
		if n.ID != p.IDs[i] || n.Category != "comment" || n.Title != "hi" || n.Read || n.Broadcast || n.Time.IsZero() {
			t.Errorf("event %d data: %+v", i, n)
		}
	}
	ps := MustPublish(t, s, Topic("x", `1`), Notify("system", "s", "alice"), Topic("x", `2`))
	if ps[0].Events[0].Seq != 1 || ps[2].Events[0].Seq != 2 {
		t.Errorf("mixed publish: topic results out of order")
	}
	e := ps[1].Events[0]
	if e.Seq != 2 || e.Unread == nil {
		t.Fatalf("second alice event: seq %d unread %v", e.Seq, e.Unread)
	}
	wantCounts(t, "second event unread", *e.Unread, map[string]int64{"comment": 1, "system": 1})
	unread(t, s, "alice", map[string]int64{"comment": 1, "system": 1})
	unread(t, s, "bob", map[string]int64{"comment": 1})
	unread(t, s, "carol", map[string]int64{})

	evs := readAll(t, s, reddot.InboxTopic("alice"), 0)
	wantSeqs(t, "alice's stream", evs, 1, 2)
	if len(evs) == 2 && (evs[0].ID != p.IDs[0] || decode(t, evs[1]).Category != "system") {
		t.Errorf("alice's stream: %v %v", evs[0], evs[1])
	}
	items := inboxAll(t, s, "alice", reddot.InboxQuery{})
	if len(items) != 2 || items[0].ID != ps[1].IDs[0] || items[1].ID != p.IDs[0] || items[0].Read || items[1].Broadcast {
		t.Errorf("alice's inbox: %+v", items)
	}
}

func testReadIsolation(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	a := MustPublish(t, s, Notify("comment", "1", "alice"), Notify("comment", "2", "alice"))
	b := MustPublish(t, s, Notify("comment", "1", "bob"), Notify("comment", "2", "bob"))
	bobIDs := []string{b[0].IDs[0], b[1].IDs[0]}

	if c, changed := markRead(t, s, "alice", reddot.ReadRequest{IDs: bobIDs}); changed {
		t.Errorf("alice marking bob's ids: changed, counts %+v", c)
	}
	unread(t, s, "bob", map[string]int64{"comment": 2})
	c, changed := markRead(t, s, "alice", reddot.ReadRequest{All: true})
	if !changed {
		t.Error("MarkRead all: not changed")
	}
	wantCounts(t, "alice after read all", c, map[string]int64{})
	unread(t, s, "bob", map[string]int64{"comment": 2})
	if _, changed := markRead(t, s, "alice", reddot.ReadRequest{All: true}); changed {
		t.Error("second MarkRead all: changed")
	}
	markRead(t, s, "alice", reddot.ReadRequest{Category: "comment", IDs: []string{a[0].IDs[0]}})
	unread(t, s, "bob", map[string]int64{"comment": 2})
	if got := inboxAll(t, s, "bob", reddot.InboxQuery{Status: "unread"}); len(got) != 2 {
		t.Errorf("bob has %d unread items, want 2", len(got))
	}
}

func testBroadcast(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	p := MustPublish(t, s, Broadcast("system", "maintenance"))[0]
	if len(p.IDs) != 1 || len(p.Events) != 1 {
		t.Fatalf("broadcast: ids %v, %d events; want 1 and 1", p.IDs, len(p.Events))
	}
	e := p.Events[0]
	if e.Topic != reddot.BroadcastTopic || e.Event != reddot.EventNotification || e.Seq != 1 || e.ID != p.IDs[0] || e.Unread != nil {
		t.Errorf("broadcast event: %+v", e)
	}
	if n := decode(t, e); !n.Broadcast || n.ID != p.IDs[0] || n.Category != "system" || n.Read {
		t.Errorf("broadcast data: %s", e.Data)
	}
	bid := p.IDs[0]
	for _, u := range []string{"u1", "u2", "newcomer"} {
		unread(t, s, u, map[string]int64{"system": 1})
	}
	ne := MustPublish(t, s, Notify("comment", "c", "u1"))[0].Events[0]
	if ne.Unread == nil {
		t.Fatal("personal event without counts")
	}
	wantCounts(t, "personal event counts include broadcasts", *ne.Unread, map[string]int64{"system": 1, "comment": 1})

	c, changed := markRead(t, s, "u1", reddot.ReadRequest{IDs: []string{bid}})
	if !changed {
		t.Error("reading a broadcast: not changed")
	}
	wantCounts(t, "u1 after reading the broadcast", c, map[string]int64{"comment": 1})
	unread(t, s, "u2", map[string]int64{"system": 1})
	if _, changed := markRead(t, s, "u1", reddot.ReadRequest{IDs: []string{bid}}); changed {
		t.Error("reading a broadcast twice: changed")
	}
	items := inboxAll(t, s, "u1", reddot.InboxQuery{})
	if len(items) != 2 || items[1].ID != bid || !items[1].Broadcast || !items[1].Read || items[0].Read || items[0].Broadcast {
		t.Errorf("u1 inbox: %+v", items)
	}
	if items := inboxAll(t, s, "u2", reddot.InboxQuery{}); len(items) != 1 || !items[0].Broadcast || items[0].Read {
		t.Errorf("u2 inbox: %+v", items)
	}

	MustPublish(t, s, Broadcast("promo", "sale"))
	markRead(t, s, "u2", reddot.ReadRequest{Category: "promo"})
	unread(t, s, "u2", map[string]int64{"system": 1})
	unread(t, s, "u1", map[string]int64{"comment": 1, "promo": 1})
	c, _ = markRead(t, s, "u2", reddot.ReadRequest{All: true})
	wantCounts(t, "u2 after read all", c, map[string]int64{})
	unread(t, s, "u1", map[string]int64{"comment": 1, "promo": 1})
	unread(t, s, "newcomer", map[string]int64{"system": 1, "promo": 1})

	// Broadcasts after a read-all count again.
	MustPublish(t, s, Broadcast("system", "again"))
	unread(t, s, "u2", map[string]int64{"system": 1})
	unread(t, s, "late", map[string]int64{"system": 2, "promo": 1})
	if hs, err := s.Heads(context.Background(), []string{reddot.BroadcastTopic}); err != nil || hs[0] != 3 {
		t.Errorf("broadcast head = %v, %v; want 3", hs, err)
	}
}

func testMarkRead(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	ctx := context.Background()
	ps := MustPublish(t, s, Notify("comment", "1", "u"), Notify("comment", "2", "u"), Notify("comment", "3", "u"),
		Notify("system", "4", "u"), Notify("system", "5", "u"))
	c, changed := markRead(t, s, "u", reddot.ReadRequest{IDs: []string{ps[0].IDs[0]}})
	if !changed {
		t.Error("MarkRead one id: not changed")
	}
	wantCounts(t, "after one id", c, map[string]int64{"comment": 2, "system": 2})
	if got, err := s.Unread(ctx, "u"); err != nil || got.Total != c.Total {
		t.Errorf("Unread = %+v, %v; MarkRead returned %+v", got, err, c)
	}
	if _, changed := markRead(t, s, "u", reddot.ReadRequest{IDs: []string{ps[0].IDs[0], "01JUNKNOWN0000000000000000"}}); changed {
		t.Error("MarkRead of a read and an unknown id: changed")
	}
	c, _ = markRead(t, s, "u", reddot.ReadRequest{Category: "system"})
	wantCounts(t, "after category", c, map[string]int64{"comment": 2})
	c, changed = markRead(t, s, "u", reddot.ReadRequest{All: true})
	if !changed {
		t.Error("MarkRead all: not changed")
	}
	wantCounts(t, "after all", c, map[string]int64{})
	if items := inboxAll(t, s, "u", reddot.InboxQuery{Status: "read"}); len(items) != 5 {
		t.Errorf("%d read items, want 5", len(items))
	}
	// New items after read-all are unread.
	MustPublish(t, s, Notify("comment", "6", "u"))
	unread(t, s, "u", map[string]int64{"comment": 1})
}

func testDelete(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	ctx := context.Background()
	a := MustPublish(t, s, Notify("comment", "a1", "alice"), Notify("comment", "a2", "alice"), Notify("comment", "b1", "bob"))
	a1, a2, b1 := a[0].IDs[0], a[1].IDs[0], a[2].IDs[0]
	x := MustPublish(t, s, Broadcast("news", "x"))[0].IDs[0]

	c, err := s.Delete(ctx, "alice", a1)
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantCounts(t, "after deleting an unread item", c, map[string]int64{"comment": 1, "news": 1})
	for _, id := range []string{a1, b1, "01JUNKNOWN0000000000000000"} {
		_, err := s.Delete(ctx, "alice", id)
		wantCode(t, "Delete "+id, err, reddot.ENOTFOUND)
	}
	unread(t, s, "bob", map[string]int64{"comment": 1, "news": 1})
	if items := inboxAll(t, s, "bob", reddot.InboxQuery{}); len(items) != 2 {
		t.Errorf("bob's inbox has %d items, want 2", len(items))
	}

	markRead(t, s, "alice", reddot.ReadRequest{IDs: []string{a2}})
	if c, err = s.Delete(ctx, "alice", a2); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "after deleting a read item", c, map[string]int64{"news": 1})

	if c, err = s.Delete(ctx, "alice", x); err != nil {
		t.Fatalf("Delete broadcast: %v", err)
	}
	wantCounts(t, "after deleting the broadcast", c, map[string]int64{})
	_, err = s.Delete(ctx, "alice", x)
	wantCode(t, "Delete broadcast twice", err, reddot.ENOTFOUND)
	if items := inboxAll(t, s, "alice", reddot.InboxQuery{}); len(items) != 0 {
		t.Errorf("alice's inbox after deleting everything: %+v", items)
	}
	unread(t, s, "bob", map[string]int64{"comment": 1, "news": 1})

	// A read broadcast, then deleted: counts do not move.
	markRead(t, s, "bob", reddot.ReadRequest{IDs: []string{x}})
	if c, err = s.Delete(ctx, "bob", x); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "bob after deleting a read broadcast", c, map[string]int64{"comment": 1})

	// Neither read-all nor a read by id brings a deleted broadcast back,
	// and later broadcasts count exactly once.
	markRead(t, s, "alice", reddot.ReadRequest{All: true, IDs: []string{x}})
	markRead(t, s, "alice", reddot.ReadRequest{IDs: []string{x}})
	MustPublish(t, s, Broadcast("news", "y"))
	unread(t, s, "alice", map[string]int64{"news": 1})
	unread(t, s, "bob", map[string]int64{"comment": 1, "news": 1})
	if items := inboxAll(t, s, "alice", reddot.InboxQuery{}); len(items) != 1 || items[0].ID == x {
		t.Errorf("alice's inbox: %+v", items)
	}
}
