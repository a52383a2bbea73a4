package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/reddot-dev/reddot/httpapi"
)

type errBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestBadInputGetsContractErrors(t *testing.T) {
	e := newEnv(t, func(o *httpapi.Options, _ *authOptions) { o.MaxBodyBytes = 1 << 20 })
	t42, t7 := e.token("42"), e.token("7")
	id7 := e.publish(`{"users":["7"],"notification":{"category":"c","title":"private to 7"}}`)[0]
	huge := `{"topic":"news","data":"` + strings.Repeat("x", 20<<20) + `"}`

	cases := []struct {
		name, method, path, bearer, body string
		status                           int
		code                             string
	}{
		{"broken JSON", "POST", "/v1/publish", testKey, `{"topic":`, 400, "invalid"},
		{"20 MiB body", "POST", "/v1/publish", testKey, huge, 413, "too_large"},
		{"invalid topic", "POST", "/v1/publish", testKey, `{"topic":"bad topic!","data":1}`, 400, "invalid"},
		{"publish into an inbox", "POST", "/v1/publish", testKey, `{"topic":"user:42","data":1}`, 403, "forbidden"},
		{"publish into broadcast", "POST", "/v1/publish", testKey, `{"topic":"broadcast","data":1}`, 403, "forbidden"},
		{"no API key", "POST", "/v1/publish", "", `{"topic":"news","data":1}`, 401, "unauthorized"},
		{"wrong API key", "POST", "/v1/publish", "nope", `{"topic":"news","data":1}`, 401, "unauthorized"},
		{"data too large", "POST", "/v1/publish", testKey, `{"topic":"news","data":"` + strings.Repeat("y", 70<<10) + `"}`, 413, "too_large"},
		{"unknown field", "POST", "/v1/publish", testKey, `{"topik":"news"}`, 400, "invalid"},
		{"empty batch", "POST", "/v1/publish/batch", testKey, "\n", 400, "invalid"},
		{"bad batch line", "POST", "/v1/publish/batch", testKey, "{\"topic\":\"a\"}\n{\"topic\":\n", 400, "invalid"},
		{"no token", "GET", "/v1/sse", "", "", 401, "unauthorized"},
		{"bad token", "GET", "/v1/sse", "not.a.token", "", 401, "unauthorized"},
		{"no token inbox", "GET", "/v1/inbox/unread", "", "", 401, "unauthorized"},
		{"other user's inbox stream", "GET", "/v1/sse?topics=user:7", t42, "", 403, "forbidden"},
		{"other user's item", "DELETE", "/v1/inbox/" + id7, t42, "", 404, "not_found"},
		{"private topic without grant", "GET", "/v1/sse?topics=private:ops", t42, "", 403, "forbidden"},
		{"bad cursor", "GET", "/v1/sse?topics=news&since=!!!not-a-cursor", t42, "", 400, "invalid"},
		{"read with nothing", "POST", "/v1/inbox/read", t42, `{}`, 400, "invalid"},
		{"unknown endpoint", "GET", "/v1/nope", t42, "", 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, b, _ := e.do(c.method, c.path, c.bearer, c.body)
			var eb errBody
			if err := json.Unmarshal(b, &eb); err != nil {
				t.Fatalf("body is not the error JSON: %q", truncate(b))
			}
			if st != c.status || eb.Error.Code != c.code || eb.Error.Message == "" {
				t.Fatalf("got %d %s %q, want %d %s", st, eb.Error.Code, eb.Error.Message, c.status, c.code)
			}
		})
	}
	// User 42 marking 7's item changes nothing for 7.
	if st, _, _ := e.do("POST", "/v1/inbox/read", t42, `{"ids":["`+id7+`"]}`); st != 200 {
		t.Fatalf("read of foreign id: %d", st)
	}
	if total, _ := counts(t, e, t7); total != 1 {
		t.Fatalf("7's unread changed to %d by another user", total)
	}
	// A grant opens the private topic; the server still serves.
	e.sse("topics=private:ops&token=" + e.token("42", "private:*"))
	if st, _, _ := e.do("GET", "/healthz", "", ""); st != 200 {
		t.Fatalf("healthz after bad input: %d", st)
	}
	e.publish(`{"topic":"news","data":1}`)
}

func TestWebSocketBadFramesKeepTheConnection(t *testing.T) {
	e := newEnv(t)
	ws := e.ws("token=" + e.token("42", "publish:chat"))
	for _, f := range []string{`{"op":"fly","ref":1}`, `not json`, `{"op":"subscribe","topics":["bad topic"],"ref":2}`,
		`{"op":"publish","topic":"news","data":1,"ref":3}`, `{"op":"subscribe","topics":["user:7"],"ref":4}`, `{"op":"read","ref":5}`} {
		ws.send(t, f)
		a := ws.answer(t)
		errObj, _ := a["error"].(map[string]any)
		if a["op"] != "error" || errObj["code"] == "" || errObj["message"] == "" {
			t.Fatalf("%s → %v, want an error frame", f, a)
		}
	}
	ws.send(t, `{"op":"subscribe","topics":["chat"],"ref":"s"}`)
	if a := ws.answer(t); a["op"] != "ack" || a["ref"] != "s" {
		t.Fatalf("subscribe after errors: %v", a)
	}
	ws.send(t, `{"op":"publish","topic":"chat","data":{"text":"hi"},"ref":9}`)
	if a := ws.answer(t); a["op"] != "ack" {
		t.Fatalf("granted publish: %v", a)
	}
	if ev := next(t, ws.events, wait); ev.Topic != "chat" || string(ev.Data) != `{"text":"hi"}` {
		t.Fatalf("own publish came back as %+v", ev)
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200])
	}
	return string(b)
}
