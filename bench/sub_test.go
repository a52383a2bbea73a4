package bench

import (
	"bufio"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

func newTestSub(events int, deferMarks bool) (*runner, *sub) {
	r := &runner{cfg: Config{Events: events}}
	return r, &sub{r: r, hist: &r.hist[0], defer_: deferMarks}
}

func TestSubCountsEachEventOnce(t *testing.T) {
	r, s := newTestSub(100, true)
	now := time.Now()
	t0 := now.Add(-3 * time.Millisecond).UnixNano()
	ev := func(n int, cursor string) []byte {
		return []byte(`{"data":` + string(AppendMark(nil, t0, n)) + `,"cursor":"` + cursor + `"}`)
	}
	s.consume(ev(0, "a"), now)
	s.consume(ev(99, "b"), now)
	s.consume(ev(0, "c"), now)   // a duplicate
	s.consume(ev(100, "d"), now) // not published by this run
	if r.delivered.Load() != 2 || r.duplicates.Load() != 1 || r.unexpected.Load() != 1 || s.got != 2 {
		t.Fatalf("delivered %d dup %d unexpected %d got %d", r.delivered.Load(), r.duplicates.Load(), r.unexpected.Load(), s.got)
	}
	if string(s.cursor) != "d" {
		t.Fatalf("cursor %q, want the last one", s.cursor)
	}
	snap := r.latency()
	if snap.N != 2 || snap.Max != 3*time.Millisecond {
		t.Fatalf("latency n=%d max=%v, want 2 × 3ms", snap.N, snap.Max)
	}
}

func TestSubHoldsMarksUntilTheirCursor(t *testing.T) {
	r, s := newTestSub(10, true)
	now := time.Now()
	s.consume([]byte(`{"data":{"t":1,"n":3}`), now) // the connection broke mid-event
	if r.delivered.Load() != 0 {
		t.Fatal("a mark without its cursor counted")
	}
	s.dropPending()
	s.consume([]byte(`{"data":{"t":1,"n":3},"cursor":"x"}`), now) // resent after resuming
	if r.delivered.Load() != 1 || r.duplicates.Load() != 0 {
		t.Fatalf("delivered %d dup %d, want 1 and 0", r.delivered.Load(), r.duplicates.Load())
	}
}

func TestSubWithoutCursorsCountsAtOnce(t *testing.T) {
	r, s := newTestSub(10, false) // MQTT payloads carry no cursor
	s.consume([]byte(`{"t":1,"n":3}`), time.Now())
	if r.delivered.Load() != 1 {
		t.Fatal("mark not counted")
	}
}

func TestSubResetCounts(t *testing.T) {
	r, s := newTestSub(10, true)
	s.consume([]byte(`{"event":"reset","data":{},"cursor":"x"}`), time.Now())
	if r.resets.Load() != 1 {
		t.Fatal("reset not counted")
	}
}

func TestErrorKeysHideAddresses(t *testing.T) {
	_, err := net.Dial("tcp", "127.0.0.1:1") // nothing listens on port 1
	if err == nil {
		t.Skip("something listens on 127.0.0.1:1")
	}
	if k := errorKey(err); strings.Contains(k, "127.0.0.1") {
		t.Fatalf("key %q holds an address", k)
	}
	var e errorCounts
	for i := 0; i < maxErrorKinds+5; i++ {
		e.add(net.UnknownNetworkError(strings.Repeat("x", i)))
	}
	if m := e.snapshot(); len(m) != maxErrorKinds+1 || m["other"] != 5 {
		t.Fatalf("%d kinds, other=%d", len(m), m["other"])
	}
}

// serverFrame builds an unmasked server frame.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, byte(n))
	case n < 1<<16:
		f = append(f, 126, byte(n>>8), byte(n))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, payload...)
}

func TestWebSocketFrames(t *testing.T) {
	cli, srv := net.Pipe()
	defer srv.Close()
	r, s := newTestSub(10, true)
	c := &httpConn{Conn: cli, br: bufio.NewReaderSize(cli, 64)}
	done := make(chan error, 1)
	go func() { done <- (&wsTransport{}).read(c, s) }()

	big := `{"op":"event","data":{"t":1,"n":2},"pad":"` + strings.Repeat("p", 70000) + `","cursor":"big"}`
	write := func(b []byte) {
		t.Helper()
		if _, err := srv.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(serverFrame(false, opText, []byte(`{"op":"event","data":{"t":1,`)))
	write(serverFrame(true, opPing, []byte("hi"))) // control frames may interleave
	pong := make([]byte, 8)
	if _, err := srv.Read(pong); err != nil {
		t.Fatal(err)
	}
	if pong[0] != 0x80|opPong || pong[1] != 0x80|2 {
		t.Fatalf("pong header % x, want a masked final pong of 2 bytes", pong[:2])
	}
	if got := []byte{pong[6] ^ pong[2], pong[7] ^ pong[3]}; string(got) != "hi" {
		t.Fatalf("pong payload %q, want hi", got)
	}
	write(serverFrame(true, opCont, []byte(`"n":1},"cursor":"k1"}`)))
	write(serverFrame(true, opText, []byte(`{"op":"pong"}`)))
	write(serverFrame(true, opText, []byte(big)))
	write(serverFrame(true, opClose, append([]byte{0x0f, 0xa8}, "slow consumer"...)))
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "4008 slow consumer") {
		t.Fatalf("read ended with %v, want the close code and reason", err)
	}
	if r.delivered.Load() != 2 || string(s.cursor) != "big" {
		t.Fatalf("delivered %d cursor %q, want 2 and big", r.delivered.Load(), s.cursor)
	}
}

func TestConsumeDoesNotAllocate(t *testing.T) {
	_, s := newTestSub(1000, true)
	now := time.Now()
	ev := []byte(`data: {"id":"01J","topic":"bench","seq":3,"event":"message","data":{"t":1,"n":0},"time":"x","cursor":"AQAB_xyz"}`)
	s.consume(ev, now) // first delivery sizes the bitmap and the cursor
	digit := strings.Index(string(ev), `"n":`) + 4
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		n++
		ev[digit] = byte('0' + n%10)
		s.consume(ev, now)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per delivery, want 0", allocs)
	}
}
