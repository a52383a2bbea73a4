package mqttbridge_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/mqttbridge"
)

func TestMQTT5ReasonCodes(t *testing.T) {
	s := newStack(t, t.TempDir())

	for _, tc := range []struct {
		password string
		code     byte
	}{{"bad-token", 0x86}, {"", 0x87}} {
		r := dialRaw(t, s.tcp, 5)
		if ack := r.connect("x", tc.password, true, 0); ack.ReasonCode != tc.code {
			t.Errorf("password %q: CONNACK 0x%02x, want 0x%02x", tc.password, ack.ReasonCode, tc.code)
		}
	}

	r := dialRaw(t, s.tcp, 5)
	ack := r.connect("phone", s.token("42"), true, 0)
	if p := ack.Properties; ack.ReasonCode != 0 || !p.RetainAvailableFlag || p.RetainAvailable != 0 ||
		!p.WildcardSubAvailableFlag || p.WildcardSubAvailable != 0 || p.MaximumPacketSize != mqttbridge.DefaultMaxPacketSize ||
		p.ReceiveMaximum != mqttbridge.DefaultMaxInflight || p.ServerKeepAliveFlag {
		t.Fatalf("CONNACK 0x%02x %+v", ack.ReasonCode, ack.Properties)
	}
	// A keepalive of 0 (none) or above the bound gets the bound.
	k := dialRaw(t, s.tcp, 5)
	k.keepalive = 0
	if ack := k.connect("k", s.token("42"), true, 0); !ack.Properties.ServerKeepAliveFlag || ack.Properties.ServerKeepAlive != 300 {
		t.Fatalf("server keepalive %+v", ack.Properties)
	}

	codes := r.subscribe(1, 1, "reddot/users/7/inbox", "reddot/users/+/inbox", "reddot/users/42/inbox", "reddot/topics/news")
	if want := []byte{0x87, 0x87, 0x01, 0x01}; string(codes) != string(want) {
		t.Fatalf("SUBACK % x, want % x", codes, want)
	}

	// Publishing without a grant: PUBACK 0x87, stored nowhere.
	r.publish(7, 1, "reddot/topics/news", `{"evil":true}`)
	ack = r.expect(packets.Puback)
	if ack.PacketID != 7 || ack.ReasonCode != 0x87 || ack.Properties.ReasonString == "" {
		t.Fatalf("PUBACK %+v", ack)
	}
	r.publish(8, 1, "reddot/users/7/inbox", `{}`)
	if ack := r.expect(packets.Puback); ack.ReasonCode != 0x87 {
		t.Fatalf("PUBACK to an inbox 0x%02x", ack.ReasonCode)
	}
	s.publish(`{"topic":"news","data":"barrier"}`)
	ev, pk := r.nextEvent()
	if ev.Seq != 1 || string(ev.Data) != `"barrier"` {
		t.Fatalf("the refused publish was stored: %+v", ev)
	}
	if pk.Properties.ContentType != "application/json" || pk.Properties.PayloadFormat != 1 {
		t.Fatalf("properties %+v", pk.Properties)
	}

	// With a grant: PUBACK 0x00 once durable, and the event comes back once.
	g := dialRaw(t, s.tcp, 5)
	g.connect("writer", s.token("42", "publish:news"), true, 0)
	g.subscribe(1, 1, "reddot/topics/news")
	g.publish(9, 1, "reddot/topics/news", `{"ok":1}`)
	if ack := g.expect(packets.Puback); ack.ReasonCode != 0 {
		t.Fatalf("PUBACK 0x%02x %q", ack.ReasonCode, ack.Properties.ReasonString)
	}
	if ev, _ := g.nextEvent(); ev.Seq != 2 || string(ev.Data) != `{"ok":1}` {
		t.Fatalf("got %+v", ev)
	}
	// The MQTT 5 user property "event" names the event.
	g.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 11,
		TopicName: "reddot/topics/news", Payload: []byte(`{"p":1}`),
		Properties: packets.Properties{User: []packets.UserProperty{{Key: "event", Val: "price"}}},
	})
	if ack := g.expect(packets.Puback); ack.ReasonCode != 0 {
		t.Fatalf("PUBACK 0x%02x %q", ack.ReasonCode, ack.Properties.ReasonString)
	}
	if ev, _ := g.nextEvent(); ev.Seq != 3 || ev.Event != "price" {
		t.Fatalf("got %+v", ev)
	}
	// Invalid data is refused with its reason.
	g.publish(10, 1, "reddot/topics/news", "\xff\xfe")
	if ack := g.expect(packets.Puback); ack.ReasonCode != 0x99 {
		t.Fatalf("PUBACK of binary payload 0x%02x", ack.ReasonCode)
	}
}

// A persistent session that acknowledged everything resumes exactly: no
// event lost, none repeated, in v3.1.1 and v5.
func TestPersistentSessionResumesExactly(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			dir := t.TempDir()
			s := newStack(t, dir)
			tok := s.token("42")
			clean, expiry := false, uint32(0)
			if v == 5 {
				expiry = 3600
			}
			r := dialRaw(t, s.tcp, v)
			r.connect("dev", tok, clean, expiry)
			r.subscribe(1, 1, "reddot/topics/news")
			s.publish(`{"topic":"news","data":1}`)
			if ev, _ := r.nextEvent(); ev.Seq != 1 {
				t.Fatalf("got %+v", ev)
			}
			r.ping() // the PUBACK has been processed
			r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
			r.c.Close()

			for i := 2; i <= 6; i++ {
				s.publish(fmt.Sprintf(`{"topic":"news","data":%d}`, i))
			}
			s.close()
			s = newStack(t, dir)
			r = dialRaw(t, s.tcp, v)
			if ack := r.connect("dev", tok, false, expiry); !ack.SessionPresent {
				t.Fatal("session not present after restart")
			}
			for want := uint64(2); want <= 6; want++ {
				if ev, _ := r.nextEvent(); ev.Seq != want {
					t.Fatalf("want seq %d, got %+v", want, ev)
				}
			}
			s.publish(`{"topic":"news","data":"live"}`)
			if ev, _ := r.nextEvent(); ev.Seq != 7 {
				t.Fatalf("want seq 7, got %+v", ev)
			}
		})
	}
}

// An offline session keeps at most OfflineQueue events per topic; a reset
// event says that older ones were skipped.
func TestOfflineQueueBound(t *testing.T) {
	s := newStack(t, t.TempDir(), func(o *mqttbridge.Options) { o.OfflineQueue = 3 })
	tok := s.token("42")
	r := dialRaw(t, s.tcp, 4)
	r.connect("dev", tok, false, 0)
	r.subscribe(1, 1, "reddot/topics/news")
	r.ping()
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	for i := 1; i <= 10; i++ {
		s.publish(fmt.Sprintf(`{"topic":"news","data":%d}`, i))
	}
	r = dialRaw(t, s.tcp, 4)
	r.connect("dev", tok, false, 0)
	if ev, _ := r.nextEvent(); ev.Event != "reset" || ev.Topic != "news" {
		t.Fatalf("want reset, got %+v", ev)
	}
	for want := uint64(8); want <= 10; want++ {
		if ev, _ := r.nextEvent(); ev.Seq != want {
			t.Fatalf("want seq %d, got %+v", want, ev)
		}
	}
}

func TestBadPacketsDisconnectOnlyThatClient(t *testing.T) {
	s := newStack(t, t.TempDir(), func(o *mqttbridge.Options) { o.MaxPacketSize = 1024 })
	tok := s.token("42", "publish:news")
	good := dialRaw(t, s.tcp, 4)
	good.connect("good", tok, true, 0)
	good.subscribe(1, 0, "reddot/topics/news")

	big := dialRaw(t, s.tcp, 4)
	big.connect("big", tok, true, 0)
	big.publish(0, 0, "reddot/topics/news", `"`+strings.Repeat("x", 4096)+`"`)
	if !big.closed() {
		t.Fatal("an oversized packet did not end its connection")
	}

	bad, err := net.Dial("tcp", s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, _ = bad.Write([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}) // CONNECT with a malformed length
	if _, err := bad.Read(make([]byte, 16)); err == nil {
		t.Fatal("a malformed packet did not end its connection")
	}

	s.publish(`{"topic":"news","data":"still here"}`)
	if ev, _ := good.nextEvent(); string(ev.Data) != `"still here"` {
		t.Fatalf("got %+v", ev)
	}
}

func TestSubscriptionLimit(t *testing.T) {
	s := newStack(t, t.TempDir(), func(o *mqttbridge.Options) { o.MaxSubscriptions = 2 })
	r := dialRaw(t, s.tcp, 5)
	r.connect("dev", s.token("42"), true, 0)
	codes := r.subscribe(1, 1, "reddot/topics/a", "reddot/topics/b", "reddot/topics/c", "reddot/topics/a")
	if want := []byte{1, 1, 0x87, 1}; string(codes) != string(want) {
		t.Fatalf("SUBACK % x, want % x", codes, want)
	}
}

// A resumed session's subscriptions are checked against the credentials
// it comes back with: a grant taken away takes the subscription with it.
func TestResumedSubscriptionsAreCheckedAgain(t *testing.T) {
	s := newStack(t, t.TempDir())
	r := dialRaw(t, s.tcp, 4)
	r.connect("dev", s.token("42", "private:team"), false, 0)
	if codes := r.subscribe(1, 1, "reddot/topics/private:team", "reddot/topics/news"); string(codes) != "\x01\x01" {
		t.Fatalf("SUBACK % x", codes)
	}
	r.ping()
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})

	s.publish(`{"topic":"private:team","data":"secret"}`)
	s.publish(`{"topic":"news","data":"public"}`)
	r = dialRaw(t, s.tcp, 4)
	if ack := r.connect("dev", s.token("42"), false, 0); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	if ev, _ := r.nextEvent(); ev.Topic != "news" || string(ev.Data) != `"public"` {
		t.Fatalf("want only news, got %+v", ev)
	}
	s.publish(`{"topic":"private:team","data":"secret 2"}`)
	s.publish(`{"topic":"news","data":"barrier"}`)
	if ev, _ := r.nextEvent(); ev.Topic != "news" || string(ev.Data) != `"barrier"` {
		t.Fatalf("want only news, got %+v", ev)
	}
}

// A connection ends when its token expires (MQTT 5: DISCONNECT 0x87).
func TestExpiredTokenDisconnects(t *testing.T) {
	s := newStack(t, t.TempDir())
	tok, err := auth.Mint([]byte(testSecret), auth.Claims{User: "42", TTL: time.Second}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, s.tcp, 5)
	if ack := r.connect("dev", tok, true, 0); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK 0x%02x", ack.ReasonCode)
	}
	pk := r.expect(packets.Disconnect)
	if pk.ReasonCode != 0x87 {
		t.Fatalf("DISCONNECT 0x%02x", pk.ReasonCode)
	}
}

// A second connection of the same owner and client id takes the session
// over: the first is disconnected (0x8E), the second continues from what
// the first acknowledged.
func TestSessionTakeover(t *testing.T) {
	s := newStack(t, t.TempDir())
	tok := s.token("42")
	a := dialRaw(t, s.tcp, 5)
	a.connect("dev", tok, false, 3600)
	a.subscribe(1, 1, "reddot/topics/news")
	s.publish(`{"topic":"news","data":1}`)
	if ev, _ := a.nextEvent(); ev.Seq != 1 {
		t.Fatalf("got %+v", ev)
	}
	a.ping()
	s.publish(`{"topic":"news","data":2}`)
	// a does not acknowledge seq 2: it is in flight when b takes over.
	if pk := a.expect(packets.Publish); pk.TopicName != "reddot/topics/news" {
		t.Fatalf("got %+v", pk)
	}

	b := dialRaw(t, s.tcp, 5)
	if ack := b.connect("dev", tok, false, 3600); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	if pk := a.expect(packets.Disconnect); pk.ReasonCode != 0x8E {
		t.Fatalf("first connection: DISCONNECT 0x%02x", pk.ReasonCode)
	}
	if ev, _ := b.nextEvent(); ev.Seq != 2 {
		t.Fatalf("want the unacknowledged seq 2 again, got %+v", ev)
	}
	s.publish(`{"topic":"news","data":3}`)
	if ev, _ := b.nextEvent(); ev.Seq != 3 {
		t.Fatalf("got %+v", ev)
	}
}
