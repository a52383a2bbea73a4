package mqttbridge_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
)

var transports = []string{"tcp", "ws"}

// forEach runs f once over TCP and once over WebSocket at /mqtt.
func forEach(t *testing.T, f func(t *testing.T, tr string)) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}

func TestHTTPPublishReachesMQTT(t *testing.T) {
	forEach(t, func(t *testing.T, tr string) {
		s := newStack(t, t.TempDir())
		tok := s.token("42")
		c := s.dial(dialOpts{transport: tr, id: "phone", password: tok, clean: true})
		c.mustSubscribe(t, 1, "reddot/topics/news")

		s.publish(`{"topic":"news","data":{"n":1}}`)
		ev := next(t, c.msgs)
		if ev.mqttTopic != "reddot/topics/news" || ev.Topic != "news" || ev.Seq != 1 || ev.Event != "message" ||
			string(ev.Data) != `{"n":1}` || ev.ID == "" || ev.Time == "" || ev.Cursor == "" {
			t.Fatalf("got %+v", ev)
		}

		// The cursor is a real reddot cursor: HTTP resumes right after it.
		s.publish(`{"topic":"news","data":{"n":2}}`)
		if ev := next(t, c.msgs); ev.Seq != 2 {
			t.Fatalf("want seq 2, got %+v", ev)
		}
		st, body := s.do("GET", "/v1/poll?inbox=false&topics=news&since="+url.QueryEscape(ev.Cursor), tok, "")
		var page struct{ Events []event }
		if err := json.Unmarshal(body, &page); st != 200 || err != nil || len(page.Events) != 1 || page.Events[0].Seq != 2 {
			t.Fatalf("poll since the MQTT cursor: %d %s", st, body)
		}
	})
}

func TestMQTTPublishIsStoredAndDeliveredOnce(t *testing.T) {
	forEach(t, func(t *testing.T, tr string) {
		s := newStack(t, t.TempDir())
		sse := s.sse("inbox=false&topics=news", s.token("7"))
		other := s.dial(dialOpts{transport: tr, id: "other", password: s.token("7"), clean: true})
		other.mustSubscribe(t, 0, "reddot/topics/news")
		pub := s.dial(dialOpts{transport: tr, id: "pub", password: s.token("42", "publish:news"), clean: true})
		pub.mustSubscribe(t, 1, "reddot/topics/news")

		pub.publish(t, "reddot/topics/news", 1, `{"text":"hi"}`)

		ev := next(t, sse)
		if ev.Topic != "news" || ev.Seq != 1 || ev.Cursor == "" || string(ev.Data) != `{"text":"hi"}` {
			t.Fatalf("sse got %+v", ev)
		}
		for name, c := range map[string]*client{"publisher": pub, "other": other} {
			if ev := next(t, c.msgs); ev.Seq != 1 || ev.ID == "" || string(ev.Data) != `{"text":"hi"}` {
				t.Fatalf("%s got %+v", name, ev)
			}
		}
		// Plain text becomes a JSON string.
		pub.publish(t, "reddot/topics/news", 0, `plain text`)
		if ev := next(t, sse); ev.Seq != 2 || string(ev.Data) != `"plain text"` {
			t.Fatalf("sse got %+v", ev)
		}
		// Exactly once: the next message after each is the next event.
		s.publish(`{"topic":"news","data":"barrier"}`)
		for name, c := range map[string]*client{"publisher": pub, "other": other} {
			for _, want := range []uint64{2, 3} {
				if ev := next(t, c.msgs); ev.Seq != want {
					t.Fatalf("%s: want seq %d, got %+v", name, want, ev)
				}
			}
		}
	})
}

func TestSubscribeACL(t *testing.T) {
	forEach(t, func(t *testing.T, tr string) {
		s := newStack(t, t.TempDir())
		c := s.dial(dialOpts{transport: tr, id: "phone", password: s.token("42"), clean: true})
		refused := []string{
			"reddot/users/7/inbox", "reddot/users/+/inbox", "reddot/#", "#", "+/users/42/inbox",
			"reddot/topics/private:x", "reddot/topics/user:7", "$SYS/#", "elsewhere",
		}
		for _, f := range refused {
			if code := c.subscribe(t, 1, f)[f]; code != 0x80 {
				t.Errorf("subscribe %s: SUBACK 0x%02x, want 0x80", f, code)
			}
		}
		// The connection stays up: own inbox, broadcast and public topics work.
		c.mustSubscribe(t, 1, "reddot/users/42/inbox", "reddot/broadcast", "reddot/topics/news")
		s.publish(`{"users":["42","7"],"notification":{"category":"comment","title":"hello"}}`)
		ev := next(t, c.msgs)
		var data struct {
			Title  string
			Unread struct{ Total int64 }
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil || ev.mqttTopic != "reddot/users/42/inbox" ||
			ev.Topic != "user:42" || ev.Event != "notification" || data.Title != "hello" || data.Unread.Total != 1 {
			t.Fatalf("inbox got %+v (%v)", ev, err)
		}
		// A read elsewhere updates the counts on every connection.
		if st, b := s.do("POST", "/v1/inbox/read", s.token("42"), `{"all":true}`); st != 200 {
			t.Fatalf("read: %d %s", st, b)
		}
		if ev := next(t, c.msgs); ev.mqttTopic != "reddot/users/42/inbox" || ev.Event != "unread" {
			t.Fatalf("want unread, got %+v", ev)
		}
		s.publish(`{"audience":"all","notification":{"title":"to all"}}`)
		if ev := next(t, c.msgs); ev.mqttTopic != "reddot/broadcast" || ev.Topic != "broadcast" || ev.Event != "notification" {
			t.Fatalf("want broadcast, got %+v", ev)
		}
	})
}

func TestPublishWithoutGrantReachesNobody(t *testing.T) {
	forEach(t, func(t *testing.T, tr string) {
		s := newStack(t, t.TempDir())
		sse := s.sse("inbox=false&topics=news", s.token("7"))
		backend := s.dial(dialOpts{transport: tr, id: "backend", password: testKey, clean: true})
		backend.mustSubscribe(t, 1, "reddot/topics/news", "reddot/users/42/inbox")
		c := s.dial(dialOpts{transport: tr, id: "phone", password: s.token("42", "publish:other"), clean: true})
		c.mustSubscribe(t, 1, "reddot/topics/news")

		// MQTT 3.1.1 cannot refuse a PUBLISH: it is acknowledged and dropped.
		c.publish(t, "reddot/topics/news", 1, `{"evil":true}`)
		c.publish(t, "reddot/topics/news", 0, `{"evil":true}`)
		c.publish(t, "reddot/users/42/inbox", 1, `{"evil":true}`)
		c.publish(t, "reddot/broadcast", 1, `{"evil":true}`)
		s.publish(`{"topic":"news","data":"barrier"}`)
		for name, ch := range map[string]<-chan event{"sse": sse, "backend": backend.msgs, "publisher": c.msgs} {
			if ev := next(t, ch); ev.Seq != 1 || string(ev.Data) != `"barrier"` {
				t.Fatalf("%s: the refused publish arrived: %+v", name, ev)
			}
		}
		// An API key may publish anywhere that is not reserved.
		backend.publish(t, "reddot/topics/news", 1, `"from backend"`)
		if ev := next(t, sse); ev.Seq != 2 || string(ev.Data) != `"from backend"` {
			t.Fatalf("sse got %+v", ev)
		}
		select {
		case err := <-c.lost:
			t.Fatalf("connection lost: %v", err)
		default:
		}
	})
}

func TestBadCredentialsCannotConnect(t *testing.T) {
	forEach(t, func(t *testing.T, tr string) {
		s := newStack(t, t.TempDir())
		for _, tc := range []struct {
			password string
			code     byte
		}{
			{"not-a-token", 0x04},
			{s.token("42")[:40] + "x", 0x04},
			{"", 0x05}, // no credentials and anonymous access is off
		} {
			c, tok := s.connect(dialOpts{transport: tr, id: "x", password: tc.password, clean: true})
			ct := tok.(interface{ ReturnCode() byte })
			if tok.Error() == nil || ct.ReturnCode() != tc.code {
				c.c.Disconnect(0)
				t.Errorf("password %q: err %v, return code %d, want %d", tc.password, tok.Error(), ct.ReturnCode(), tc.code)
			}
		}
	})
}

func TestSameClientIDOfTwoUsersAreTwoSessions(t *testing.T) {
	s := newStack(t, t.TempDir())
	a := s.dial(dialOpts{transport: "tcp", id: "device1", password: s.token("42"), clean: true})
	b := s.dial(dialOpts{transport: "ws", id: "device1", password: s.token("7"), clean: true})
	a.mustSubscribe(t, 1, "reddot/broadcast")
	b.mustSubscribe(t, 1, "reddot/broadcast")
	s.publish(`{"audience":"all","notification":{"title":"both"}}`)
	for i, c := range []*client{a, b} {
		if ev := next(t, c.msgs); ev.Event != "notification" {
			t.Fatalf("client %d got %+v", i, ev)
		}
	}
	if !a.c.IsConnected() || !b.c.IsConnected() {
		t.Fatal("one client took the other's session over")
	}
}

func TestPersistentSessionResumesAcrossRestart(t *testing.T) {
	forEach(t, func(t *testing.T, tr string) {
		dir := t.TempDir()
		s := newStack(t, dir)
		tok := s.token("42")
		dev := dialOpts{transport: tr, id: "sensor-1", password: tok, clean: false}
		c := s.dial(dev)
		c.mustSubscribe(t, 1, "reddot/topics/news", "reddot/users/42/inbox")
		c.c.Disconnect(100)

		publish5 := func(s *stack, from int) {
			for i := from; i < from+5; i++ {
				s.publish(fmt.Sprintf(`{"topic":"news","data":%d}`, i))
			}
		}
		expect5 := func(c *client, from uint64) {
			t.Helper()
			for want := from; want < from+5; {
				ev := next(t, c.msgs)
				if ev.Topic == "news" && ev.Seq < from {
					// paho had not sent its PUBACK before disconnecting:
					// QoS 1 delivers again (protocol_test.go shows the exact case).
					continue
				}
				if ev.Seq != want || ev.Topic != "news" || string(ev.Data) != fmt.Sprint(want) {
					t.Fatalf("want news seq %d, got %+v", want, ev)
				}
				want++
			}
		}
		reconnect := func(s *stack) *client {
			t.Helper()
			c, tok := s.connect(dev)
			if err := tok.Error(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.c.Disconnect(0) })
			if !tok.(interface{ SessionPresent() bool }).SessionPresent() {
				t.Fatal("session not present")
			}
			return c
		}

		// Offline, then back: the 5 events published meanwhile arrive in order.
		publish5(s, 1)
		c = reconnect(s)
		expect5(c, 1)
		c.c.Disconnect(100)

		// Offline across a restart: published before it.
		publish5(s, 6)
		s.close()
		s = newStack(t, dir)
		c = reconnect(s)
		expect5(c, 6)
		c.c.Disconnect(100)

		// Offline across a restart: published after it.
		s.close()
		s = newStack(t, dir)
		publish5(s, 11)
		c = reconnect(s)
		expect5(c, 11)

		// And live again, with the inbox subscription restored too.
		s.publish(`{"users":["42"],"notification":{"title":"back"}}`)
		if ev := next(t, c.msgs); ev.mqttTopic != "reddot/users/42/inbox" || ev.Event != "notification" {
			t.Fatalf("got %+v", ev)
		}
	})
}
