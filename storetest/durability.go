package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/reddot-dev/reddot"
)

// testReopen checks that everything a returned call stored is there after
// the store is closed and opened again, with the same epoch, and that seqs
// continue where they stopped.
func testReopen(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("the harness cannot reopen a store")
	}
	o := Options{Retention: reddot.Retention{MaxEvents: 4}}
	s := h.New(t, o)
	ctx := context.Background()
	for i := range 5 {
		MustPublish(t, s, Topic("dur", fmt.Sprint(i)))
	}
	n := MustPublish(t, s, Notify("comment", "1", "alice"), Notify("comment", "2", "alice"),
		Notify("system", "3", "alice"), Broadcast("news", "all"))
	markRead(t, s, "alice", reddot.ReadRequest{IDs: []string{n[0].IDs[0], n[3].IDs[0]}})
	if _, err := s.Delete(ctx, "alice", n[1].IDs[0]); err != nil {
		t.Fatal(err)
	}
	epoch := s.Epoch()
	events := readAll(t, s, "dur", 1)
	counts, err := s.Unread(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	inbox := inboxAll(t, s, "alice", reddot.InboxQuery{})

	s = h.Reopen(t, s, o)
	if s.Epoch() != epoch {
		t.Errorf("epoch %d after reopen, was %d", s.Epoch(), epoch)
	}
	wantReset(t, s, "dur", 0)
	got := readAll(t, s, "dur", 1)
	if len(got) != len(events) {
		t.Fatalf("%d events after reopen, had %d", len(got), len(events))
	}
	for i, e := range got {
		w := events[i]
		if e.ID != w.ID || e.Seq != w.Seq || e.Event != w.Event || !bytes.Equal(e.Data, w.Data) || !e.Time.Equal(w.Time) {
			t.Errorf("event %d after reopen %+v, was %+v", i, e, w)
		}
	}
	unread(t, s, "alice", counts.Categories)
	after := inboxAll(t, s, "alice", reddot.InboxQuery{})
	if !slices.Equal(ids(after), ids(inbox)) {
		t.Errorf("inbox after reopen %v, was %v", ids(after), ids(inbox))
	}
	for i := range min(len(after), len(inbox)) {
		a, b := after[i], inbox[i]
		if a.Read != b.Read || a.Broadcast != b.Broadcast || a.Title != b.Title || !a.Time.Equal(b.Time) {
			t.Errorf("item %d after reopen %+v, was %+v", i, a, b)
		}
	}
	if p := MustPublish(t, s, Topic("dur", `5`)); p[0].Events[0].Seq != 6 {
		t.Errorf("seq after reopen = %d, want 6", p[0].Events[0].Seq)
	}
	if p := MustPublish(t, s, Notify("comment", "4", "alice")); p[0].Events[0].Seq != 4 {
		t.Errorf("inbox stream seq after reopen = %d, want 4", p[0].Events[0].Seq)
	}
	if p := MustPublish(t, s, Broadcast("news", "again")); p[0].Events[0].Seq != 2 {
		t.Errorf("broadcast seq after reopen = %d, want 2", p[0].Events[0].Seq)
	}
	unread(t, s, "alice", map[string]int64{"comment": 1, "system": 1, "news": 1})
}

func testLifecycle(t *testing.T, h Harness) {
	a, b := h.New(t, Options{}), h.New(t, Options{})
	if a.Epoch() == 0 {
		t.Error("epoch is 0")
	}
	if a.Epoch() == b.Epoch() {
		t.Errorf("two new stores share epoch %d", a.Epoch())
	}
	if err := a.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	for i := range 2 {
		if err := a.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := a.Publish(context.Background(), []reddot.Message{Topic("t", `1`)}); err == nil {
		t.Error("Publish after Close succeeded")
	}
}
