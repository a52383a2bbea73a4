package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// CursorHeader carries the subscription's cursor on every poll answer, so
// answers without a body (204, 304) still say where the client stands.
const CursorHeader = "Reddot-Cursor"

// errGone answers a poll whose cursor points before what is retained.
var errGone = reddot.Errorf(reddot.EGONE, "events after your cursor are no longer retained; re-read the inbox over REST and poll without since")

// pollPage is one poll answer: at most a page of events and the cursor
// right after the last of them.
type pollPage struct {
	events [][]byte
	cursor string
}

// appendJSON appends {"events":[…],"cursor":"…"}; the events are the same
// bytes every other transport sends.
func (p pollPage) appendJSON(b []byte) []byte {
	b = append(b, `{"events":[`...)
	for i, ev := range p.events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev...)
	}
	b = append(b, `],"cursor":"`...)
	b = append(b, p.cursor...)
	return append(b, "\"}\n"...)
}

// collect drains what the session has now, at most limit events. A reset
// among them is errGone. Live events past the limit are left out and the
// cursor stops before them, so the next poll reads them from the store.
func collect(ctx context.Context, sess *engine.Session, limit int) (pollPage, error) {
	var page pollPage
	var last []byte
	for len(page.events) < limit {
		sess.SetPage(limit - len(page.events))
		outs, err := sess.TryNext(ctx)
		if err != nil {
			return page, err
		}
		if len(outs) == 0 {
			break
		}
		for _, o := range outs {
			if o.Event.Event == reddot.EventReset {
				return page, errGone
			}
			if len(page.events) == limit {
				page.cursor = string(last)
				return page, nil
			}
			page.events = append(page.events, o.AppendJSON(nil))
			last = o.Cursor
		}
	}
	page.cursor = sess.Cursor()
	return page, nil
}

// handlePoll answers at once with the events after since (none, when
// since is absent: the answer's cursor marks the current head). Every
// answer carries an ETag; If-None-Match with it gets 304 while nothing
// changed.
func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request) {
	sess, p, err := s.openSession(r, "poll", false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sess.Close()
	page, err := collect(r.Context(), sess, s.o.PollPage)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	if p.Anonymous() && s.o.PublicCacheTTL > 0 {
		// Anonymous answers hold public topics only: a CDN may share them.
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.o.PublicCacheTTL.Seconds())))
	} else {
		h.Set("Cache-Control", "private, no-cache")
	}
	h.Set(CursorHeader, page.cursor)
	body := page.appendJSON(nil)
	writeTagged(w, r, body[:len(body)-1])
}

// handleLongPoll answers at once when events are waiting, otherwise holds
// the request until one arrives (200 with every event then ready, up to a
// page) or the timeout passes (204). Over HTTP/1.x a request that has to
// wait is parked off net/http (see heldPoll) and answered with
// Connection: close; nothing of it outlives the answer.
func (s *Server) handleLongPoll(w http.ResponseWriter, r *http.Request) {
	wait := s.o.LongPollWait
	if t := r.URL.Query().Get("timeout"); t != "" {
		d, err := parseTimeout(t)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		wait = min(d, s.o.LongPollMax)
	}
	sess, p, err := s.openSession(r, "longpoll", false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	detached := false
	defer func() {
		if !detached {
			sess.Close()
		}
	}()
	if !p.Expires.IsZero() {
		wait = min(wait, time.Until(p.Expires)) // the next poll then gets its 401
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	deadline := time.Now().Add(wait)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	held := false
	for {
		page, err := collect(r.Context(), sess, s.o.PollPage)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			if reddot.ErrorCode(err) == reddot.EUNAVAILABLE {
				// Draining: the client comes back elsewhere from this cursor.
				h.Set(CursorHeader, sess.Cursor())
				h.Set("Retry-After", "1")
			}
			s.writeError(w, r, err)
			return
		}
		h.Set(CursorHeader, page.cursor)
		if len(page.events) > 0 {
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(page.appendJSON(nil))
			return
		}
		if !held && wait > 0 {
			held = true
			if s.hold(w, r, sess, time.Until(deadline)) {
				detached = true
				return
			}
		}
		select {
		case <-sess.Ready():
		case <-timer.C:
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			return
		}
	}
}

// parseTimeout takes seconds ("25", "0.5") or a Go duration ("1500ms").
func parseTimeout(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 && n < 1e6 {
		return time.Duration(n * float64(time.Second)), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, reddot.Errorf(reddot.EINVALID, "timeout must be seconds (25) or a duration (1500ms)")
}
