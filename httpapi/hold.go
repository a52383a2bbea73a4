package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// heldPoll is a long poll parked on a hijacked connection: while it waits
// it costs its session, its socket, a timer and one small reader
// goroutine — not net/http's goroutine and buffers. The answer ends with
// Connection: close; clients open a new connection for the next poll,
// which is cheap next to the wait.
type heldPoll struct {
	s      *Server
	conn   net.Conn
	sess   *engine.Session
	header http.Header

	running   atomic.Bool
	again     atomic.Bool
	timedOut  atomic.Bool
	responded atomic.Bool
	timer     *time.Timer
	endOnce   sync.Once
}

// hold hijacks an HTTP/1.x long poll that has nothing to answer yet. It
// returns false, having done nothing, when the connection cannot be taken.
func (s *Server) hold(w http.ResponseWriter, r *http.Request, sess *engine.Session, wait time.Duration) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	brw.Reader.Reset(nil)
	brw.Writer.Reset(nil)
	h := &heldPoll{s: s, conn: conn, sess: sess, header: w.Header().Clone()}
	h.timer = time.AfterFunc(wait, func() { h.timedOut.Store(true); h.kick() })
	sess.OnReady(h.kick)
	go func() {
		var one [1]byte
		_, _ = conn.Read(one[:]) // the client went away (or sent garbage)
		h.end()
	}()
	return true
}

func (h *heldPoll) kick() {
	h.again.Store(true)
	if h.running.CompareAndSwap(false, true) {
		go h.run()
	}
}

func (h *heldPoll) run() {
	for {
		h.again.Store(false)
		if h.responded.Load() {
			return
		}
		page, err := collect(context.Background(), h.sess, h.s.o.PollPage)
		switch {
		case err != nil:
			h.fail(err)
			return
		case len(page.events) > 0:
			h.header.Set(CursorHeader, page.cursor)
			h.header.Set("Content-Type", "application/json")
			h.respond(http.StatusOK, page.appendJSON(nil))
			return
		case h.timedOut.Load():
			h.header.Set(CursorHeader, page.cursor)
			h.respond(http.StatusNoContent, nil)
			return
		}
		h.running.Store(false)
		if !h.again.Load() || !h.running.CompareAndSwap(false, true) {
			return
		}
	}
}

func (h *heldPoll) fail(err error) {
	if reddot.ErrorCode(err) == reddot.EUNAVAILABLE {
		h.header.Set(CursorHeader, h.sess.Cursor())
		h.header.Set("Retry-After", "1")
	}
	body, _ := json.Marshal(errorBody{Error: errorDetail{Code: reddot.ErrorCode(err), Message: reddot.ErrorMessage(err)}})
	h.header.Set("Content-Type", "application/json")
	h.respond(ErrorStatus(err), append(body, '\n'))
}

// respond writes the one answer of the poll and closes the connection.
func (h *heldPoll) respond(status int, body []byte) {
	if !h.responded.CompareAndSwap(false, true) {
		return
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	h.header.Set("Connection", "close")
	if status != http.StatusNoContent {
		h.header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	_ = h.header.Write(&b)
	b.WriteString("\r\n")
	b.Write(body)
	_ = h.conn.SetWriteDeadline(time.Now().Add(h.s.o.PingTimeout))
	_, _ = h.conn.Write(b.Bytes())
	h.end()
}

func (h *heldPoll) end() {
	h.endOnce.Do(func() {
		h.responded.Store(true)
		h.timer.Stop()
		if tc, ok := h.conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite() // let the answer drain before the close
		}
		_ = h.conn.Close()
		h.sess.Close()
	})
}
