package front

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// responseWriter is what the handler sees for a request served here. It
// buffers an answer that is not a takeover and writes it with a
// Content-Length when the handler returns.
type responseWriter struct {
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer // set by Hijack: the handler owns the connection
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && w.bw == nil {
		w.status = code
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.bw != nil {
		return 0, http.ErrHijacked
	}
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// Hijack hands the connection over with pooled buffers; the handler must
// not keep them past its return (httpapi resets both before returning).
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.bw != nil {
		return nil, nil, http.ErrHijacked
	}
	w.bw = writers.Get().(*bufio.Writer)
	w.bw.Reset(w.conn)
	return w.conn, bufio.NewReadWriter(w.br, w.bw), nil
}

// finish writes the buffered answer.
func (w *responseWriter) finish(req *http.Request) error {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	h := w.header
	if h.Get("Content-Type") == "" && w.body.Len() > 0 {
		h.Set("Content-Type", http.DetectContentType(w.body.Bytes()))
	}
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	bodyAllowed := w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified
	if bodyAllowed {
		h.Set("Content-Length", strconv.Itoa(w.body.Len()))
	} else {
		h.Del("Content-Length")
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "HTTP/1.1 %d %s\r\n", w.status, http.StatusText(w.status))
	_ = h.Write(&out)
	out.WriteString("\r\n")
	if bodyAllowed && req.Method != http.MethodHead {
		out.Write(w.body.Bytes())
	}
	_, err := w.conn.Write(out.Bytes())
	return err
}

// prefixConn replays bytes already read from a connection before reading
// on from it. pooled, when set, is the buffer pre lies in; it goes back to
// firsts once pre is consumed.
type prefixConn struct {
	net.Conn
	pre    []byte
	pooled *[]byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) == 0 {
		return c.Conn.Read(b)
	}
	n := copy(b, c.pre)
	c.pre = c.pre[n:]
	if len(c.pre) == 0 && c.pooled != nil {
		firsts.Put(c.pooled)
		c.pooled = nil
	}
	return n, nil
}

// SyscallConn exposes the socket (httpapi writes streams around net.Conn
// through io_uring); reads must still go through Read.
func (c *prefixConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("front: connection has no descriptor")
}

// handoff is the listener the http.Server serves: it yields the
// connections the front passes on. Closing it closes the real listener.
type handoff struct {
	inner net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	err   error
}

func newHandoff(inner net.Listener) *handoff {
	return &handoff{inner: inner, conns: make(chan net.Conn), done: make(chan struct{})}
}

// offer passes c to the server; false if the server is gone.
func (l *handoff) offer(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// fail ends Accept with err (the real listener failed or was closed).
func (l *handoff) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.Close()
}

func (l *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err == nil {
			return nil, net.ErrClosed
		}
		return nil, l.err
	}
}

func (l *handoff) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

func (l *handoff) Addr() net.Addr { return l.inner.Addr() }

// firsts holds buffers for the first read of a connection.
var firsts = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// readFirst waits until c has bytes to read and reads them, without
// holding a buffer while it waits: in a burst of connects thousands of
// connections wait for their request at once, and a 4 KiB reader for each
// was a quarter of the bytes a connect allocated. The bytes come back as a
// connection that replays them first. It returns nil, nil for a connection
// that is not a socket, which the caller then reads the usual way; an
// error means the client left, or sent nothing before c's read deadline.
func readFirst(c net.Conn) (*prefixConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, nil
	}
	pc := &prefixConn{Conn: c}
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		buf := firsts.Get().(*[]byte)
		n, err := syscall.Read(int(fd), *buf)
		for err == syscall.EINTR {
			n, err = syscall.Read(int(fd), *buf)
		}
		switch {
		case err == syscall.EAGAIN:
			firsts.Put(buf)
			return false // wait until readable
		case err != nil:
			rerr = err
		case n == 0:
			rerr = io.EOF
		default:
			pc.pre, pc.pooled = (*buf)[:n], buf
			return true
		}
		firsts.Put(buf)
		return true
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	return pc, nil
}
