package buswire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
)

func ev(seq int, data string) *reddot.Event {
	return &reddot.Event{ID: fmt.Sprint("id", seq), Topic: "t", Seq: uint64(seq), Event: "message",
		Data: json.RawMessage(data), Time: time.Unix(0, int64(seq)).UTC()}
}

func TestEncodeSplitsInOrder(t *testing.T) {
	var evs []*reddot.Event
	for i := 1; i <= 50; i++ {
		evs = append(evs, ev(i, `"`+strings.Repeat("x", 100)+`"`))
	}
	big := ev(51, `"`+strings.Repeat("y", 2000)+`"`)
	evs = append(evs[:25], append([]*reddot.Event{big}, evs[25:]...)...)
	msgs, dropped, err := Encode(evs, 1000)
	if err != nil || dropped != 1 {
		t.Fatalf("Encode: dropped %d, %v; want 1 (the 2 KB event)", dropped, err)
	}
	var seqs []uint64
	for _, m := range msgs {
		if len(m) > 1000 {
			t.Errorf("message of %d bytes, limit 1000", len(m))
		}
		env, err := Decode(m)
		if err != nil || env.Resync {
			t.Fatalf("Decode: %+v, %v", env, err)
		}
		for _, e := range env.Events {
			seqs = append(seqs, e.Seq)
		}
	}
	if len(msgs) < 2 || len(seqs) != 50 {
		t.Fatalf("%d messages carrying %d events; want several carrying 50", len(msgs), len(seqs))
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("event %d has seq %d: order lost", i, s)
		}
	}
}

func TestRoundTripKeepsBytes(t *testing.T) {
	e := ev(1, `{"a":"<b>&</b>","u":"\u2028","n":1.50}`)
	e.Unread = &reddot.Counts{Total: 2, Categories: map[string]int64{"c": 2}}
	e.Time = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", -7200))
	msgs, _, err := Encode([]*reddot.Event{e}, 1<<20)
	if err != nil || len(msgs) != 1 {
		t.Fatal(msgs, err)
	}
	env, err := Decode(msgs[0])
	if err != nil || len(env.Events) != 1 {
		t.Fatal(env, err)
	}
	got := env.Events[0]
	if !bytes.Equal(got.Data, e.Data) || !got.Time.Equal(e.Time) || got.Unread == nil || got.Unread.Categories["c"] != 2 {
		t.Errorf("round trip: %+v, want %+v", got, e)
	}
}

func TestDecode(t *testing.T) {
	cases := []struct {
		in      string
		resync  bool
		events  int
		wantErr bool
	}{
		{Resync, true, 0, false},
		{`{"events":[{"id":"a","topic":"ok","seq":1,"event":"m","data":1,"time":"2026-01-01T00:00:00Z"}]}`, false, 1, false},
		{`{"events":[{"id":"a","topic":"bad topic","seq":1}]}`, false, 0, false},
		{`{"events":[null]}`, false, 0, false},
		{`{"events":`, false, 0, true},
		{`[]`, false, 0, true},
	}
	for _, c := range cases {
		env, err := Decode([]byte(c.in))
		if (err != nil) != c.wantErr || env.Resync != c.resync || len(env.Events) != c.events {
			t.Errorf("Decode(%s) = %+v, %v", c.in, env, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(Resync))
	f.Add([]byte(`{"events":[{"id":"a","topic":"ok","seq":1,"event":"m","data":{"x":[1]},"time":"2026-01-01T00:00:00Z","unread":{"total":1,"categories":{"a":1}}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := Decode(b)
		if err != nil {
			return
		}
		for _, e := range env.Events {
			if e == nil || !reddot.ValidTopic(e.Topic) {
				t.Fatalf("Decode let through %+v", e)
			}
		}
		if _, _, err := Encode(env.Events, 1<<20); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
