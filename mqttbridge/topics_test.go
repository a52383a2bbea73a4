package mqttbridge

import (
	"testing"

	"github.com/reddot-dev/reddot"
)

// topicNames is the mapping table shared by both directions.
var topicNames = []struct {
	mqtt   string
	reddot string // "" when the MQTT name stands for no reddot topic
}{
	{"reddot/topics/news", "news"},
	{"reddot/topics/a/b/c", "a/b/c"},
	{"reddot/topics/private:team-1", "private:team-1"},
	{"reddot/topics/x@y.z:1-2_3", "x@y.z:1-2_3"},
	{"reddot/users/42/inbox", "user:42"},
	{"reddot/users/alice@example.com/inbox", "user:alice@example.com"},
	{"reddot/broadcast", "broadcast"},

	{"reddot/topics/", ""},
	{"reddot/topics/broadcast", ""},    // reserved: reddot/broadcast is its name
	{"reddot/topics/user:7", ""},       // reserved: reddot/users/7/inbox is its name
	{"reddot/topics/has space", ""},    // not a valid topic
	{"reddot/users/a/b/inbox", ""},     // not a valid user
	{"reddot/users//inbox", ""},        //
	{"reddot/users/inbox", ""},         // prefix and suffix overlap
	{"reddot/users/42/inbox/more", ""}, //
	{"reddot/users/42", ""},            //
	{"reddot/users/+/inbox", ""},       // wildcards never name a stream
	{"reddot/topics/#", ""},
	{"reddot/#", ""},
	{"#", ""},
	{"+/topics/news", ""},
	{"$SYS/broker/clients", ""},
	{"$share/g/reddot/topics/news", ""},
	{"news", ""},
	{"", ""},
}

func TestTopicMapping(t *testing.T) {
	for _, tc := range topicNames {
		got, ok := ReddotTopic(tc.mqtt)
		if got != tc.reddot || ok != (tc.reddot != "") {
			t.Errorf("ReddotTopic(%q) = %q, %v; want %q", tc.mqtt, got, ok, tc.reddot)
		}
		if tc.reddot != "" {
			if back := MQTTTopic(tc.reddot); back != tc.mqtt {
				t.Errorf("MQTTTopic(%q) = %q, want %q", tc.reddot, back, tc.mqtt)
			}
		}
	}
}

func TestEventData(t *testing.T) {
	for _, tc := range []struct{ payload, data string }{
		{``, `null`},
		{`{"a":1}`, `{"a":1}`},
		{`42`, `42`},
		{`"quoted"`, `"quoted"`},
		{`hello world`, `"hello world"`},
		{"line\nbreak <b>", `"line\nbreak \u003cb\u003e"`},
	} {
		got, err := eventData([]byte(tc.payload))
		if err != nil || string(got) != tc.data {
			t.Errorf("eventData(%q) = %s, %v; want %s", tc.payload, got, err, tc.data)
		}
	}
	if _, err := eventData([]byte{0xff, 0xfe}); reddot.ErrorCode(err) != reddot.EINVALID {
		t.Errorf("binary payload: %v", err)
	}
}

// FuzzReddotTopic checks that client-chosen MQTT names map to valid reddot
// topics and back to the same name, never to a reserved one by another name.
func FuzzReddotTopic(f *testing.F) {
	for _, tc := range topicNames {
		f.Add(tc.mqtt)
	}
	f.Fuzz(func(t *testing.T, name string) {
		topic, ok := ReddotTopic(name)
		if !ok {
			if topic != "" {
				t.Fatalf("%q: not ok but %q", name, topic)
			}
			return
		}
		if !reddot.ValidTopic(topic) {
			t.Fatalf("%q maps to invalid topic %q", name, topic)
		}
		if back := MQTTTopic(topic); back != name {
			t.Fatalf("%q maps to %q, which maps back to %q", name, topic, back)
		}
	})
}

// FuzzEventData checks that any accepted payload becomes valid event data.
func FuzzEventData(f *testing.F) {
	for _, s := range []string{"", "{}", `{"a":[1,2]}`, "text", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		data, err := eventData(payload)
		if err != nil {
			return
		}
		m := reddot.Message{Topic: "t", Data: data}
		if err := m.Validate(reddot.Limits{MaxDataBytes: 1 << 30}); err != nil {
			t.Fatalf("payload %q gave data %s: %v", payload, data, err)
		}
	})
}
