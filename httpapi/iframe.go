package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// iframeRecycleBytes is how much one forever frame carries before the
// server ends it with {"control":"close","code":"recycle","retry":0,…}, so
// neither the browser nor a buffering proxy holds an ever-growing document.
const iframeRecycleBytes = 256 << 10

// iframePadding makes browsers and proxies that hold back small first
// chunks render the frame at once.
const iframePadding = 2048

// codeRecycle is the close code of a frame that reached iframeRecycleBytes.
const codeRecycle = "recycle"

// iframeEncoder writes one <script>d(…)</script> per message. The JSON is
// HTML-escaped (<, >, &, U+2028, U+2029 become \u escapes), so no data can
// end the script element or break the JavaScript around it.
type iframeEncoder struct {
	sess    *engine.Session
	left    int    // bytes until the frame is recycled
	recycle func() // ends the stream loop; called once
}

var _ encoder = (*iframeEncoder)(nil)

func scriptCall(b []byte, js []byte) []byte {
	b = append(b, "<script>d("...)
	var esc bytes.Buffer
	json.HTMLEscape(&esc, js)
	b = append(b, esc.Bytes()...)
	return append(b, ")</script>\n"...)
}

func (e *iframeEncoder) spend(b []byte, from int) []byte {
	if e.left -= len(b) - from; e.left < 0 && e.recycle != nil {
		e.recycle()
		e.recycle = nil
	}
	return b
}

func (e *iframeEncoder) event(b []byte, o engine.Out) []byte {
	return e.spend(scriptCall(b, o.AppendJSON(nil)), len(b))
}

func (e *iframeEncoder) heartbeat(b []byte) []byte {
	return e.spend(scriptCall(b, []byte(`{"control":"heartbeat"}`)), len(b))
}

func (e *iframeEncoder) closing(b []byte, err error) []byte {
	return e.control(b, reddot.ErrorCode(err), time.Second)
}

// control appends {"control":"close","code":…,"retry":ms,"cursor":…}.
func (e *iframeEncoder) control(b []byte, code string, retry time.Duration) []byte {
	msg, _ := json.Marshal(struct {
		Control string `json:"control"`
		Code    string `json:"code"`
		Retry   int64  `json:"retry"`
		Cursor  string `json:"cursor"`
	}{"close", code, retry.Milliseconds(), e.sess.Cursor()})
	return scriptCall(b, msg)
}

// iframeOrigin accepts a serialized web origin (scheme://host[:port]) that
// is on the allow-list. A "*" entry in the list admits every such origin;
// "*" itself is never accepted, so postMessage always names its target.
func (s *Server) iframeOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || origin != u.Scheme+"://"+u.Host {
		return false
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		if net.ParseIP(host) == nil {
			return false
		}
	} else if host == "" || strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" {
		return false
	}
	if port := u.Port(); strings.HasSuffix(u.Host, ":") || strings.Trim(port, "0123456789") != "" || len(port) > 5 {
		return false
	}
	return s.originAllowed(origin)
}

// handleIframe serves a text/html forever frame that hands each event to
// the parent page with postMessage(event, origin), for an origin on the
// allow-list only. Control messages {"control":"open"|"heartbeat"|"close"}
// carry the retry delay and cursor; since resumes as on every transport.
func (s *Server) handleIframe(w http.ResponseWriter, r *http.Request) {
	origin := r.URL.Query().Get("origin")
	if !s.iframeOrigin(origin) {
		s.writeError(w, r, reddot.Errorf(reddot.EFORBIDDEN, "origin %q is not an origin on the allow-list (--allowed-origins)", origin))
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
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; frame-ancestors "+origin)
	w.WriteHeader(http.StatusOK)

	var pre bytes.Buffer
	originJSON, _ := json.Marshal(origin)
	pre.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>reddot</title></head><body>\n")
	pre.WriteString("<!--" + strings.Repeat(" ", iframePadding) + "-->\n")
	// d posts one message, then removes its own script element so a long
	// stream does not grow the frame's DOM.
	pre.WriteString("<script>var o=")
	json.HTMLEscape(&pre, originJSON)
	pre.WriteString(";function d(m){parent.postMessage(m,o);var s=document.getElementsByTagName(\"script\");s=s[s.length-1];if(s.parentNode&&s.text.charAt(0)===\"d\")s.parentNode.removeChild(s)}</script>\n")
	open, _ := json.Marshal(map[string]any{"control": "open", "retry": s.o.Retry.Milliseconds(), "cursor": sess.Cursor()})
	pre.Write(scriptCall(nil, open))

	ctx, recycle := context.WithCancel(r.Context())
	defer recycle()
	enc := &iframeEncoder{sess: sess, left: iframeRecycleBytes, recycle: recycle}
	s.serveStream(w, r.WithContext(ctx), sess, p, enc, pre.Bytes())
	if enc.recycle == nil && r.Context().Err() == nil {
		// The frame is full: say so with the cursor; the parent reloads it at once.
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Now().Add(s.o.PingTimeout))
		if _, err := w.Write(enc.control(nil, codeRecycle, 0)); err == nil {
			_ = rc.Flush()
		}
	}
}
