package bench

import (
	"context"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	creds := func(context.Context, int) (string, string, error) { return "u", "t", nil }
	ok := Config{URL: "http://127.0.0.1:8080", APIKey: "k", Events: 1}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.Transport != "ws" || ok.Mode != ModeTopic || ok.Subscribers != 100 || ok.Topic != "bench" || ok.Reconnects != 5 {
		t.Fatalf("defaults not filled: %+v", ok)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{}, "url"},
		{"ftp url", Config{URL: "ftp://x"}, "url"},
		{"transport", Config{URL: "http://x", Transport: "carrier-pigeon"}, "transport"},
		{"mode", Config{URL: "http://x", Mode: "fanout"}, "mode"},
		{"no api key", Config{URL: "http://x", Events: 1}, "API key"},
		{"notify without users", Config{URL: "http://x", Mode: ModeNotify}, "distinct user"},
		{"negative", Config{URL: "http://x", Rate: -1}, "negative"},
		{"source ips", Config{URL: "http://x", SourceIPs: 100000}, "source IPs"},
		{"mqtt url", Config{URL: "http://x", MQTTURL: "::"}, "mqtt url"},
	} {
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error about %s", c.name, err, c.want)
		}
	}
	n := Config{URL: "https://push.example", Mode: ModeNotify, Credentials: creds}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSourceIPs(t *testing.T) {
	ips, err := sourceIPs("127.0.0.1", 100, 0)
	if err != nil || ips != nil {
		t.Fatalf("100 connections: %v %v, want the kernel's choice", ips, err)
	}
	ips, err = sourceIPs("localhost", 2*PerSourceIP+1, 0)
	if err != nil || len(ips) != 3 || ips[0].String() != "127.0.0.1" || ips[2].String() != "127.0.0.3" {
		t.Fatalf("auto: %v %v, want 127.0.0.1-3", ips, err)
	}
	if ips, err := sourceIPs("push.example", 3*PerSourceIP, 0); err != nil || ips != nil {
		t.Fatalf("remote auto: %v %v, want none", ips, err)
	}
	if _, err := sourceIPs("push.example", 10, 2); err == nil {
		t.Fatal("explicit source IPs against a remote server: want an error")
	}
	ips, _ = sourceIPs("127.0.0.1", 10, 300)
	for _, ip := range ips {
		if last := ip.To4()[3]; last == 0 || last == 255 {
			t.Fatalf("%v: network or broadcast-looking address", ip)
		}
	}
	if ips[253].String() != "127.0.0.254" || ips[254].String() != "127.0.1.1" {
		t.Fatalf("addresses %v … %v", ips[253], ips[254])
	}
}

func TestProblems(t *testing.T) {
	s := &Summary{Events: 3, Published: 3}
	if p := s.Problems(); len(p) != 0 {
		t.Fatalf("clean run: %v", p)
	}
	s = &Summary{Events: 3, Published: 2, Failed: 1, Missing: 4, Duplicates: 5, PublishErrors: 1, TimedOut: true}
	got := strings.Join(s.Problems(), "; ")
	for _, want := range []string{"1 subscribers failed", "4 deliveries missing", "5 deliveries duplicated", "1 publish requests failed", "2 of 3 events", "duration limit"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
}
