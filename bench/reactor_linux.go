//go:build linux

package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reddot-dev/reddot/internal/uring"
)

// Reading 10,000 subscribers with a goroutine each costs the tool two
// read(2) calls and a goroutine wake per delivery, ~10 µs here: more than
// the server spends, so the tool's own queue showed up as latency. A
// reactor instead waits on epoll for many connections at once and reads
// every ready one with a single io_uring submission.
type reactor struct {
	ep    int
	ring  *uring.Ring
	mu    sync.Mutex
	conns map[int32]*rconn
	dead  bool // under mu: the loop has ended; no new connections
	stop  atomic.Bool
	done  chan struct{}
}

// reactors is one reactor per GOMAXPROCS; conns are spread over them.
type reactors struct {
	list []*reactor
	next atomic.Uint32
}

// rconn is one subscriber connection handed to a reactor after its
// handshake. parse consumes complete units from the front of b and
// returns how many bytes it used.
type rconn struct {
	fd     int32
	s      *sub
	parse  func(rc *rconn, b []byte, now time.Time) (int, error)
	buf    []byte
	msg    []byte // WebSocket: a fragmented message being assembled
	frag   bool   // WebSocket: inside a fragmented message
	result chan error

	mu     sync.Mutex
	closed bool
}

// newReactors starts the readers, or returns nil where epoll or io_uring
// is unavailable (the goroutine readers are used then).
func newReactors() *reactors {
	rs := &reactors{}
	for range runtime.GOMAXPROCS(0) {
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			rs.close()
			return nil
		}
		ring, err := uring.New(256)
		if err != nil {
			_ = unix.Close(ep)
			rs.close()
			return nil
		}
		r := &reactor{ep: ep, ring: ring, conns: map[int32]*rconn{}, done: make(chan struct{})}
		rs.list = append(rs.list, r)
		go r.loop()
	}
	return rs
}

func (rs *reactors) close() {
	if rs == nil {
		return
	}
	for _, r := range rs.list {
		r.stop.Store(true)
		<-r.done
		_ = unix.Close(r.ep)
		_ = r.ring.Close()
	}
}

// serve hands c (after its handshake; buffered holds bytes already read
// past it) to a reactor and waits until the connection ends or stop is
// called. handled is false when c cannot be taken over (TLS).
func (rs *reactors) serve(c net.Conn, buffered []byte, s *sub, parse func(*rconn, []byte, time.Time) (int, error), stop <-chan struct{}) (handled bool, err error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return false, nil
	}
	sc, err := tc.SyscallConn()
	if err != nil {
		return false, nil
	}
	fd := -1
	var derr error
	dup := func(u uintptr) { fd, derr = unix.FcntlInt(u, unix.F_DUPFD_CLOEXEC, 0) } // one call: dup + close-on-exec
	if cerr := sc.Control(dup); cerr != nil || derr != nil {
		return false, nil
	}
	// The duplicate keeps the socket; closing the original takes it out
	// of Go's poller.
	_ = c.Close()
	rc := &rconn{fd: int32(fd), s: s, parse: parse, buf: make([]byte, 0, readBufSize), result: make(chan error, 1)}
	rc.buf = append(rc.buf, buffered...)
	if err := rc.consume(time.Now()); err != nil {
		_ = unix.Close(fd)
		return true, err
	}
	r := rs.list[int(rs.next.Add(1))%len(rs.list)]
	r.mu.Lock()
	if r.dead {
		r.mu.Unlock()
		_ = unix.Close(fd)
		return true, errors.New("bench reader stopped")
	}
	r.conns[rc.fd] = rc
	r.mu.Unlock()
	if err := unix.EpollCtl(r.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
		r.finish(rc, err)
		return true, <-rc.result
	}
	select {
	case err := <-rc.result:
		return true, err
	case <-stop:
		rc.mu.Lock()
		if !rc.closed {
			_ = unix.Shutdown(fd, unix.SHUT_RDWR) // the reactor sees the end and cleans up
		}
		rc.mu.Unlock()
		return true, <-rc.result
	}
}

// consume parses what rc.buf holds and keeps the incomplete rest.
func (rc *rconn) consume(now time.Time) error {
	n, err := rc.parse(rc, rc.buf, now)
	if err != nil {
		return err
	}
	rest := copy(rc.buf, rc.buf[n:])
	rc.buf = rc.buf[:rest]
	if len(rc.buf) > maxUnit+14 { // a whole unit and a frame header
		return fmt.Errorf("unit longer than %d bytes", maxUnit)
	}
	return nil
}

func (r *reactor) loop() {
	defer close(r.done)
	events := make([]unix.EpollEvent, r.ring.Size())
	ready := make([]*rconn, 0, len(events))
	for !r.stop.Load() {
		n, err := unix.EpollWait(r.ep, events, 100)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			break // its connections end below
		}
		ready = ready[:0]
		r.mu.Lock()
		for _, ev := range events[:n] {
			if rc := r.conns[ev.Fd]; rc != nil {
				ready = append(ready, rc)
			}
		}
		r.mu.Unlock()
		for _, rc := range ready {
			if cap(rc.buf)-len(rc.buf) < readBufSize/2 {
				rc.buf = append(rc.buf, make([]byte, cap(rc.buf))...)[:len(rc.buf)]
			}
			r.ring.Recv(rc.fd, rc.buf[len(rc.buf):cap(rc.buf)])
		}
		results, _ := r.ring.Flush() // a failure shows in the results and Broken
		if r.ring.Broken() != nil {
			break // every connection ends below with the ring's error
		}
		now := time.Now()
		for i, res := range results {
			rc := ready[i]
			switch {
			case res.Res == uring.NotSubmitted:
				// not read this time; epoll reports it again
			case res.Res > 0:
				rc.buf = rc.buf[:len(rc.buf)+int(res.Res)]
				if perr := rc.consume(now); perr != nil {
					r.finish(rc, perr)
				}
			case res.Res == 0:
				r.finish(rc, io.EOF)
			case res.Res == -int32(syscall.EAGAIN):
			default:
				r.finish(rc, syscall.Errno(-res.Res))
			}
		}
	}
	why := errors.New("bench stopped")
	if err := r.ring.Broken(); err != nil {
		why = err
	}
	r.mu.Lock()
	r.dead = true
	left := make([]*rconn, 0, len(r.conns))
	for _, rc := range r.conns {
		left = append(left, rc)
	}
	r.mu.Unlock()
	for _, rc := range left {
		r.finish(rc, why)
	}
}

// finish ends rc's connection and reports err to its subscriber.
func (r *reactor) finish(rc *rconn, err error) {
	r.mu.Lock()
	delete(r.conns, rc.fd)
	r.mu.Unlock()
	rc.mu.Lock()
	first := !rc.closed
	if first {
		rc.closed = true
		_ = unix.EpollCtl(r.ep, unix.EPOLL_CTL_DEL, int(rc.fd), nil)
		_ = unix.Close(int(rc.fd))
	}
	rc.mu.Unlock()
	if first {
		rc.result <- err
	}
}

// write sends a short frame (a WebSocket pong) from the reactor.
func (rc *rconn) write(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(int(rc.fd), b)
		if err == unix.EAGAIN {
			return errors.New("socket full while answering a ping")
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
