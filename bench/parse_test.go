package bench

import (
	"testing"
	"time"
)

// The incremental frame parser gives the same messages however the bytes
// arrive, including a fragmented message whose first fragment is empty.
func TestParseFramesByteByByte(t *testing.T) {
	r, s := newTestSub(10, false)
	var in []byte
	in = append(in, serverFrame(false, opText, nil)...) // empty first fragment
	in = append(in, serverFrame(true, opCont, []byte(`{"op":"event","data":{"t":1,"n":3},"cursor":"a"}`))...)
	in = append(in, serverFrame(false, opText, []byte(`{"op":"event","data":`))...)
	in = append(in, serverFrame(true, opCont, []byte(`{"t":1,"n":4},"cursor":"b"}`))...)
	in = append(in, serverFrame(true, opText, []byte(`{"op":"event","data":{"t":1,"n":5},"cursor":"c"}`))...)

	rc := &rconn{s: s}
	var buf []byte
	now := time.Now()
	for _, c := range in { // one byte at a time
		buf = append(buf, c)
		n, err := parseFrames(rc, buf, now)
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[:copy(buf, buf[n:])]
	}
	if len(buf) != 0 || r.delivered.Load() != 3 || string(s.cursor) != "c" {
		t.Fatalf("left %d bytes, delivered %d, cursor %q; want 0, 3, c", len(buf), r.delivered.Load(), s.cursor)
	}
}
