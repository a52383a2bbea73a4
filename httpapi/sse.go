package httpapi

import (
	"net/http"
	"strconv"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

type sseEncoder struct{}

func (sseEncoder) event(b []byte, o engine.Out) []byte {
	b = append(b, "id: "...)
	b = append(b, o.Cursor...)
	b = append(b, "\nevent: "...)
	b = append(b, o.Event.Event...)
	b = append(b, "\ndata: "...)
	b = o.AppendJSON(b)
	return append(b, "\n\n"...)
}

func (sseEncoder) heartbeat(b []byte) []byte { return append(b, ":hb\n\n"...) }

func (sseEncoder) closing(b []byte, err error) []byte {
	b = append(b, ": closing: "...)
	b = append(b, reddot.ErrorCode(err)...)
	return append(b, "\nretry: 1000\n\n"...)
}

// handleSSE serves text/event-stream: id is the cursor, so the browser's
// Last-Event-ID resumes exactly.
func (s *Server) handleSSE(w http.ResponseWriter, r *http.Request) {
	sess, p, err := s.openSession(r, "sse", false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	// The id line without data sets the browser's Last-Event-ID to the
	// starting position, so a drop before the first event still resumes.
	pre := []byte("retry: " + strconv.FormatInt(s.o.Retry.Milliseconds(), 10) + "\nid: " + sess.Cursor() + "\n: connected\n\n")
	if s.detach(w, r, sess, p, sseEncoder{}, pre) {
		return
	}
	defer sess.Close()
	w.WriteHeader(http.StatusOK)
	s.serveStream(w, r, sess, p, sseEncoder{}, pre)
}
