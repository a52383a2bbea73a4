package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// Acknowledged publishes survive kill -9: all of them are in the inbox
// and in resume after a restart.
func TestKill9KeepsEveryAcknowledgedPublish(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	tok := token(t, "42")
	_, start := s.pollAll(t, "topics=news", tok, "")

	const target = 1000
	var (
		mu     sync.Mutex
		acked  = map[string]string{} // id → kind
		count  atomic.Int64
		killed = make(chan struct{})
		wg     sync.WaitGroup
	)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				default:
				}
				kind, body := "topic", fmt.Sprintf(`{"topic":"news","data":{"w":%d,"i":%d}}`, w, i)
				if i%2 == 1 {
					kind, body = "inbox", fmt.Sprintf(`{"users":["42"],"notification":{"category":"c%d","title":"w%d i%d"}}`, w%3, w, i)
				}
				ids, err := s.publish(t, body)
				if err != nil {
					return // the server died under us: this one was never acknowledged
				}
				mu.Lock()
				for _, id := range ids {
					acked[id] = kind
				}
				mu.Unlock()
				if count.Add(1) == target {
					s.kill()
					close(killed)
				}
			}
		}(w)
	}
	wg.Wait()
	if count.Load() < target {
		t.Fatalf("only %d publishes acknowledged before the server stopped: %s", count.Load(), s.logs())
	}

	s2 := startServer(t, dir)
	events, _ := s2.pollAll(t, "topics=news", tok, start)
	seen := map[string]int{}
	for _, ev := range events {
		seen[ev.ID]++
	}
	var inboxAcked int
	for id, kind := range acked {
		if kind == "inbox" {
			inboxAcked++
		}
		if seen[id] != 1 {
			t.Fatalf("acknowledged %s event %s seen %d times in resume", kind, id, seen[id])
		}
	}
	var unread struct{ Total int }
	s2.getJSON(t, "/v1/inbox/unread", tok, &unread)
	if unread.Total < inboxAcked {
		t.Fatalf("unread total %d < %d acknowledged notifications", unread.Total, inboxAcked)
	}
	inbox := map[string]bool{}
	before := ""
	for {
		var page struct {
			Items []struct{ ID string } `json:"items"`
			Next  string                `json:"next"`
		}
		s2.getJSON(t, "/v1/inbox?limit=100&before="+before, tok, &page)
		for _, it := range page.Items {
			inbox[it.ID] = true
		}
		if page.Next == "" {
			break
		}
		before = page.Next
	}
	for id, kind := range acked {
		if kind == "inbox" && !inbox[id] {
			t.Fatalf("acknowledged notification %s missing from the inbox", id)
		}
	}
	t.Logf("%d acknowledged publishes (%d notifications) all recovered after kill -9", len(acked), inboxAcked)
}

// Resume by cursor works across a restart, over SSE and WebSocket.
func TestResumeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	tok := token(t, "42")
	ctx, cancel := context.WithCancel(context.Background())
	stream := sseStream(t, ctx, s.URL+"/v1/sse?topics=news&token="+tok, "")
	for i := 0; i < 2; i++ {
		if _, err := s.publish(t, fmt.Sprintf(`{"topic":"news","data":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	recv(t, stream)
	last := recv(t, stream)
	cancel()

	var want []string
	add := func(srv *server, body string) {
		ids, err := srv.publish(t, body)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ids...)
	}
	add(s, `{"topic":"news","data":"away 1"}`)
	add(s, `{"users":["42"],"notification":{"category":"c","title":"while away"}}`)
	if code := s.stop(); code != 0 {
		t.Fatalf("SIGTERM exit code %d: %s", code, s.logs())
	}
	s2 := startServer(t, dir)
	add(s2, `{"topic":"news","data":"away 2"}`)

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	again := sseStream(t, ctx2, s2.URL+"/v1/sse?topics=news&token="+tok, last.Cursor)
	// Order is per topic (seq); across topics the streams interleave.
	gotSSE := map[string]event{}
	for range want {
		ev := recv(t, again)
		if _, dup := gotSSE[ev.ID]; dup {
			t.Fatalf("sse duplicate %s", ev.ID)
		}
		gotSSE[ev.ID] = ev
	}
	if a, b := gotSSE[want[0]], gotSSE[want[2]]; a.Seq != 3 || b.Seq != 4 || a.Topic != "news" {
		t.Fatalf("news resumed as %+v then %+v, want seq 3 and 4", a, b)
	}
	if n := gotSSE[want[1]]; n.Topic != "user:42" || n.Event != "notification" {
		t.Fatalf("notification while away: %+v", n)
	}

	wsURL := "ws" + strings.TrimPrefix(s2.URL, "http") + "/v1/ws?token=" + url.QueryEscape(tok) + "&since=" + url.QueryEscape(last.Cursor)
	c, _, err := websocket.Dial(ctx2, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// The URL's since resumes the inbox; news joins with the same cursor.
	if err := wsjson.Write(ctx2, c, map[string]any{"op": "subscribe", "topics": []string{"news"}, "since": last.Cursor, "ref": 1}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	deadline, cancel3 := context.WithTimeout(ctx2, 10*time.Second)
	defer cancel3()
	for len(got) < len(want) {
		var f event
		var frame map[string]any
		if err := wsjson.Read(deadline, c, &frame); err != nil {
			t.Fatalf("ws read after %d events: %v", len(got), err)
		}
		if frame["op"] != "event" {
			continue
		}
		f.ID, _ = frame["id"].(string)
		if got[f.ID] {
			t.Fatalf("ws duplicate %s", f.ID)
		}
		got[f.ID] = true
	}
	for _, id := range want {
		if !got[id] {
			t.Fatalf("ws missed %s", id)
		}
	}
}

func TestStartFailsClearly(t *testing.T) {
	s := startServer(t, t.TempDir())
	cases := map[string][]string{
		"taken port":     {"serve", "--http-addr", s.addr, "--mqtt-addr", "off", "--data-dir", t.TempDir()},
		"bad value":      {"serve", "--heartbeat", "soon", "--data-dir", t.TempDir()},
		"bad store":      {"serve", "--store", "mysql://x", "--data-dir", t.TempDir()},
		"unusable dir":   {"serve", "--http-addr", "127.0.0.1:0", "--mqtt-addr", "off", "--data-dir", "/proc/reddot-cannot-write"},
		"unknown option": {"serve", "--no-such-flag"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errb strings.Builder
			code := run(args, &out, &errb)
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			last := lines[len(lines)-1]
			if code == 0 || !strings.HasPrefix(last, "reddot: ") {
				t.Fatalf("exit %d, stderr %q", code, errb.String())
			}
		})
	}
}
