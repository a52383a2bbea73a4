package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/engine"
	"github.com/reddot-dev/reddot/membus"
	"github.com/reddot-dev/reddot/sqlite"
	"github.com/reddot-dev/reddot/web"
)

var secret = []byte("web-test-secret-0123456789")

// newServer mounts the SDK and the demo on a fresh engine.
func newServer(t *testing.T) (*httptest.Server, *engine.Engine) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/reddot.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{Store: st, Bus: membus.New()})
	mux := http.NewServeMux()
	web.MountSDK(mux)
	web.MountDemo(mux, web.DemoOptions{Engine: eng, Secret: secret})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		_ = eng.Drain(context.Background())
		_ = st.Close()
	})
	return srv, eng
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestSDKServedWithETag(t *testing.T) {
	srv, _ := newServer(t)
	for path, want := range map[string]string{"/reddot.js": "export class Reddot", "/reddot-mqtt.js": "export function mqttTransport"} {
		res, body := get(t, srv.URL+path)
		if res.StatusCode != 200 || !strings.Contains(body, want) {
			t.Fatalf("%s: %d, body lacks %q", path, res.StatusCode, want)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("%s: Content-Type %q, want text/javascript (module scripts need it)", path, ct)
		}
		if res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: not loadable as a cross-origin module", path)
		}
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", path)
		}
		if res, _ := get(t, srv.URL+path, "If-None-Match", etag); res.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", path, res.StatusCode)
		}
	}
}

func TestDemoPages(t *testing.T) {
	srv, _ := newServer(t)
	for path, want := range map[string]string{
		"/":              `<script type="module" src="/demo/demo.js">`,
		"/demo/demo.js":  "from '/reddot.js'",
		"/demo/demo.css": ".badge",
	} {
		res, body := get(t, srv.URL+path)
		if res.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, body lacks %q", path, res.StatusCode, want)
		}
	}
	if res, _ := get(t, srv.URL+"/demo/missing.js"); res.StatusCode != 404 {
		t.Errorf("missing demo file: %d, want 404", res.StatusCode)
	}
}

func TestDemoTokenIsASubscriberToken(t *testing.T) {
	srv, _ := newServer(t)
	res, body := get(t, srv.URL+"/demo/token?user=7")
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %q: %s", res.StatusCode, res.Header.Get("Cache-Control"), body)
	}
	var got struct{ Token, User string }
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.User != "7" {
		t.Fatalf("%s: %v", body, err)
	}
	a, err := auth.New(auth.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Subscriber(context.Background(), got.Token)
	if err != nil || p.User != "7" || time.Until(p.Expires) < time.Hour {
		t.Fatalf("token does not authenticate user 7 for long: %+v %v", p, err)
	}
	if res, body := get(t, srv.URL+"/demo/token?user=bad%20user"); res.StatusCode != 400 {
		t.Errorf("invalid user: %d %s, want 400", res.StatusCode, body)
	}
}

func TestDemoPublish(t *testing.T) {
	srv, eng := newServer(t)
	post := func(body string) (int, string) {
		res, err := http.Post(srv.URL+"/demo/publish", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := post(`{"users":["42"],"notification":{"category":"comment","title":"hi"}}`)
	if code != 200 || !strings.Contains(body, `"ids":[`) {
		t.Fatalf("%d %s", code, body)
	}
	c, err := eng.Unread(context.Background(), "42")
	if err != nil || c.Total != 1 {
		t.Fatalf("unread after demo publish: %+v %v", c, err)
	}
	for body, want := range map[string]int{
		`{"topic":"user:42","data":1}`: 403, // reserved
		`{"nope":1}`:                   400,
		`not json`:                     400,
	} {
		if code, got := post(body); code != want || !strings.Contains(got, `"error"`) {
			t.Errorf("%s: %d %s, want %d with an error body", body, code, got, want)
		}
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_, got := post(`{"topic":"user:42","data":1}`)
	if json.Unmarshal([]byte(got), &e) != nil || e.Error.Code != reddot.EFORBIDDEN {
		t.Errorf("reserved topic: %s", got)
	}
}
