package httpapi

import (
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
