package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// iframeEncoder writes one <script> per event into a forever frame. The
// JSON is HTML-escaped (<, >, &, U+2028, U+2029) so data cannot end the
// script element.
type iframeEncoder struct{}

func scriptCall(b []byte, js []byte) []byte {
	b = append(b, "<script>d("...)
	var esc bytes.Buffer
	json.HTMLEscape(&esc, js)
	b = append(b, esc.Bytes()...)
	return append(b, ")</script>\n"...)
}

func (iframeEncoder) event(b []byte, o engine.Out) []byte {
	return scriptCall(b, o.AppendJSON(nil))
}

func (iframeEncoder) heartbeat(b []byte) []byte {
	return scriptCall(b, []byte(`{"control":"heartbeat"}`))
}

func (iframeEncoder) closing(b []byte, err error) []byte {
	msg, _ := json.Marshal(map[string]any{"control": "close", "code": reddot.ErrorCode(err), "retry": 1000})
	return scriptCall(b, msg)
}

// handleIframe serves a text/html forever frame that hands each event to
// the parent page with postMessage, for an origin on the allow-list only.
func (s *Server) handleIframe(w http.ResponseWriter, r *http.Request) {
	origin := r.URL.Query().Get("origin")
	if origin == "" || origin == "*" || strings.ContainsAny(origin, "<>\"' ") || !s.originAllowed(origin) {
		s.writeError(w, r, reddot.Errorf(reddot.EFORBIDDEN, "origin %q is not on the allow-list (--allowed-origins)", origin))
		return
	}
	sess, p, err := s.openSession(r, "iframe", false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sess.Close()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; frame-ancestors "+origin)
	w.WriteHeader(http.StatusOK)

	var pre bytes.Buffer
	originJSON, _ := json.Marshal(origin)
	pre.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>reddot</title></head><body>\n")
	// Browsers and proxies hold back small first chunks; 2 KiB of padding makes them render at once.
	pre.WriteString("<!--" + strings.Repeat(" ", 2048) + "-->\n")
	pre.WriteString("<script>var o=")
	json.HTMLEscape(&pre, originJSON)
	pre.WriteString(";function d(m){parent.postMessage(m,o)}</script>\n")
	open, _ := json.Marshal(map[string]any{"control": "open", "retry": s.o.Retry.Milliseconds(), "cursor": sess.Cursor()})
	pre.Write(scriptCall(nil, open))
	s.serveStream(w, r, sess, p, iframeEncoder{}, pre.Bytes())
}
