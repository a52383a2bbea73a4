//go:build !linux

package bench

import (
	"net"
	"time"
)

// reactors need epoll and io_uring; elsewhere every connection has its
// own reading goroutine.
type reactors struct{}

type rconn struct {
	s    *sub
	msg  []byte
	frag bool
}

func newReactors() *reactors { return nil }

func (rs *reactors) close() {}

func (rs *reactors) serve(net.Conn, []byte, *sub, func(*rconn, []byte, time.Time) (int, error), <-chan struct{}) (bool, error) {
	return false, nil
}

func (rc *rconn) write([]byte) error { return nil }
