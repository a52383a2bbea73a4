//go:build linux

package uring

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// pairs returns n connected loopback TCP pairs: the server side's
// descriptors (kept open by the returned conns) and the client ends.
func pairs(t *testing.T, n int) (fds []int32, servers, clients []*net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		sc := s.(*net.TCPConn)
		rc, _ := sc.SyscallConn()
		_ = rc.Control(func(fd uintptr) { fds = append(fds, int32(fd)) })
		servers = append(servers, sc)
		clients = append(clients, c.(*net.TCPConn))
		t.Cleanup(func() { c.Close(); s.Close() })
	}
	return fds, servers, clients
}

func newRing(t *testing.T, entries int) *Ring {
	t.Helper()
	r, err := New(entries)
	if err != nil {
		t.Skipf("skipped: io_uring unavailable here: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSendsReachEverySocket(t *testing.T) {
	r := newRing(t, 8)
	if r.Size() < 8 {
		t.Fatalf("Size %d, want at least 8", r.Size())
	}
	fds, _, clients := pairs(t, 5)
	for round := range 3 { // the ring is reused across flushes
		for i, fd := range fds {
			r.Send(fd, []byte{byte('a' + i), byte('0' + round)})
		}
		if r.Len() != len(fds) {
			t.Fatalf("Len %d, want %d", r.Len(), len(fds))
		}
		sends, err := r.Flush()
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range sends {
			if s.Res != 2 || s.Fd != fds[i] {
				t.Fatalf("round %d send %d: %+v", round, i, s)
			}
		}
		if r.Len() != 0 {
			t.Fatalf("Len after Flush %d", r.Len())
		}
	}
	for i, c := range clients {
		got := make([]byte, 6)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		want := []byte{byte('a' + i), '0', byte('a' + i), '1', byte('a' + i), '2'}
		if !bytes.Equal(got, want) {
			t.Fatalf("client %d read %q, want %q", i, got, want)
		}
	}
}

func TestFullSocketDoesNotBlock(t *testing.T) {
	r := newRing(t, 4)
	fds, servers, clients := pairs(t, 1)
	_ = servers[0].SetWriteBuffer(4096)
	_ = clients[0].SetReadBuffer(4096)
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var sent int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.Send(fds[0], chunk)
		sends, err := r.Flush()
		if err != nil {
			t.Fatal(err)
		}
		res := sends[0].Res
		if res == -int32(syscall.EAGAIN) || (res >= 0 && int(res) < len(chunk)) {
			if res > 0 {
				sent += int64(res)
			}
			break // the peer does not read: the send came back instead of waiting
		}
		if res < 0 {
			t.Fatalf("send: errno %d", -res)
		}
		sent += int64(res)
		if time.Now().After(deadline) {
			t.Fatal("the socket never filled up")
		}
	}
	// Everything reported as sent arrives.
	_ = clients[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.CopyN(io.Discard, clients[0], sent)
	if err != nil || n != sent {
		t.Fatalf("read %d of %d: %v", n, sent, err)
	}
}

func TestSendToClosedPeerFails(t *testing.T) {
	r := newRing(t, 4)
	fds, _, clients := pairs(t, 1)
	clients[0].SetLinger(0)
	clients[0].Close() // RST
	var last int32
	for range 50 {
		r.Send(fds[0], []byte("hello"))
		sends, err := r.Flush()
		if err != nil {
			t.Fatal(err)
		}
		if last = sends[0].Res; last < 0 {
			break
		}
	}
	if last != -int32(syscall.EPIPE) && last != -int32(syscall.ECONNRESET) {
		t.Fatalf("send to a reset peer: %d, want -EPIPE or -ECONNRESET", last)
	}
}

// A bad descriptor fails its own operation only, and the ring keeps
// working for the next Flush.
func TestBadDescriptorFailsAlone(t *testing.T) {
	r := newRing(t, 4)
	fds, _, clients := pairs(t, 1)
	r.Send(-1, []byte("x"))
	r.Send(fds[0], []byte("ok"))
	sends, err := r.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if sends[0].Res != -int32(syscall.EBADF) || sends[1].Res != 2 {
		t.Fatalf("results %d, %d; want -EBADF and 2", sends[0].Res, sends[1].Res)
	}
	r.Send(fds[0], []byte("!"))
	if sends, err = r.Flush(); err != nil || len(sends) != 1 || sends[0].Res != 1 {
		t.Fatalf("next flush: %v %+v", err, sends)
	}
	got := make([]byte, 3)
	_ = clients[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(clients[0], got); err != nil || string(got) != "ok!" {
		t.Fatalf("read %q %v, want ok!", got, err)
	}
	if r.Broken() != nil {
		t.Fatalf("ring broken: %v", r.Broken())
	}
}
