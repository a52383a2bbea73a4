package main

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The client-facing tuning flags reach the server: the reconnect delay in
// the SSE preamble, the page size of poll answers, and the cache lifetime
// of anonymous polls of public topics.
func TestTuningFlagsReachTheServer(t *testing.T) {
	s := startServer(t, t.TempDir(), "--client-retry", "7s", "--poll-page", "2", "--public-cache-ttl", "30s", "--allow-anonymous")
	tok := token(t, "ann")
	_, start := s.pollAll(t, "topics=news", tok, "")
	for range 3 {
		if _, err := s.publish(t, `{"topic":"news","data":{}}`); err != nil {
			t.Fatal(err)
		}
	}

	var page struct {
		Events []event `json:"events"`
		Cursor string  `json:"cursor"`
	}
	if st := s.getJSON(t, "/v1/poll?topics=news&since="+start, tok, &page); st != 200 || len(page.Events) != 2 {
		t.Fatalf("poll: status %d, %d events, want 2 (--poll-page 2)", st, len(page.Events))
	}
	if rest, _ := s.pollAll(t, "topics=news", tok, page.Cursor); len(rest) != 1 {
		t.Fatalf("the next pages held %d events, want the 1 left", len(rest))
	}

	resp, err := client.Get(s.URL + "/v1/poll?topics=news") // anonymous
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || !strings.Contains(got, "max-age=30") {
		t.Fatalf("anonymous poll: %d %s, Cache-Control %q, want max-age=30", resp.StatusCode, body, got)
	}

	req, _ := http.NewRequest("GET", s.URL+"/v1/sse?topics=news", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "retry: 7000\n" {
		t.Fatalf("SSE began with %q, %v; want retry: 7000", line, err)
	}
}
