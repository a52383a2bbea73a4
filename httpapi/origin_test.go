package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestWebSocketOriginAllowList(t *testing.T) {
	e := newEnv(t)
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/ws?token=" + e.token("42")
	dial := func(origin string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if c != nil {
			c.CloseNow()
		}
		if resp != nil {
			return resp.StatusCode, err
		}
		return 0, err
	}
	if st, err := dial("https://app.example"); err != nil || st != http.StatusSwitchingProtocols {
		t.Fatalf("allowed origin: %d %v", st, err)
	}
	if st, err := dial("https://evil.example"); err == nil || st != http.StatusForbidden {
		t.Fatalf("foreign origin: %d %v, want 403", st, err)
	}
}

func TestCORSPreflightAndHeaders(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/v1/inbox/unread", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ = http.NewRequest("GET", e.srv.URL+"/v1/inbox/unread", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Authorization", "Bearer "+e.token("42"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header for a foreign origin")
	}
}

func TestSSEHeaders(t *testing.T) {
	e := newEnv(t)
	s := e.sse("token=" + e.token("42"))
	h := s.resp.Header
	if h.Get("Content-Type") != "text/event-stream; charset=utf-8" || h.Get("X-Accel-Buffering") != "no" || !strings.Contains(h.Get("Cache-Control"), "no-cache") {
		t.Fatalf("headers %v", h)
	}
}
