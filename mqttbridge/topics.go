package mqttbridge

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/reddot-dev/reddot"
)

// MQTT names of reddot streams. Every reddot stream has exactly one MQTT
// topic name, and only these names are readable or writable over MQTT.
const (
	TopicPrefix   = "reddot/topics/" // reddot/topics/<topic>: a named topic
	UsersPrefix   = "reddot/users/"  // reddot/users/<user>/inbox: a user's inbox stream
	InboxSuffix   = "/inbox"
	BroadcastName = "reddot/broadcast" // notifications for every user
)

// MQTTTopic returns the MQTT topic name that carries reddot topic t.
func MQTTTopic(t string) string {
	if u := reddot.InboxUser(t); u != "" {
		return UsersPrefix + u + InboxSuffix
	}
	if t == reddot.BroadcastTopic {
		return BroadcastName
	}
	return TopicPrefix + t
}

// ReddotTopic returns the reddot topic an MQTT topic name or filter stands
// for. ok is false for anything else: names outside reddot/, wildcard and
// shared filters, invalid topic names, and reserved names spelled under
// reddot/topics/ (the inbox and broadcast have their own MQTT names).
// For every reddot topic t, ReddotTopic(MQTTTopic(t)) == t.
func ReddotTopic(name string) (topic string, ok bool) {
	if strings.ContainsAny(name, "+#") {
		return "", false
	}
	switch {
	case name == BroadcastName:
		return reddot.BroadcastTopic, true
	case strings.HasPrefix(name, TopicPrefix):
		t := name[len(TopicPrefix):]
		if !reddot.ValidTopic(t) || reddot.Reserved(t) {
			return "", false
		}
		return t, true
	case len(name) > len(UsersPrefix)+len(InboxSuffix) &&
		strings.HasPrefix(name, UsersPrefix) && strings.HasSuffix(name, InboxSuffix):
		u := name[len(UsersPrefix) : len(name)-len(InboxSuffix)]
		if !reddot.ValidUser(u) {
			return "", false
		}
		t := reddot.InboxTopic(u)
		if !reddot.ValidTopic(t) {
			return "", false
		}
		return t, true
	}
	return "", false
}

// eventData turns an MQTT payload into event data: a JSON payload is the
// data as is, any other UTF-8 text becomes a JSON string, and an empty
// payload is null. Binary payloads are refused.
func eventData(payload []byte) (json.RawMessage, error) {
	if len(payload) == 0 {
		return json.RawMessage("null"), nil
	}
	if json.Valid(payload) {
		return json.RawMessage(payload), nil
	}
	if !utf8.Valid(payload) {
		return nil, reddot.Errorf(reddot.EINVALID, "payload is neither JSON nor UTF-8 text")
	}
	b, err := json.Marshal(string(payload))
	if err != nil {
		return nil, reddot.Errorf(reddot.EINVALID, "payload cannot be encoded as JSON text")
	}
	return b, nil
}
