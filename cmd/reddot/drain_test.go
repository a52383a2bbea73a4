package main

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// SIGTERM closes streams with a reconnect hint, finishes, and exits 0.
func TestSIGTERMDrainsStreams(t *testing.T) {
	s := startServer(t, t.TempDir())
	req, _ := http.NewRequest("GET", s.URL+"/v1/sse?topics=news&token="+token(t, "42"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for l := range lines {
		if strings.HasPrefix(l, ": connected") {
			break
		}
	}
	exit := make(chan int, 1)
	go func() { exit <- s.stop() }()
	var hint, retry bool
	timeout := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				done = true
				break
			}
			hint = hint || strings.HasPrefix(l, ": closing: unavailable")
			retry = retry || strings.HasPrefix(l, "retry: ")
		case <-timeout:
			t.Fatal("stream not closed by SIGTERM")
		}
	}
	if !hint || !retry {
		t.Fatalf("stream ended without a reconnect hint (closing comment %v, retry %v)", hint, retry)
	}
	if code := <-exit; code != 0 {
		t.Fatalf("exit code %d: %s", code, s.logs())
	}
}
