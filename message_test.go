package reddot_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/reddot-dev/reddot"
)

func TestDecodeMessage(t *testing.T) {
	cases := []struct {
		body string
		kind string
		code string
	}{
		{`{"topic":"news","data":{"a":1}}`, reddot.KindTopic, ""},
		{`{"topic":"news"}`, reddot.KindTopic, ""},
		{`{"users":["42","7","42"],"notification":{"title":"t"}}`, reddot.KindUsers, ""},
		{`{"audience":"all","notification":{"category":"sys","body":"b"}}`, reddot.KindBroadcast, ""},
		{`{"topic":"user:42","data":1}`, "", reddot.EFORBIDDEN},
		{`{"topic":"broadcast","data":1}`, "", reddot.EFORBIDDEN},
		{`{"topic":"a b"}`, "", reddot.EINVALID},
		{`{"topic":"news","event":"reset"}`, "", reddot.EINVALID},
		{`{"topic":"news","event":"bad name!"}`, "", reddot.EINVALID},
		{`{"users":["42"]}`, "", reddot.EINVALID},
		{`{"users":["no spaces allowed"],"notification":{"title":"t"}}`, "", reddot.EINVALID},
		{`{"users":["42"],"notification":{}}`, "", reddot.EINVALID},
		{`{"audience":"some","notification":{"title":"t"}}`, "", reddot.EINVALID},
		{`{"audience":"all","users":["1"],"notification":{"title":"t"}}`, "", reddot.EINVALID},
		{`{"topic":"news"} {"topic":"x"}`, "", reddot.EINVALID},
		{`{"topic":"news","extra":1}`, "", reddot.EINVALID},
		{`[]`, "", reddot.EINVALID},
		{`{"topic":"news","data":"` + strings.Repeat("x", 70000) + `"}`, "", reddot.ETOOLARGE},
	}
	for _, c := range cases {
		m, err := reddot.DecodeMessage([]byte(c.body), reddot.Limits{})
		if got := reddot.ErrorCode(err); got != c.code {
			t.Errorf("%.60s: code %q, want %q (%v)", c.body, got, c.code, err)
			continue
		}
		if err == nil && m.Kind() != c.kind {
			t.Errorf("%.60s: kind %q, want %q", c.body, m.Kind(), c.kind)
		}
	}
}

func TestDecodeMessageDefaultsAndCompacts(t *testing.T) {
	m, err := reddot.DecodeMessage([]byte("{\"topic\":\"n\",\"data\":{ \"a\" :\n 1 }}"), reddot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Event != "message" || string(m.Data) != `{"a":1}` {
		t.Fatalf("event %q data %s", m.Event, m.Data)
	}
	m, err = reddot.DecodeMessage([]byte(`{"users":["1","1","2"],"notification":{"title":"t"}}`), reddot.Limits{})
	if err != nil || len(m.Users) != 2 || m.Notification.Category != "general" {
		t.Fatalf("users %v category %q err %v", m.Users, m.Notification.Category, err)
	}
	if _, err := reddot.DecodeMessage([]byte(`{"users":["1","2","3"],"notification":{"title":"t"}}`), reddot.Limits{MaxUsers: 2}); reddot.ErrorCode(err) != reddot.ETOOLARGE {
		t.Fatalf("max users: %v", err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{`{"topic":"news","data":{"a":1}}`, `{"users":["42"],"notification":{"title":"t","data":[1,2]}}`,
		`{"audience":"all","notification":{"body":"b"}}`, `{"topic":"user:1"}`, `{`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := reddot.DecodeMessage(body, reddot.Limits{})
		if err != nil {
			if reddot.ErrorCode(err) == reddot.EINTERNAL {
				t.Fatalf("internal error for client input: %v", err)
			}
			return
		}
		switch m.Kind() {
		case reddot.KindTopic:
			if !reddot.ValidTopic(m.Topic) || reddot.Reserved(m.Topic) || bytes.ContainsAny(m.Data, "\n\r") {
				t.Fatalf("accepted bad topic message %+v", m)
			}
		case reddot.KindUsers:
			for _, u := range m.Users {
				if !reddot.ValidUser(u) {
					t.Fatalf("accepted bad user %q", u)
				}
			}
		}
	})
}
