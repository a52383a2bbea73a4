package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"
)

const wait = 5 * time.Second

func counts(t *testing.T, e *env, tok string) (total int64, cats map[string]int64) {
	t.Helper()
	st, b, _ := e.do("GET", "/v1/inbox/unread", tok, "")
	if st != 200 {
		t.Fatalf("unread: %d %s", st, b)
	}
	var c struct {
		Total      int64            `json:"total"`
		Categories map[string]int64 `json:"categories"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Total, c.Categories
}

// Every connection of a user receives the notification with the new
// counts; other users receive nothing.
func TestNotificationReachesEveryConnectionOfTheUser(t *testing.T) {
	e := newEnv(t)
	t42, t7 := e.token("42"), e.token("7")
	sseA, sseB := e.sse("token="+t42), e.sse("token="+t42)
	ws := e.ws("token=" + t42)
	other := e.sse("token=" + t7)

	ids := e.publish(`{"users":["42"],"notification":{"category":"comment","title":"hello"}}`)
	for name, ch := range map[string]<-chan wireEvent{"sse A": sseA.events, "sse B": sseB.events, "ws": ws.events} {
		ev := next(t, ch, wait)
		if ev.Event != "notification" || ev.ID != ids[0] || ev.Topic != "user:42" || ev.Seq != 1 {
			t.Fatalf("%s got %+v", name, ev)
		}
		if got := ev.unreadTotal(t); got != 1 {
			t.Fatalf("%s unread total = %d, want 1", name, got)
		}
	}
	// User 7's first event is its own notification: nothing of 42's came before it.
	ids7 := e.publish(`{"users":["7"],"notification":{"category":"comment","title":"for 7"}}`)
	if ev := next(t, other.events, wait); ev.ID != ids7[0] {
		t.Fatalf("user 7 received %+v before its own notification", ev)
	}
}

func TestCountsPerCategoryAndUnreadSync(t *testing.T) {
	e := newEnv(t)
	t42, t7 := e.token("42"), e.token("7")
	c1 := e.publish(`{"users":["42"],"notification":{"category":"comment","title":"c1"}}`)[0]
	e.publish(`{"users":["42","7"],"notification":{"category":"comment","title":"c2"}}`)
	e.publish(`{"users":["42"],"notification":{"category":"system","title":"s1"}}`)

	if total, cats := counts(t, e, t42); total != 3 || cats["comment"] != 2 || cats["system"] != 1 {
		t.Fatalf("42: total=%d cats=%v", total, cats)
	}
	if total, _ := counts(t, e, t7); total != 1 {
		t.Fatalf("7: total=%d", total)
	}

	tab := e.sse("token=" + t42)
	phone := e.ws("token=" + t42)
	phone.send(t, `{"op":"read","ids":["`+c1+`"],"ref":7}`)
	ack := phone.answer(t)
	if ack["op"] != "ack" || ack["ref"] != float64(7) {
		t.Fatalf("read ack = %v", ack)
	}
	for name, ch := range map[string]<-chan wireEvent{"tab": tab.events, "phone": phone.events} {
		ev := nextOf(t, ch, wait, "unread")
		if ev.unreadTotal(t) != 2 || ev.Seq != 0 {
			t.Fatalf("%s unread event %+v", name, ev)
		}
	}

	// A broadcast counts for everyone.
	e.publish(`{"audience":"all","notification":{"category":"news","title":"hello all"}}`)
	if ev := nextOf(t, tab.events, wait, "notification"); ev.Topic != "broadcast" || ev.unreadTotal(t) != 3 {
		t.Fatalf("broadcast on tab: %+v", ev)
	}
	if total, cats := counts(t, e, t7); total != 2 || cats["news"] != 1 {
		t.Fatalf("7 after broadcast: total=%d cats=%v", total, cats)
	}
	// A read by user 7 touches nobody else.
	if st, b, _ := e.do("POST", "/v1/inbox/read", t7, `{"all":true}`); st != 200 {
		t.Fatalf("read all: %d %s", st, b)
	}
	if total, _ := counts(t, e, t7); total != 0 {
		t.Fatalf("7 after read all: %d", total)
	}
	if total, cats := counts(t, e, t42); total != 3 || cats["news"] != 1 {
		t.Fatalf("42 after 7 read all: total=%d cats=%v", total, cats)
	}
	// Read by category, then the list agrees with the counts.
	if st, b, _ := e.do("POST", "/v1/inbox/read", t42, `{"category":"news"}`); st != 200 {
		t.Fatalf("read category: %d %s", st, b)
	}
	st, b, _ := e.do("GET", "/v1/inbox?status=unread", t42, "")
	var page struct {
		Items []struct{ Category string } `json:"items"`
	}
	if st != 200 || json.Unmarshal(b, &page) != nil || len(page.Items) != 2 {
		t.Fatalf("unread list: %d %s", st, b)
	}
	if ev := nextOf(t, tab.events, wait, "unread"); ev.unreadTotal(t) != 2 {
		t.Fatalf("unread after category read: %+v", ev)
	}
}

func TestInboxPagingAndDelete(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	for i := 0; i < 5; i++ {
		e.publish(`{"users":["42"],"notification":{"category":"c","title":"n"}}`)
	}
	var seen []string
	before := ""
	for {
		st, b, _ := e.do("GET", "/v1/inbox?limit=2&before="+before, tok, "")
		var page struct {
			Items []struct{ ID string } `json:"items"`
			Next  string                `json:"next"`
		}
		if st != 200 || json.Unmarshal(b, &page) != nil {
			t.Fatalf("%d %s", st, b)
		}
		for _, it := range page.Items {
			seen = append(seen, it.ID)
		}
		if page.Next == "" {
			break
		}
		before = page.Next
	}
	if len(seen) != 5 {
		t.Fatalf("paged %d items, want 5", len(seen))
	}
	if st, b, _ := e.do("DELETE", "/v1/inbox/"+seen[0], tok, ""); st != 204 {
		t.Fatalf("delete: %d %s", st, b)
	}
	if total, _ := counts(t, e, tok); total != 4 {
		t.Fatalf("after delete total = %d", total)
	}
	if st, _, _ := e.do("DELETE", "/v1/inbox/"+seen[0], tok, ""); st != 404 {
		t.Fatalf("second delete: %d, want 404", st)
	}
}

func TestUnreadETag(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	st, _, h := e.do("GET", "/v1/inbox/unread", tok, "")
	etag := h.Get("ETag")
	if st != 200 || etag == "" {
		t.Fatalf("status %d etag %q", st, etag)
	}
	req := func() int {
		r, _ := newReq("GET", e.srv.URL+"/v1/inbox/unread", tok)
		r.Header.Set("If-None-Match", etag)
		return mustStatus(t, r)
	}
	if got := req(); got != 304 {
		t.Fatalf("unchanged counts: %d, want 304", got)
	}
	e.publish(`{"users":["42"],"notification":{"category":"c","title":"n"}}`)
	if got := req(); got != 200 {
		t.Fatalf("changed counts: %d, want 200", got)
	}
}
