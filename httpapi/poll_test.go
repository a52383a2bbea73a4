package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/httpapi"
	"github.com/reddot-dev/reddot/sqlite"
)

// A poll without since starts at the head: no history, and a cursor from
// which the next poll gets exactly what came after.
func TestShortPollWithoutSinceStartsAtHead(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	e.publish(`{"topic":"news","data":"old"}`)
	a := e.pollGet("/v1/poll?topics=news&token=" + tok)
	if a.status != 200 || len(a.events) != 0 || a.cursor == "" {
		t.Fatalf("first poll: %d %s", a.status, a.body)
	}
	if got := a.header.Get(httpapi.CursorHeader); got != a.cursor {
		t.Fatalf("%s header %q, body cursor %q", httpapi.CursorHeader, got, a.cursor)
	}
	if a.header.Get("ETag") == "" || a.header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("headers %v", a.header)
	}
	id := e.publish(`{"topic":"news","data":"new"}`)[0]
	b := e.pollGet("/v1/poll?topics=news&token=" + tok + "&since=" + a.cursor)
	if b.status != 200 || len(b.events) != 1 || b.events[0].ID != id || b.events[0].Seq != 2 {
		t.Fatalf("second poll: %d %s", b.status, b.body)
	}
	if ev := b.events[0]; ev.Cursor != b.cursor || ev.Topic != "news" || ev.Event != "message" || string(ev.Data) != `"new"` {
		t.Fatalf("event %+v, answer cursor %q", ev, b.cursor)
	}
}

// A client polling every second gets 304 and no body while nothing
// changed, with the ETag and the cursor in the headers.
func TestShortPollNotModified(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	head := e.pollGet("/v1/poll?topics=news&token=" + tok)
	q := "/v1/poll?topics=news&token=" + tok + "&since=" + head.cursor
	first := e.pollGet(q)
	etag := first.header.Get("ETag")
	if first.status != 200 || etag == "" || len(first.events) != 0 {
		t.Fatalf("first: %d %q %s", first.status, etag, first.body)
	}
	for _, match := range []string{etag, "W/" + etag, `"x", ` + etag, "*"} {
		a := e.pollGet(q, "If-None-Match", match)
		if a.status != 304 || len(a.body) != 0 {
			t.Fatalf("If-None-Match %s: %d %q, want 304 with no body", match, a.status, a.body)
		}
		if a.header.Get("ETag") != etag || a.header.Get(httpapi.CursorHeader) != head.cursor {
			t.Fatalf("304 headers: %v", a.header)
		}
	}
	if a := e.pollGet(q, "If-None-Match", `"something-else"`); a.status != 200 {
		t.Fatalf("foreign ETag: %d", a.status)
	}
	// The same URL a browser cache revalidates: no since, so the head moves.
	plain := e.pollGet("/v1/poll?topics=news&token=" + tok)
	if a := e.pollGet("/v1/poll?topics=news&token="+tok, "If-None-Match", plain.header.Get("ETag")); a.status != 304 {
		t.Fatalf("unchanged head: %d", a.status)
	}

	id := e.publish(`{"topic":"news","data":1}`)[0]
	a := e.pollGet(q, "If-None-Match", etag)
	if a.status != 200 || len(a.events) != 1 || a.events[0].ID != id || a.header.Get("ETag") == etag {
		t.Fatalf("after a publish: %d %s etag %q", a.status, a.body, a.header.Get("ETag"))
	}
	if b := e.pollGet("/v1/poll?topics=news&token="+tok, "If-None-Match", plain.header.Get("ETag")); b.status != 200 {
		t.Fatalf("moved head: %d", b.status)
	}
	// Following the cursor: empty once, then 304 again.
	next := e.pollGet("/v1/poll?topics=news&token=" + tok + "&since=" + a.cursor)
	if b := e.pollGet("/v1/poll?topics=news&token="+tok+"&since="+a.cursor, "If-None-Match", next.header.Get("ETag")); b.status != 304 {
		t.Fatalf("caught up: %d %s", b.status, b.body)
	}
}

// After 30 publishes a client following cursors gets exactly those 30, in
// seq order per topic, whatever the page size, and no answer is larger
// than a page.
func TestShortPollFollowsCursors(t *testing.T) {
	for _, page := range []int{0, 7, 1} {
		t.Run(fmt.Sprintf("page=%d", page), func(t *testing.T) {
			e := newEnv(t, withHTTPOpts(func(o *httpapi.Options) { o.PollPage = page }))
			if page == 0 {
				page = 100 // the default
			}
			tok := e.token("42")
			cursor := e.pollGet("/v1/poll?topics=news,sport&token=" + tok).cursor
			want := map[string][]string{} // per topic, in publish order
			for i := range 30 {
				if i%10 == 9 {
					want["user:42"] = append(want["user:42"], e.publish(`{"users":["42"],"notification":{"category":"c","title":"t"}}`)...)
					continue
				}
				topic := []string{"news", "sport"}[i%3/2]
				want[topic] = append(want[topic], e.publish(fmt.Sprintf(`{"topic":%q,"data":{"n":%d}}`, topic, i))...)
			}
			var got []wireEvent
			answers := 0
			for {
				a := e.pollGet("/v1/poll?topics=news,sport&token=" + tok + "&since=" + cursor)
				if a.status != 200 {
					t.Fatalf("poll: %d %s", a.status, a.body)
				}
				if len(a.events) > page {
					t.Fatalf("answer of %d events, page is %d", len(a.events), page)
				}
				if len(a.events) == 0 {
					if a.cursor != cursor {
						t.Fatalf("an empty answer moved the cursor")
					}
					break
				}
				if last := a.events[len(a.events)-1]; last.Cursor != a.cursor {
					t.Fatalf("answer cursor %q is not the last event's %q", a.cursor, last.Cursor)
				}
				answers++
				got = append(got, a.events...)
				cursor = a.cursor
			}
			if len(got) != 30 {
				t.Fatalf("got %d events, want 30: %v", len(got), eventIDs(got))
			}
			if wantAnswers := (30 + page - 1) / page; answers != wantAnswers {
				t.Fatalf("%d answers, want %d", answers, wantAnswers)
			}
			perTopic := map[string][]string{}
			for _, ev := range got {
				perTopic[ev.Topic] = append(perTopic[ev.Topic], ev.ID)
				if n := uint64(len(perTopic[ev.Topic])); ev.Seq != n {
					t.Fatalf("%s seq %d, want %d", ev.Topic, ev.Seq, n)
				}
			}
			for topic, ids := range want {
				if !slices.Equal(perTopic[topic], ids) {
					t.Fatalf("%s: got %v, want %v", topic, perTopic[topic], ids)
				}
			}
		})
	}
}

// Publishing while a client polls in a tight loop loses and repeats nothing.
func TestShortPollDuringPublishes(t *testing.T) {
	e := newEnv(t, withHTTPOpts(func(o *httpapi.Options) { o.PollPage = 4 }))
	tok := e.token("42")
	cursor := e.pollGet("/v1/poll?topics=news&inbox=false&token=" + tok).cursor
	var (
		mu   sync.Mutex
		want []string
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := range 30 {
			id := e.publish(fmt.Sprintf(`{"topic":"news","data":%d}`, i))[0]
			mu.Lock()
			want = append(want, id)
			mu.Unlock()
		}
	}()
	var got []string
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 30 && time.Now().Before(deadline) {
		a := e.pollGet("/v1/poll?topics=news&inbox=false&token=" + tok + "&since=" + cursor)
		if a.status != 200 {
			t.Fatalf("poll: %d %s", a.status, a.body)
		}
		got = append(got, eventIDs(a.events)...)
		cursor = a.cursor
	}
	<-done
	if a := e.pollGet("/v1/poll?topics=news&inbox=false&token=" + tok + "&since=" + cursor); len(a.events) != 0 {
		t.Fatalf("%d more events after all 30", len(a.events))
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// The unread count a one-second poll asks for: 304 while unchanged, 200
// as soon as a notification arrives or a read changes it.
func TestUnreadPollNotModified(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	q := "/v1/inbox/unread?token=" + tok
	unread := func(etag string) (int, int64, string) {
		t.Helper()
		a := e.pollGet(q, "If-None-Match", etag)
		var c struct{ Total int64 }
		if a.status == 200 {
			if err := json.Unmarshal(a.body, &c); err != nil {
				t.Fatalf("body %s: %v", a.body, err)
			}
		} else if len(a.body) != 0 {
			t.Fatalf("%d with a body: %q", a.status, a.body)
		}
		return a.status, c.Total, a.header.Get("ETag")
	}
	st, total, etag := unread("")
	if st != 200 || total != 0 || etag == "" {
		t.Fatalf("first: %d total %d etag %q", st, total, etag)
	}
	for range 3 {
		if st, _, tag := unread(etag); st != 304 || tag != etag {
			t.Fatalf("unchanged: %d etag %q, want 304 %q", st, tag, etag)
		}
	}
	id := e.publish(`{"users":["42"],"notification":{"category":"c","title":"n"}}`)[0]
	e.publish(`{"users":["7"],"notification":{"category":"c","title":"someone else's"}}`)
	st, total, etag2 := unread(etag)
	if st != 200 || total != 1 || etag2 == etag {
		t.Fatalf("after a notification: %d total %d", st, total)
	}
	if st, _, _ := unread(etag2); st != 304 {
		t.Fatalf("unchanged again: %d", st)
	}
	if st, b, _ := e.do("POST", "/v1/inbox/read", tok, `{"ids":["`+id+`"]}`); st != 200 {
		t.Fatalf("read: %d %s", st, b)
	}
	if st, total, _ := unread(etag2); st != 200 || total != 0 {
		t.Fatalf("after the read: %d total %d", st, total)
	}
}

// A cursor from before what is retained gets 410 with the contract's error
// body, on both polls.
func TestPollGoneWhenCursorIsPastRetention(t *testing.T) {
	e := newEnvStore(t, sqlite.Options{Retention: reddot.Retention{MaxEvents: 3}})
	tok := e.token("42")
	cursor := e.pollGet("/v1/poll?topics=news&token=" + tok).cursor
	for i := range 5 {
		e.publish(fmt.Sprintf(`{"topic":"news","data":%d}`, i))
	}
	for _, path := range []string{"/v1/poll", "/v1/longpoll"} {
		a := e.pollGet(path + "?topics=news&timeout=5&token=" + tok + "&since=" + cursor)
		var body struct {
			Error struct{ Code, Message string }
		}
		if a.status != 410 || json.Unmarshal(a.body, &body) != nil || body.Error.Code != reddot.EGONE || body.Error.Message == "" {
			t.Fatalf("%s: %d %s, want 410 with code %q", path, a.status, a.body, reddot.EGONE)
		}
	}
	// A cursor of another store epoch is past retention too.
	bogus := reddot.Cursor{Epoch: e.store.Epoch() + 1, Positions: []reddot.Position{{Topic: "news", Seq: 1}}}.Encode("42")
	if a := e.pollGet("/v1/poll?topics=news&token=" + tok + "&since=" + bogus); a.status != 410 {
		t.Fatalf("foreign epoch: %d %s", a.status, a.body)
	}
	// Starting over without since works and sees the next event.
	head := e.pollGet("/v1/poll?topics=news&token=" + tok)
	id := e.publish(`{"topic":"news","data":"after"}`)[0]
	if a := e.pollGet("/v1/poll?topics=news&token=" + tok + "&since=" + head.cursor); len(a.events) != 1 || a.events[0].ID != id {
		t.Fatalf("after starting over: %d %s", a.status, a.body)
	}
}

// Anonymous polls of public topics may be shared by a CDN; a subscriber's
// own answers stay private. Cross-origin scripts can read the cursor header.
func TestPollCacheHintsAndCORS(t *testing.T) {
	e := newEnv(t, func(o *httpapi.Options, a *authOptions) {
		o.PublicCacheTTL = 5 * time.Second
		a.AllowAnonymous = true
	})
	anon := e.pollGet("/v1/poll?topics=news", "Origin", "https://app.example")
	if anon.status != 200 || anon.header.Get("Cache-Control") != "public, max-age=5" {
		t.Fatalf("anonymous: %d %v", anon.status, anon.header)
	}
	if exp := anon.header.Get("Access-Control-Expose-Headers"); !strings.Contains(exp, httpapi.CursorHeader) || !strings.Contains(exp, "ETag") {
		t.Fatalf("exposed headers %q", exp)
	}
	user := e.pollGet("/v1/poll?topics=news&token=" + e.token("42"))
	if user.header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("subscriber: %v", user.header)
	}
	if a := e.pollGet("/v1/poll?topics=private:x"); a.status != 401 && a.status != 403 {
		t.Fatalf("anonymous private topic: %d", a.status)
	}
	if a := e.pollGet("/v1/poll?topics=private:x&token=" + e.token("42")); a.status != 403 {
		t.Fatalf("private topic without grant: %d", a.status)
	}
}

// BenchmarkShortPoll is the cost of one poll of a client that is up to
// date, client and server in this process: with a matching ETag (304, what
// a polling browser sends) and without (200 with an empty page), and the
// unread count's 304. wire-B/op is the answer's size on the wire.
func BenchmarkShortPoll(b *testing.B) {
	e := newEnv(b)
	tok := e.token("42")
	head := e.pollGet("/v1/poll?topics=news&token=" + tok)
	poll := "/v1/poll?topics=news&token=" + tok + "&since=" + head.cursor
	etag := e.pollGet(poll).header.Get("ETag")
	unread := "/v1/inbox/unread?token=" + tok
	unreadTag := e.pollGet(unread).header.Get("ETag")
	client := &http.Client{}
	for _, c := range []struct{ name, path, etag string }{
		{"poll-304", poll, etag},
		{"poll-200", poll, ""},
		{"unread-304", unread, unreadTag},
	} {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", e.srv.URL+c.path, nil)
			if c.etag != "" {
				req.Header.Set("If-None-Match", c.etag)
			}
			var wire int
			for b.Loop() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				dump, _ := httputil.DumpResponse(resp, true)
				wire = len(dump)
				resp.Body.Close()
				if want := map[bool]int{true: 304, false: 200}[c.etag != ""]; resp.StatusCode != want {
					b.Fatalf("status %d, want %d", resp.StatusCode, want)
				}
			}
			b.ReportMetric(float64(wire), "wire-B/op")
		})
	}
}
