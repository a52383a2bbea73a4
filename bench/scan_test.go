package bench

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// recorder is a unitVisitor that logs what it sees, in order.
type recorder struct{ got []string }

func (r *recorder) onMark(t, n int64) { r.got = append(r.got, fmt.Sprintf("m%d/%d", t, n)) }
func (r *recorder) onCursor(c []byte) { r.got = append(r.got, "c"+string(c)) }

// units are what each transport delivers, as the server writes them.
var units = []struct {
	name  string
	in    string
	want  string // space-separated visits
	reset bool
}{
	{"sse data line", `data: {"id":"01J","topic":"bench","seq":3,"event":"message","data":{"t":1700000000000000001,"n":2},"time":"2026-11-27T03:00:00.123Z","cursor":"AQAB_x"}`,
		"m1700000000000000001/2 cAQAB_x", false},
	{"sse id line", "id: AQAB_x", "", false},
	{"ws frame", `{"op":"event","id":"01J","topic":"bench","seq":1,"event":"message","data":{"t":5,"n":0},"time":"x","cursor":"c1"}`,
		"m5/0 cc1", false},
	{"poll body", `{"events":[{"id":"a","data":{"t":1,"n":0},"cursor":"k1"},{"id":"b","data":{"t":2,"n":1},"cursor":"k2"}],"cursor":"k2"}`,
		"m1/0 ck1 m2/1 ck2 ck2", false},
	{"empty poll", `{"events":[],"cursor":"head"}`, "chead", false},
	{"notification", `{"id":"n","topic":"user:bob","seq":9,"event":"notification","data":{"id":"01K","category":"bench","title":"bench","data":{"t":77,"n":4},"time":"t","read":false,"unread":{"total":5,"categories":{"bench":5}}},"time":"t","cursor":"u9"}`,
		"m77/4 cu9", false},
	{"iframe script", `<script>d({"id":"a","data":{"t":8,"n":3},"time":"x","cursor":"f1"})</script>`, "m8/3 cf1", false},
	{"iframe control", `<script>d({"control":"close","code":"recycle","retry":0,"cursor":"f2"})</script>`, "cf2", false},
	{"reset", `{"id":"r","topic":"bench","seq":0,"event":"reset","data":{"reason":"gone"},"cursor":"z"}`, "cz", true},
	{"mqtt payload", `{"t":12,"n":34}`, "m12/34", false},
	{"two events in one ws write", `{"data":{"t":1,"n":5},"cursor":"a"}{"data":{"t":1,"n":6},"cursor":"b"}`, "m1/5 ca m1/6 cb", false},
	{"broken marks", `{"t":,"n":1} {"t":1,"n":} {"t":1,"x":2} {"t":1,"n":2 {"t":{"t":3,"n":4}`, "m3/4", false},
	{"unterminated cursor", `{"data":{"t":1,"n":1},"cursor":"abc`, "m1/1", false},
	{"heartbeat", ":hb", "", false},
	{"overflow", `{"t":99999999999999999999,"n":1}{"t":9223372036854775807,"n":1}`, "m9223372036854775807/1", false},
	{"user data that looks alike", `{"data":{"title":"t","tn":{"t":"1"}},"cursor":"q"}`, "cq", false},
}

func TestScanUnit(t *testing.T) {
	for _, u := range units {
		t.Run(u.name, func(t *testing.T) {
			var r recorder
			reset := scanUnit([]byte(u.in), &r)
			if got := strings.Join(r.got, " "); got != u.want || reset != u.reset {
				t.Fatalf("got %q reset=%v, want %q reset=%v", got, reset, u.want, u.reset)
			}
		})
	}
}

func TestAppendMarkRoundTrip(t *testing.T) {
	for _, c := range []struct{ t, n int64 }{{0, 0}, {1, 1}, {1764212400123456789, 999999}} {
		b := AppendMark([]byte("x"), c.t, int(c.n))
		tt, n, size, ok := parseMark(b[1:])
		if !ok || tt != c.t || n != c.n || size != len(b)-1 {
			t.Fatalf("%s: got %d %d %d %v", b, tt, n, size, ok)
		}
	}
}

func FuzzScanUnit(f *testing.F) {
	for _, u := range units {
		f.Add([]byte(u.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r cursorCheck
		scanUnit(b, &r)
		for _, c := range r.cursors {
			if bytes.IndexByte(c, '"') >= 0 || !bytes.Contains(b, c) {
				t.Fatalf("cursor %q: not a quoted string of the input %q", c, b)
			}
		}
		if r.negative {
			t.Fatalf("negative mark field from %q", b)
		}
	})
}

type cursorCheck struct {
	cursors  [][]byte
	negative bool
}

func (c *cursorCheck) onMark(t, n int64) { c.negative = c.negative || t < 0 || n < 0 }
func (c *cursorCheck) onCursor(b []byte) { c.cursors = append(c.cursors, bytes.Clone(b)) }
