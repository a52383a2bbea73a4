package httpapi_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/reddot-dev/reddot"
)

// A client that comes back with its last cursor gets exactly what was
// published while it was away, in order, over SSE and over WebSocket.
func TestResumeFromCursor(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	first := e.sse("topics=news&token=" + tok)
	e.publish(`{"topic":"news","data":{"n":1}}`)
	e.publish(`{"topic":"news","data":{"n":2}}`)
	next(t, first.events, wait)
	last := next(t, first.events, wait)
	first.close()

	var want []string
	for i := 3; i <= 7; i++ {
		want = append(want, e.publish(fmt.Sprintf(`{"topic":"news","data":{"n":%d}}`, i))[0])
	}
	want = append(want, e.publish(`{"users":["42"],"notification":{"category":"c","title":"while away"}}`)[0])

	check := func(name string, ch <-chan wireEvent) {
		t.Helper()
		for i, id := range want {
			ev := next(t, ch, wait)
			if ev.ID != id {
				t.Fatalf("%s: event %d is %s (%s seq %d), want %s", name, i, ev.ID, ev.Topic, ev.Seq, id)
			}
		}
		live := e.publish(`{"topic":"news","data":{"n":"live"}}`)[0]
		if ev := next(t, ch, wait); ev.ID != live {
			t.Fatalf("%s: after catch-up got %+v, want the live event %s", name, ev, live)
		}
		want = append(want, live)
	}
	sse := e.sse("topics=news&token="+tok, "Last-Event-ID", last.Cursor)
	check("sse", sse.events)

	ws := e.ws("token=" + tok + "&inbox=false")
	ws.send(t, `{"op":"subscribe","topics":["news"],"since":"`+last.Cursor+`","ref":1}`)
	if a := ws.answer(t); a["op"] != "ack" {
		t.Fatalf("subscribe answer %v", a)
	}
	want = want[:5] // the WebSocket asked for news only
	wsWant := append([]string{}, want...)
	for i, id := range wsWant {
		ev := next(t, ws.events, wait)
		if ev.ID != id {
			t.Fatalf("ws: event %d is %s, want %s", i, ev.ID, id)
		}
	}
}

// The inbox given in the URL's since resumes on WebSocket too.
func TestWebSocketResumeInbox(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	ws := e.ws("token=" + tok)
	e.publish(`{"users":["42"],"notification":{"category":"c","title":"one"}}`)
	ev := next(t, ws.events, wait)
	ws.c.CloseNow()
	id2 := e.publish(`{"users":["42"],"notification":{"category":"c","title":"two"}}`)[0]
	again := e.ws("token=" + tok + "&since=" + ev.Cursor)
	if got := next(t, again.events, wait); got.ID != id2 || got.Seq != 2 {
		t.Fatalf("resumed with %+v, want %s", got, id2)
	}
}

func TestResetWhenCursorIsPastRetention(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	bogus := reddot.Cursor{Epoch: e.store.Epoch() + 1, Positions: []reddot.Position{{Topic: "news", Seq: 1}}}.Encode("42")
	s := e.sse("topics=news&inbox=false&token="+tok, "Last-Event-ID", bogus)
	if ev := next(t, s.events, wait); ev.Event != "reset" || ev.Topic != "news" {
		t.Fatalf("want reset, got %+v", ev)
	}
	id := e.publish(`{"topic":"news","data":1}`)[0]
	if ev := next(t, s.events, wait); ev.ID != id {
		t.Fatalf("after reset got %+v", ev)
	}
}

// The SSE preamble carries the starting cursor as an id, so a client that
// drops before its first event resumes from where it connected.
func TestSSEPreambleIDResumes(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	resp, err := http.Get(e.srv.URL + "/v1/sse?topics=news&inbox=false&token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	var id string
	for id == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
			id = v
		}
	}
	resp.Body.Close()
	want := e.publish(`{"topic":"news","data":"missed"}`)[0]
	s := e.sse("topics=news&inbox=false&token="+tok, "Last-Event-ID", id)
	if ev := next(t, s.events, wait); ev.ID != want {
		t.Fatalf("resumed with %+v, want %s", ev, want)
	}
}
