package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/reddot-dev/reddot"
)

var categories = []string{"comment", "like", "system"}

func testInboxPaging(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	ctx := context.Background()
	var want []string // newest first
	broadcast := map[string]bool{}
	for i := range 30 {
		var m reddot.Message
		if i%6 == 5 {
			m = Broadcast(categories[i%3], fmt.Sprint("b", i))
		} else {
			m = Notify(categories[i%3], fmt.Sprint("n", i), "p")
		}
		id := MustPublish(t, s, m)[0].IDs[0]
		broadcast[id] = i%6 == 5
		want = append([]string{id}, want...)
	}
	other := MustPublish(t, s, Notify("comment", "not yours", "q"))[0].IDs[0]

	for _, limit := range []int{10, 7, 1, 100} {
		items := inboxAll(t, s, "p", reddot.InboxQuery{Limit: limit})
		if got := ids(items); !slices.Equal(got, want) {
			t.Errorf("limit %d: pages give %d items %v, want %d %v", limit, len(got), got, len(want), want)
		}
		for _, n := range items {
			if n.Broadcast != broadcast[n.ID] || n.Read {
				t.Errorf("item %s: broadcast %v read %v", n.ID, n.Broadcast, n.Read)
			}
		}
	}
	page, next, err := s.Inbox(ctx, "p", reddot.InboxQuery{Limit: 10})
	if err != nil || len(page) != 10 || next != page[9].ID {
		t.Errorf("first page: %d items, next %q, %v; want 10, next = last id", len(page), next, err)
	}
	page, next, err = s.Inbox(ctx, "p", reddot.InboxQuery{Limit: 10, Before: want[19]})
	if err != nil || len(page) != 10 || next != "" || page[0].ID != want[20] {
		t.Errorf("last page: %d items, next %q, %v; want 10 from %s, no next", len(page), next, err, want[20])
	}
	if page, _, err = s.Inbox(ctx, "p", reddot.InboxQuery{}); err != nil || len(page) != 20 {
		t.Errorf("default limit: %d items, %v; want 20", len(page), err)
	}
	if page, _, err = s.Inbox(ctx, "p", reddot.InboxQuery{Limit: 1000}); err != nil || len(page) != 30 {
		t.Errorf("limit 1000: %d items, %v; want all 30", len(page), err)
	}
	for _, before := range []string{other, "01JUNKNOWN0000000000000000", "garbage"} {
		_, _, err := s.Inbox(ctx, "p", reddot.InboxQuery{Before: before})
		wantCode(t, "Inbox before "+before, err, reddot.EINVALID)
	}
	if page, next, err = s.Inbox(ctx, "nobody", reddot.InboxQuery{}); err != nil || next != "" {
		t.Errorf("empty inbox: next %q, %v", next, err)
	} else if len(page) != 5 {
		t.Errorf("a user without items sees %d items, want the 5 broadcasts", len(page))
	}
}

func testInboxFilters(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	ctx := context.Background()
	byCat := map[string][]string{}
	var all []string
	for i := range 12 {
		cat := categories[i%3]
		m := Notify(cat, fmt.Sprint(i), "f")
		if i%4 == 3 {
			m = Broadcast(cat, fmt.Sprint(i))
		}
		id := MustPublish(t, s, m)[0].IDs[0]
		byCat[cat] = append([]string{id}, byCat[cat]...)
		all = append([]string{id}, all...)
	}
	// Read every second item, newest first; delete the oldest broadcast.
	read := map[string]bool{}
	for i := 0; i < len(all); i += 2 {
		read[all[i]] = true
	}
	markRead(t, s, "f", reddot.ReadRequest{IDs: slices.Collect(mapKeys(read))})
	deleted := all[len(all)-4] // item 3, a broadcast
	if _, err := s.Delete(ctx, "f", deleted); err != nil {
		t.Fatal(err)
	}
	expect := func(cat, status string) []string {
		var out []string
		for _, id := range all {
			if id == deleted || (cat != "" && !slices.Contains(byCat[cat], id)) ||
				(status == "read" && !read[id]) || (status == "unread" && read[id]) {
				continue
			}
			out = append(out, id)
		}
		return out
	}
	for _, cat := range []string{"", "comment", "like", "system", "none"} {
		for _, status := range []string{"", "all", "unread", "read"} {
			q := reddot.InboxQuery{Category: cat, Status: status, Limit: 2}
			items := inboxAll(t, s, "f", q)
			if got, want := ids(items), expect(cat, status); !slices.Equal(got, want) {
				t.Errorf("category %q status %q: %v, want %v", cat, status, got, want)
			}
			for _, n := range items {
				if n.Read != read[n.ID] || (cat != "" && n.Category != cat) {
					t.Errorf("category %q status %q: item %+v", cat, status, n)
				}
			}
		}
	}
	_, _, err := s.Inbox(ctx, "f", reddot.InboxQuery{Status: "bogus"})
	wantCode(t, "status bogus", err, reddot.EINVALID)
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// testConcurrentCounts publishes to users while readers mark items read and
// checks that the counters equal a recount of the inbox afterwards.
func testConcurrentCounts(t *testing.T, h Harness) {
	s := h.New(t, Options{})
	ctx := context.Background()
	const publishers, each, broadcasts = 4, 25, 10
	var pubs, readers sync.WaitGroup
	done := make(chan struct{})
	for g := range publishers {
		pubs.Go(func() {
			for i := range each {
				m := Notify(categories[(g+i)%3], "x", "c", "d")
				if err := m.Validate(reddot.Limits{}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Publish(ctx, []reddot.Message{m}); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	pubs.Go(func() {
		for i := range broadcasts {
			m := Broadcast(categories[i%3], "b")
			_ = m.Validate(reddot.Limits{})
			if _, err := s.Publish(ctx, []reddot.Message{m}); err != nil {
				t.Errorf("Publish: %v", err)
				return
			}
		}
	})
	for r := range 2 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				var req reddot.ReadRequest
				switch {
				case i%7 == 6:
					req.Category = categories[(r+i)%3]
				default:
					items, _, err := s.Inbox(ctx, "c", reddot.InboxQuery{Status: "unread", Limit: 3})
					if err != nil {
						t.Errorf("Inbox: %v", err)
						return
					}
					req.IDs = ids(items)
				}
				if _, _, err := s.MarkRead(ctx, "c", req); err != nil {
					t.Errorf("MarkRead: %v", err)
					return
				}
			}
		})
	}
	pubs.Wait()
	close(done)
	readers.Wait()
	if t.Failed() {
		return
	}
	recount := func(user string) map[string]int64 {
		out := map[string]int64{}
		for _, n := range inboxAll(t, s, user, reddot.InboxQuery{Status: "unread", Limit: 100}) {
			out[n.Category]++
		}
		return out
	}
	unread(t, s, "c", recount("c"))
	want := map[string]int64{}
	for g := range publishers {
		for i := range each {
			want[categories[(g+i)%3]]++
		}
	}
	for i := range broadcasts {
		want[categories[i%3]]++
	}
	unread(t, s, "d", want)
	unread(t, s, "d", recount("d"))
	c, _ := markRead(t, s, "c", reddot.ReadRequest{All: true})
	wantCounts(t, "c after read all", c, map[string]int64{})
	if n := len(recount("c")); n != 0 {
		t.Errorf("%d unread categories listed after read all", n)
	}
}
