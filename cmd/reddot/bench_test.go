package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchSummary is the part of the JSON summary the tests check.
type benchSummary struct {
	Transport  string
	Mode       string
	Connected  int64
	Failed     int64
	Expected   int64
	Delivered  int64
	Duplicates int64
	Missing    int64
	OK         bool
	Latency    struct{ P50, P99, Max float64 } `json:"latency_ms"`
	Server     *struct {
		PID             int
		RSSBeforeKiB    int64 `json:"rss_before_kib"`
		RSSConnectedKiB int64 `json:"rss_connected_kib"`
	}
	Errors map[string]int64
}

// runBenchCmd runs `reddot bench args…` in-process and decodes its one
// stdout line.
func runBenchCmd(t *testing.T, args ...string) (int, benchSummary, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"bench", "--progress", "0", "--settle", "0", "--duration", "1m"}, args...), &stdout, &stderr)
	var sum benchSummary
	if out := stdout.String(); out != "" {
		if strings.Count(out, "\n") != 1 {
			t.Fatalf("stdout is not one line: %q", out)
		}
		if err := json.Unmarshal([]byte(out), &sum); err != nil {
			t.Fatalf("summary %q: %v", out, err)
		}
	}
	return code, sum, stderr.String()
}

func TestBenchEveryHTTPTransportAgainstServe(t *testing.T) {
	s := startServer(t, t.TempDir(), "--allowed-origins", "http://localhost")
	pid := strconv.Itoa(s.cmd.Process.Pid)
	for _, tr := range []string{"ws", "sse", "longpoll", "poll", "iframe"} {
		t.Run(tr, func(t *testing.T) {
			code, sum, stderr := runBenchCmd(t, "--url", s.URL, "--jwt-secret", e2eSecret, "--api-key", e2eKey,
				"--transport", tr, "-n", "50", "--events", "10", "--rate", "50", "--poll-interval", "50ms",
				"--topic", "t-"+tr, "--server-pid", pid)
			if code != 0 || !sum.OK {
				t.Fatalf("exit %d ok %v: %s", code, sum.OK, stderr)
			}
			if sum.Transport != tr || sum.Connected != 50 || sum.Expected != 500 || sum.Delivered != 500 || sum.Duplicates != 0 {
				t.Fatalf("summary %+v", sum)
			}
			if sum.Server == nil || sum.Server.PID != s.cmd.Process.Pid || sum.Server.RSSBeforeKiB <= 0 || sum.Server.RSSConnectedKiB <= 0 {
				t.Fatalf("server stats %+v", sum.Server)
			}
		})
	}
}

func TestBenchNotifyWithDemoTokens(t *testing.T) {
	s := startServer(t, t.TempDir(), "--demo")
	code, sum, stderr := runBenchCmd(t, "--url", s.URL, "--token-url", s.URL+"/demo/token", "--api-key", e2eKey,
		"--mode", "notify", "--transport", "sse", "-n", "20", "--events", "3", "--rate", "20")
	if code != 0 || sum.Mode != "notify" || sum.Delivered != 60 || sum.Expected != 60 {
		t.Fatalf("exit %d summary %+v: %s", code, sum, stderr)
	}
}

func TestBenchExitCodes(t *testing.T) {
	s := startServer(t, t.TempDir())
	// A token the server cannot verify: every subscriber fails.
	args := []string{"--url", s.URL, "--jwt-secret", "not-the-server-secret", "--api-key", e2eKey, "-n", "3", "--events", "1"}
	code, sum, stderr := runBenchCmd(t, args...)
	if code != 1 || sum.OK || sum.Failed != 3 || !strings.Contains(stderr, "3 subscribers failed to connect") {
		t.Fatalf("exit %d summary %+v stderr %q", code, sum, stderr)
	}
	if code, _, _ := runBenchCmd(t, append(args, "--check=false")...); code != 0 {
		t.Fatalf("--check=false: exit %d, want 0", code)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", s.URL, "--transport", "pigeon", "--anonymous", "--events", "0"}, "transport"},
		{[]string{"--url", s.URL, "--mode", "notify", "--token", "x", "--events", "0"}, "--token-url"},
		{[]string{"--url", s.URL, "--mode", "notify", "--anonymous", "--events", "0"}, "user per subscriber"},
		{[]string{"--url", s.URL, "--anonymous", "--events", "1", "--data-dir", t.TempDir()}, "--api-key"},
		{[]string{"--url", s.URL, "--events", "0", "--data-dir", t.TempDir()}, "credentials"},
		{[]string{"--url", s.URL, "stray"}, "unexpected argument"},
	} {
		code, _, stderr := runBenchCmd(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d stderr %q, want a failure mentioning %q", c.args, code, stderr, c.want)
		}
	}
}

func TestBenchHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"bench", "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("bench -h: exit %d", code)
	}
	for _, flag := range []string{"-transport", "-server-pid", "-source-ips", "-token-url", "-check"} {
		if !strings.Contains(errOut.String(), flag) {
			t.Errorf("help lacks %s", flag)
		}
	}
}

func TestBenchMQTT(t *testing.T) {
	mqttAddr := freeAddr(t)
	s := startServer(t, t.TempDir(), "--mqtt-addr", mqttAddr)
	c, err := net.DialTimeout("tcp", mqttAddr, 2*time.Second)
	if err != nil {
		t.Skip("MQTT broker not built yet (nothing listens on --mqtt-addr): skipping the bench's MQTT client")
	}
	c.Close()
	for _, broker := range []string{"tcp://" + mqttAddr, ""} { // "": WebSocket /mqtt on the HTTP port
		code, sum, stderr := runBenchCmd(t, "--url", s.URL, "--jwt-secret", e2eSecret, "--api-key", e2eKey,
			"--transport", "mqtt", "--mqtt-url", broker, "-n", "20", "--events", "5", "--rate", "20")
		if code != 0 || sum.Delivered != 100 || sum.Duplicates != 0 {
			t.Errorf("broker %q: exit %d summary %+v: %s", broker, code, sum, stderr)
		}
	}
}
