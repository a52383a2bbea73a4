package reddot_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
)

func TestEventJSON(t *testing.T) {
	ev := &reddot.Event{ID: "01J", Topic: "news", Seq: 17, Event: "message", Data: json.RawMessage(`{"x":"<b>"}`),
		Time: time.Date(2026, 11, 27, 3, 0, 0, 123e6, time.UTC)}
	var got map[string]any
	if err := json.Unmarshal(ev.JSON("abc"), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": "01J", "topic": "news", "seq": float64(17), "event": "message",
		"data": map[string]any{"x": "<b>"}, "time": "2026-11-27T03:00:00.123Z", "cursor": "abc"}
	for k, v := range want {
		if b1, b2 := mustJSON(got[k]), mustJSON(v); b1 != b2 {
			t.Errorf("%s = %s, want %s", k, b1, b2)
		}
	}
	n := ev.WithUnread(reddot.Counts{Categories: map[string]int64{"c": 2}})
	var withCounts struct {
		Data struct {
			X      string        `json:"x"`
			Unread reddot.Counts `json:"unread"`
		} `json:"data"`
	}
	if err := json.Unmarshal(n.JSON("c"), &withCounts); err != nil {
		t.Fatal(err)
	}
	if withCounts.Data.X != "<b>" || withCounts.Data.Unread.Total != 2 {
		t.Fatalf("unread merge: %+v", withCounts)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// BenchmarkEventEncodedOnce is the per-subscriber cost once an event is
// encoded: the cached bytes are reused, only the cursor is appended.
func BenchmarkEventEncodedOnce(b *testing.B) {
	ev := &reddot.Event{ID: "01M8DKNB7SA5YADE4CWGCRQRGC", Topic: "news", Seq: 17, Event: "message",
		Data: json.RawMessage(`{"headline":"hello","n":1}`), Time: time.Now()}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = append(buf[:0], ev.Encoded()...)
		buf = append(buf, `,"cursor":"ATHvkucDAARuZXdzAQEAAgA"}`...)
	}
}
