package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// openSession is the one subscription entry point of every HTTP transport.
func (s *Server) openSession(r *http.Request, transport string, allowEmpty bool) (*engine.Session, *reddot.Principal, error) {
	p, err := s.subscriber(r)
	if err != nil {
		return nil, nil, err
	}
	q := r.URL.Query()
	since := q.Get("since")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		since = id // EventSource sends it on reconnect; it is newer than the URL's
	}
	sess, err := s.eng.Subscribe(r.Context(), p, engine.SubscribeRequest{
		Topics:     splitList(q.Get("topics")),
		Since:      since,
		Inbox:      q.Get("inbox") != "false",
		Transport:  transport,
		AllowEmpty: allowEmpty,
	})
	return sess, p, err
}

// withExpiry ends ctx when the credential expires, so the client comes
// back with a fresh token.
func withExpiry(ctx context.Context, p *reddot.Principal) (context.Context, context.CancelFunc) {
	if p.Expires.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, p.Expires)
}

// encoder frames events for one streaming transport.
type encoder interface {
	event(b []byte, o engine.Out) []byte
	heartbeat(b []byte) []byte
	closing(b []byte, err error) []byte
}

// serveStream pumps a session into a long-lived HTTP response, flushing
// after each batch and writing heartbeats while idle.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, sess *engine.Session, p *reddot.Principal, enc encoder, preamble []byte) {
	rc := http.NewResponseController(w)
	ctx, cancel := withExpiry(r.Context(), p)
	defer cancel()
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.o.PingTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(preamble) {
		return
	}
	hb := time.NewTimer(s.o.Heartbeat)
	defer hb.Stop()
	buf := make([]byte, 0, 1024)
	for {
		outs, err := sess.TryNext(ctx)
		if err != nil {
			if ctx.Err() == nil || r.Context().Err() == nil {
				write(enc.closing(buf[:0], err))
			}
			return
		}
		if len(outs) > 0 {
			buf = buf[:0]
			for _, o := range outs {
				buf = enc.event(buf, o)
			}
			if !write(buf) {
				return
			}
			hb.Reset(s.o.Heartbeat)
			continue
		}
		select {
		case <-sess.Ready():
		case <-hb.C:
			if !write(enc.heartbeat(buf[:0])) {
				return
			}
			hb.Reset(s.o.Heartbeat)
		case <-ctx.Done():
			if r.Context().Err() == nil {
				write(enc.closing(buf[:0], reddot.Errorf(reddot.EUNAUTHORIZED, "token expired; reconnect with a fresh token")))
			}
			return
		}
	}
}

// detach takes over an HTTP/1.x connection for a stream: it writes the
// status line, the headers already set on w and the preamble itself, then
// hands the session to a pump so that neither net/http's goroutine nor its
// buffers stay behind. The body ends when the connection closes. It returns
// false, having written nothing, when the connection cannot be taken over
// (HTTP/2); the caller then streams through w.
func (s *Server) detach(w http.ResponseWriter, r *http.Request, sess *engine.Session, p *reddot.Principal, enc encoder, preamble []byte) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Connection", "close")
	_ = h.Write(&head)
	head.WriteString("\r\n")
	head.Write(preamble)
	brw.Reader.Reset(nil)
	brw.Writer.Reset(nil)
	pm := &pump{conn: conn, sess: sess, enc: enc, wheel: s.wheel, pace: s.pace, timeout: s.o.PingTimeout}
	if !pm.write(head.Bytes()) {
		_ = conn.Close()
		sess.Close()
		return true
	}
	pm.start(p.Expires, s.batcher())
	// A stream client sends nothing after its request: a read returning
	// means it went away (or broke the protocol). This goroutine parks with
	// a minimal stack and ends with the pump.
	go func() {
		var one [1]byte
		_, _ = conn.Read(one[:])
		pm.end()
	}()
	return true
}
