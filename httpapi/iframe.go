package httpapi

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
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
//
// Once the frame has carried its byte budget the encoder closes the
// session: stored events are no longer written, and the closing message
// (code "recycle", retry 0) carries the cursor after the last event
// written, from which the reopened frame reads the rest from the store.
type iframeEncoder struct {
	sess     *engine.Session
	cursor   []byte // after the last event written
	left     int    // bytes until the frame is recycled
	recycled bool
}

var _ encoder = (*iframeEncoder)(nil)

var escBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// appendScript appends <script>d(js)</script> with js HTML-escaped. js may
// be the tail of b beyond len(b).
func appendScript(b []byte, js []byte) []byte {
	esc := escBufs.Get().(*bytes.Buffer)
	esc.Reset()
	json.HTMLEscape(esc, js)
	b = append(b, "<script>d("...)
	b = append(b, esc.Bytes()...)
	escBufs.Put(esc)
	return append(b, ")</script>\n"...)
}

func (e *iframeEncoder) spend(b []byte, from int) []byte {
	if e.left -= len(b) - from; e.left < 0 && !e.recycled {
		e.recycled = true
		e.sess.Close() // the stream loop's next step ends with closing()
	}
	return b
}

func (e *iframeEncoder) event(b []byte, o engine.Out) []byte {
	switch {
	case !e.recycled:
		e.cursor = o.Cursor
	case o.Event.Ephemeral():
		o.Cursor = e.cursor // the position before the events left out
	default:
		return b // the reopened frame reads it from the store
	}
	js := o.AppendJSON(b)[len(b):] // b's spare room as scratch: no allocation per event
	return e.spend(appendScript(b, js), len(b))
}

func (e *iframeEncoder) heartbeat(b []byte) []byte {
	return e.spend(appendScript(b, []byte(`{"control":"heartbeat"}`)), len(b))
}

// closing appends {"control":"close","code":…,"retry":ms,"cursor":…}.
func (e *iframeEncoder) closing(b []byte, err error) []byte {
	code, retry := reddot.ErrorCode(err), time.Second
	if e.recycled {
		code, retry = codeRecycle, 0
	}
	msg, _ := json.Marshal(struct {
		Control string `json:"control"`
		Code    string `json:"code"`
		Retry   int64  `json:"retry"`
		Cursor  string `json:"cursor"`
	}{"close", code, retry.Milliseconds(), string(e.cursor)})
	return appendScript(b, msg)
}

// iframeOrigin accepts a serialized web origin (scheme://host[:port]) that
// is the server's own or on the allow-list. A "*" entry in the list admits every such origin;
// "*" itself is never accepted, so postMessage always names its target.
func (s *Server) iframeOrigin(origin, requestHost string) bool {
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
	// The server's own origin (a page it serves, like the demo) is always
	// allowed: the frame then talks to a parent of the same origin.
	return strings.EqualFold(u.Host, requestHost) || s.originAllowed(origin)
}

// handleIframe serves a text/html forever frame that hands each event to
// the parent page with postMessage(event, origin), for an origin on the
// allow-list only. Control messages {"control":"open"|"heartbeat"|"close"}
// carry the retry delay and cursor; since resumes as on every transport.
func (s *Server) handleIframe(w http.ResponseWriter, r *http.Request) {
	origin := r.URL.Query().Get("origin")
	if !s.iframeOrigin(origin, r.Host) {
		s.writeError(w, r, reddot.Errorf(reddot.EFORBIDDEN, "origin %q is not an origin on the allow-list (--allowed-origins)", origin))
		return
	}
	sess, p, err := s.openSession(r, "iframe", false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; frame-ancestors "+origin)

	var pre bytes.Buffer
	originJSON, _ := json.Marshal(origin)
	pre.WriteString("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>reddot</title></head><body>\n")
	pre.WriteString("<!--" + strings.Repeat(" ", iframePadding) + "-->\n")
	// d posts one message, then removes its own script element so a long
	// stream does not grow the frame's DOM.
	pre.WriteString("<script>var o=")
	json.HTMLEscape(&pre, originJSON)
	pre.WriteString(";function d(m){parent.postMessage(m,o);var s=document.getElementsByTagName(\"script\");s=s[s.length-1];if(s.parentNode&&s.text.charAt(0)===\"d\")s.parentNode.removeChild(s)}</script>\n")
	cursor := sess.Cursor()
	enc := &iframeEncoder{sess: sess, cursor: []byte(cursor), left: iframeRecycleBytes}
	open, _ := json.Marshal(map[string]any{"control": "open", "retry": s.o.Retry.Milliseconds(), "cursor": cursor})
	pre.Write(appendScript(nil, open))

	if s.detach(w, r, sess, p, enc, pre.Bytes()) {
		return
	}
	defer sess.Close()
	w.WriteHeader(http.StatusOK)
	s.serveStream(w, r, sess, p, enc, pre.Bytes())
}
