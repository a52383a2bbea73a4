package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// CursorHeader carries the cursor on answers without a body (204, 304).
const CursorHeader = "Reddot-Cursor"

type pollResponse struct {
	Events []json.RawMessage `json:"events"`
	Cursor string            `json:"cursor"`
}

// collect drains what the session has now, up to limit events. A reset
// among them makes the whole answer a 410.
func collect(ctx context.Context, sess *engine.Session, limit int, first []engine.Out) (pollResponse, error) {
	resp := pollResponse{Events: []json.RawMessage{}}
	outs := first
	for {
		for _, o := range outs {
			if o.Event.Event == reddot.EventReset {
				return resp, reddot.Errorf(reddot.EGONE, "events after your cursor are no longer retained; re-read the inbox and poll without since")
			}
			resp.Events = append(resp.Events, o.AppendJSON(nil))
		}
		if len(resp.Events) >= limit {
			break
		}
		sess.SetPage(limit - len(resp.Events))
		var err error
		if outs, err = sess.TryNext(ctx); err != nil {
			return resp, err
		}
		if len(outs) == 0 {
			break
		}
	}
	resp.Cursor = sess.Cursor()
	return resp, nil
}

// handlePoll answers at once with the events after since.
func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request) {
	sess, p, err := s.openSession(r, "poll", false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sess.Close()
	resp, err := collect(r.Context(), sess, s.o.PollPage, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, _ := json.Marshal(resp)
	if p.Anonymous() && s.o.PublicCacheTTL > 0 {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.o.PublicCacheTTL.Seconds())))
	} else {
		w.Header().Set("Cache-Control", "private, no-cache")
	}
	w.Header().Set(CursorHeader, resp.Cursor)
	writeTagged(w, r, body)
}

// handleLongPoll answers at once when events are waiting, otherwise holds
// the request until one arrives (200) or the timeout passes (204).
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
	sess, _, err := s.openSession(r, "longpoll", false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	sess.SetPage(s.o.PollPage)
	first, err := sess.Next(ctx)
	if err != nil && ctx.Err() != nil && r.Context().Err() == nil {
		w.Header().Set(CursorHeader, sess.Cursor())
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		if r.Context().Err() == nil {
			s.writeError(w, r, err)
		}
		return
	}
	resp, err := collect(r.Context(), sess, s.o.PollPage, first)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set(CursorHeader, resp.Cursor)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// parseTimeout takes seconds ("25") or a Go duration ("1500ms").
func parseTimeout(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 && n < 1e6 {
		return time.Duration(n * float64(time.Second)), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, reddot.Errorf(reddot.EINVALID, "timeout must be seconds (25) or a duration (1500ms)")
}
