package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/httpapi"
)

const appOrigin = "https://app.example" // on newEnv's allow-list

func TestIframeHeadersPaddingAndOpen(t *testing.T) {
	e := newEnv(t)
	f, open := e.openIframe("topics=news&origin=" + url.QueryEscape(appOrigin) + "&token=" + e.token("42"))
	h := f.resp.Header
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-cache, no-store",
		"X-Content-Type-Options":  "nosniff",
		"X-Accel-Buffering":       "no",
		"Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; frame-ancestors " + appOrigin,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if len(f.head) < 2048 {
		t.Errorf("%d bytes before the first message, want at least 2 KiB of padding", len(f.head))
	}
	if !strings.Contains(f.head, `var o="`+appOrigin+`"`) || !strings.Contains(f.head, "parent.postMessage(m,o)") {
		t.Errorf("preamble does not post to the origin: %q", f.head)
	}
	if strings.Contains(f.head, `"*"`) || strings.Contains(f.head, "callback") {
		t.Errorf("preamble %q", f.head)
	}
	if open.Retry == nil || *open.Retry != 2000 || open.Cursor == "" {
		t.Fatalf("open control %q: want retry 2000 and a cursor", open.line)
	}
	id := e.publish(`{"topic":"news","data":{"a":1}}`)[0]
	if m := f.event(t, wait); m.ID != id || m.Seq != 1 || m.Topic != "news" || m.Cursor == "" {
		t.Fatalf("event %q", m.line)
	}
}

// Event data that tries to close the script element, or that holds line
// separators JavaScript once choked on, arrives intact and escaped.
func TestIframeEscapesEventData(t *testing.T) {
	e := newEnv(t)
	f, _ := e.openIframe("topics=news&inbox=false&origin=" + url.QueryEscape(appOrigin) + "&token=" + e.token("42"))
	payload := map[string]string{
		"script":  "</script><script>alert(1)</script>",
		"comment": "<!-- <script> -->",
		"amp":     "a & b > c",
		"lines":   "one\u2028two\u2029three",
		"quote":   `"); alert(2); ("`,
	}
	// Written by hand: json.Marshal would escape these characters already.
	var data strings.Builder
	data.WriteString("{")
	for k, v := range payload {
		if data.Len() > 1 {
			data.WriteString(",")
		}
		data.WriteString(`"` + k + `":"` + strings.ReplaceAll(v, `"`, `\"`) + `"`)
	}
	data.WriteString("}")
	if strings.Contains(data.String(), `\u`) {
		t.Fatal("the publish body must carry the raw characters")
	}
	e.publish(`{"topic":"news","data":` + data.String() + `}`)
	m := f.event(t, wait)
	js := strings.TrimSuffix(strings.TrimPrefix(m.line, "<script>d("), ")</script>\n")
	if strings.ContainsAny(js, "<>&\u2028\u2029") {
		t.Fatalf("unescaped characters in %q", js)
	}
	if strings.Count(m.line, "</script>") != 1 || strings.Count(m.line, "<script>") != 1 {
		t.Fatalf("line %q has more than its own script element", m.line)
	}
	var got map[string]string
	if err := json.Unmarshal(m.Data, &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range payload {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func TestIframeRefusesOrigins(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	for _, origin := range []string{
		"", "*", "null", "https://evil.example", "http://app.example", "https://app.example/",
		"https://app.example/x", "https://app.example?x", "https://app.example#x", "https://user@app.example",
		"javascript:alert(1)", `https://app.example"><script>`, "https://app.example:443x",
	} {
		a := e.pollGet("/v1/iframe?topics=news&token=" + tok + "&origin=" + url.QueryEscape(origin))
		var body struct {
			Error struct{ Code, Message string }
		}
		if a.status != 403 || json.Unmarshal(a.body, &body) != nil || body.Error.Code != "forbidden" {
			t.Errorf("origin %q: %d %s, want 403 forbidden", origin, a.status, a.body)
		}
		if strings.Contains(a.header.Get("Content-Type"), "html") {
			t.Errorf("origin %q: refused with %s", origin, a.header.Get("Content-Type"))
		}
	}
	if a := e.pollGet("/v1/iframe?topics=news&origin=" + url.QueryEscape(appOrigin)); a.status != 401 {
		t.Errorf("no token: %d", a.status)
	}
}

// A page the server serves itself (the demo) may embed the frame without
// being on the allow-list.
func TestIframeAcceptsTheServersOwnOrigin(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.srv.URL + "/v1/iframe?topics=news&token=" + e.token("42") + "&origin=" + url.QueryEscape(e.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasSuffix(resp.Header.Get("Content-Security-Policy"), "frame-ancestors "+e.srv.URL) {
		t.Fatalf("own origin: %d %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
}

// A "*" in the allow-list admits any well-formed origin, and postMessage
// still names it; "*" itself is never a target.
func TestIframeWildcardAllowList(t *testing.T) {
	e := newEnv(t, withHTTPOpts(func(o *httpapi.Options) { o.AllowedOrigins = []string{"*"} }))
	tok := e.token("42")
	for _, origin := range []string{"*", "http://a;b", "https://x.example:", "https://x.example/", "https://[zz]"} {
		if a := e.pollGet("/v1/iframe?topics=news&token=" + tok + "&origin=" + url.QueryEscape(origin)); a.status != 403 {
			t.Errorf("origin %q: %d, want 403", origin, a.status)
		}
	}
	for _, origin := range []string{"https://any.example", "http://127.0.0.1:8080", "http://[::1]:3000"} {
		f, _ := e.openIframe("topics=news&token=" + tok + "&origin=" + url.QueryEscape(origin))
		if !strings.Contains(f.head, `var o="`+origin+`"`) {
			t.Errorf("origin %q: preamble %q", origin, f.head)
		}
		f.close()
	}
}

// A frame reopened with the last cursor gets exactly what it missed.
func TestIframeResumesBySince(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	q := "topics=news&origin=" + url.QueryEscape(appOrigin) + "&token=" + tok
	f, _ := e.openIframe(q)
	e.publish(`{"topic":"news","data":1}`)
	last := f.event(t, wait)
	f.close()
	var want []string
	want = append(want, e.publish(`{"topic":"news","data":2}`)...)
	want = append(want, e.publish(`{"users":["42"],"notification":{"category":"c","title":"away"}}`)...)
	want = append(want, e.publish(`{"topic":"news","data":3}`)...)

	g, open := e.openIframe(q + "&since=" + url.QueryEscape(last.Cursor))
	if open.Cursor != last.Cursor {
		t.Fatalf("open cursor %q, want the since %q", open.Cursor, last.Cursor)
	}
	var got []string
	for range want {
		got = append(got, g.event(t, wait).ID)
	}
	if !sameSet(got, want) {
		t.Fatalf("resumed with %v, want %v", got, want)
	}
	live := e.publish(`{"topic":"news","data":4}`)[0]
	if m := g.event(t, wait); m.ID != live {
		t.Fatalf("live after resume: %q", m.line)
	}
}

func TestIframeHeartbeatAndDrain(t *testing.T) {
	e := newEnv(t, withHTTPOpts(func(o *httpapi.Options) { o.Heartbeat = 50 * time.Millisecond }))
	f, open := e.openIframe("topics=news&origin=" + url.QueryEscape(appOrigin) + "&token=" + e.token("42"))
	for range 2 {
		if m := f.next(t, wait); m.Control != "heartbeat" {
			t.Fatalf("want a heartbeat, got %q", m.line)
		}
	}
	if err := e.eng.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	for {
		m := f.next(t, wait)
		if m.Control == "heartbeat" {
			continue
		}
		if m.Control != "close" || m.Code != "unavailable" || m.Retry == nil || m.Cursor != open.Cursor {
			t.Fatalf("on drain: %q", m.line)
		}
		break
	}
	if _, ok := <-f.msgs; ok {
		t.Fatal("stream goes on after close")
	}
}

// A frame that carried its byte budget ends with a recycle close and the
// cursor; the reopened frame continues without loss or repeat.
func TestIframeRecyclesLongFrames(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	q := "topics=news&inbox=false&origin=" + url.QueryEscape(appOrigin) + "&token=" + tok
	f, _ := e.openIframe(q)
	filler := strings.Repeat("x", 4000)
	var batch strings.Builder
	for i := range 100 { // about 400 KB, more than one frame carries
		fmt.Fprintf(&batch, `{"topic":"news","data":{"n":%d,"s":%q}}`+"\n", i, filler)
	}
	st, b, _ := e.do("POST", "/v1/publish/batch", testKey, batch.String())
	if st != 200 {
		t.Fatalf("batch: %d %s", st, b)
	}
	var got []uint64
	var closing frameMsg
	for closing.Control == "" {
		m := f.next(t, wait)
		switch m.Control {
		case "":
			got = append(got, m.Seq)
		case "close":
			closing = m
		}
	}
	if closing.Code != "recycle" || closing.Retry == nil || *closing.Retry != 0 || closing.Cursor == "" {
		t.Fatalf("close %q, want code recycle, retry 0 and a cursor", closing.line)
	}
	if len(got) == 0 || len(got) >= 100 {
		t.Fatalf("first frame carried %d events", len(got))
	}
	g, _ := e.openIframe(q + "&since=" + url.QueryEscape(closing.Cursor))
	for len(got) < 100 {
		got = append(got, g.event(t, wait).Seq)
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("seqs %v", got)
		}
	}
	if !slices.IsSorted(got) {
		t.Fatal("unsorted")
	}
}

var servedOrigin = regexp.MustCompile(`^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)

// FuzzIframeOrigin: whatever the origin parameter, the answer is 403, or a
// frame whose CSP and postMessage target are exactly that origin, which
// is a plain scheme://host[:port].
func FuzzIframeOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example", "*", "http://[::1]:80", "https://a.example:", "http://a;b",
		"https://a.example/", "javascript:alert(1)", "https://a.example\"><script>", "HTTPS://A.EXAMPLE", "http://a b"} {
		f.Add(s)
	}
	e := newEnv(f, withHTTPOpts(func(o *httpapi.Options) { o.AllowedOrigins = []string{"*"} }))
	tok := e.token("42")
	f.Fuzz(func(t *testing.T, origin string) {
		resp, err := http.Get(e.srv.URL + "/v1/iframe?topics=news&token=" + tok + "&origin=" + url.QueryEscape(origin))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case 403:
			return
		case 200:
		default:
			t.Fatalf("origin %q: status %d", origin, resp.StatusCode)
		}
		if !servedOrigin.MatchString(origin) {
			t.Fatalf("served a frame for origin %q", origin)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "; frame-ancestors "+origin) {
			t.Fatalf("origin %q: CSP %q", origin, csp)
		}
		head := make([]byte, 4096)
		n, _ := io.ReadAtLeast(resp.Body, head, 2200)
		if !strings.Contains(string(head[:n]), `<script>var o="`+origin+`";`) {
			t.Fatalf("origin %q: preamble %q", origin, head[:n])
		}
	})
}

// A cursor past retention gets a reset event, then the stream goes on.
func TestIframeResetWhenCursorIsPastRetention(t *testing.T) {
	e := newEnv(t)
	bogus := reddot.Cursor{Epoch: e.store.Epoch() + 1, Positions: []reddot.Position{{Topic: "news", Seq: 1}}}.Encode("42")
	f, _ := e.openIframe("topics=news&inbox=false&origin=" + url.QueryEscape(appOrigin) + "&token=" + e.token("42") + "&since=" + bogus)
	reset := f.event(t, wait)
	if reset.Event != "reset" || reset.Topic != "news" || reset.Cursor == "" {
		t.Fatalf("want a reset, got %q", reset.line)
	}
	id := e.publish(`{"topic":"news","data":1}`)[0]
	if m := f.event(t, wait); m.ID != id {
		t.Fatalf("after the reset: %q", m.line)
	}
}
