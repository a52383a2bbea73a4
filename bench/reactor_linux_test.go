//go:build linux

package bench

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// loopbackPair returns both ends of a fresh loopback TCP connection; the
// server end is closed when the test ends (the client end is the reactor's).
func loopbackPair(t *testing.T) (cli, srv net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if cli, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if srv, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return cli, srv
}

// The shared readers parse the same frames as the goroutine reader,
// however the bytes are split, and answer pings from the reactor.
func TestReactorWebSocketFrames(t *testing.T) {
	rs := newReactors()
	if rs == nil {
		t.Skip("skipped: epoll or io_uring unavailable here")
	}
	defer rs.close()
	cli, srv := loopbackPair(t)

	r, s := newTestSub(10, true)
	first := serverFrame(false, opText, []byte(`{"op":"event","data":{"t":1,`))
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		// The first frame's start was read with the handshake.
		_, err := rs.serve(cli, first[:3], s, parseFrames, stop)
		done <- err
	}()

	write := func(b []byte) {
		t.Helper()
		if _, err := srv.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(first[3:])
	write(serverFrame(true, opPing, []byte("hi")))
	pong := make([]byte, 8)
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(srv, pong); err != nil {
		t.Fatal(err)
	}
	if pong[0] != 0x80|opPong || pong[1] != 0x80|2 || string([]byte{pong[6] ^ pong[2], pong[7] ^ pong[3]}) != "hi" {
		t.Fatalf("pong % x, want a masked final pong carrying hi", pong)
	}
	write(serverFrame(true, opCont, []byte(`"n":1},"cursor":"k1"}`)))
	big := serverFrame(true, opText, []byte(`{"op":"event","data":{"t":1,"n":2},"pad":"`+strings.Repeat("p", 70000)+`","cursor":"big"}`))
	for len(big) > 0 { // in uneven pieces
		n := min(len(big), 1000+len(big)%777)
		write(big[:n])
		big = big[n:]
	}
	write(serverFrame(true, opClose, append([]byte{0x0f, 0xa8}, "slow consumer"...)))
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "4008 slow consumer") {
			t.Fatalf("serve ended with %v, want the close code and reason", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not end on the close frame")
	}
	if r.delivered.Load() != 2 || string(s.cursor) != "big" {
		t.Fatalf("delivered %d cursor %q, want 2 and big", r.delivered.Load(), s.cursor)
	}
}

// Stopping a subscriber ends its connection and returns.
func TestReactorStop(t *testing.T) {
	rs := newReactors()
	if rs == nil {
		t.Skip("skipped: epoll or io_uring unavailable here")
	}
	defer rs.close()
	cli, srv := loopbackPair(t)
	_, s := newTestSub(10, false)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := rs.serve(cli, nil, s, parseLines, stop)
		done <- err
	}()
	close(stop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after stop")
	}
	// The server side sees the connection end.
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := srv.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server read %v, want EOF", err)
	}
}
