package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "reddot.yaml")
	yaml := "http_addr: \":7000\"\nheartbeat: 7s\nallowed_origins: [\"https://a.example\", \"https://b.example\"]\nallow_anonymous: true\nmax_users: 7\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REDDOT_HEARTBEAT": "8s", "REDDOT_MAX_USERS": "8", "REDDOT_CONFIG": file}
	c, err := loadConfig(newFlagSet("t", io.Discard), []string{"--max-users", "9"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":7000" || c.Heartbeat != 8*time.Second || c.MaxUsers != 9 || !c.AllowAnonymous ||
		strings.Join(c.AllowedOrigins, " ") != "https://a.example https://b.example" || c.MQTTAddr != ":1883" || c.Store != "sqlite" {
		t.Fatalf("config %+v", c)
	}
}

func TestConfigErrorsNameTheSetting(t *testing.T) {
	cases := map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"bad flag":       {[]string{"--queue-size", "-1"}, nil, "queue-size"},
		"bad env":        {nil, map[string]string{"REDDOT_ALLOW_ANONYMOUS": "maybe"}, "REDDOT_ALLOW_ANONYMOUS"},
		"bad origin":     {[]string{"--allowed-origins", "example.com"}, nil, "allowed-origins"},
		"bad bus":        {[]string{"--bus", "kafka://x"}, nil, "bus"},
		"long delay":     {[]string{"--write-delay", "2s"}, nil, "write-delay"},
		"empty page":     {[]string{"--poll-page", "0"}, nil, "poll-page"},
		"missing config": {[]string{"--config", "/nonexistent.yaml"}, nil, "config file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(newFlagSet("t", io.Discard), c.args, func(k string) string { return c.env[k] })
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want mention of %q", err, c.want)
			}
		})
	}
}

func TestUnknownYAMLKeyIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("htp_addr: x\n"), 0o600)
	_, err := loadConfig(newFlagSet("t", io.Discard), []string{"--config", file}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "htp_addr") {
		t.Fatalf("err %v", err)
	}
}

func TestTokenAndPublishCommands(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	var out, errb strings.Builder
	if code := run([]string{"publish", "--url", s.URL, "--api-key", e2eKey, "--users", "42", "--title", "hi", "--category", "cli"}, &out, &errb); code != 0 {
		t.Fatalf("publish: %s", errb.String())
	}
	if !strings.Contains(out.String(), `"ids"`) {
		t.Fatalf("publish printed %q", out.String())
	}
	var c struct {
		Total      int
		Categories map[string]int
	}
	s.getJSON(t, "/v1/inbox/unread", token(t, "42"), &c)
	if c.Total != 1 || c.Categories["cli"] != 1 {
		t.Fatalf("unread after CLI publish: %+v", c)
	}
	errb.Reset()
	if code := run([]string{"publish", "--url", s.URL, "--api-key", "wrong", "--topic", "news"}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "401") {
		t.Fatalf("bad key: code %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"token", "--data-dir", t.TempDir()}, &out, &errb); code == 0 {
		t.Fatal("token without --user succeeded")
	}
}

func TestPprofIsOffByDefaultAndPrivateWhenOn(t *testing.T) {
	s := startServer(t, t.TempDir())
	resp, err := client.Get(s.URL + "/debug/pprof/")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("pprof on the public port: %v %v", resp, err)
	}
	resp.Body.Close()
	addr := freeAddr(t)
	startServer(t, t.TempDir(), "--pprof-addr", addr)
	resp, err = client.Get("http://" + addr + "/debug/pprof/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pprof on --pprof-addr: %v %v", resp, err)
	}
	resp.Body.Close()
}
