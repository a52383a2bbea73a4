package reddot

import (
	"bytes"
	"encoding/json"
	"regexp"
)

// Limits bound what one publish may carry.
type Limits struct {
	MaxDataBytes int // size of data (topic message) or of the whole notification
	MaxUsers     int // recipients of one notification request
}

// DefaultLimits are used where a field of Limits is zero.
var DefaultLimits = Limits{MaxDataBytes: 64 << 10, MaxUsers: 1000}

func (l Limits) withDefaults() Limits {
	if l.MaxDataBytes <= 0 {
		l.MaxDataBytes = DefaultLimits.MaxDataBytes
	}
	if l.MaxUsers <= 0 {
		l.MaxUsers = DefaultLimits.MaxUsers
	}
	return l
}

// Message kinds.
const (
	KindTopic     = "topic"
	KindUsers     = "users"
	KindBroadcast = "broadcast"
)

// Message is one validated publish request: a topic event, a notification
// for listed users, or a broadcast notification for every user.
type Message struct {
	Topic        string             `json:"topic,omitempty"`
	Event        string             `json:"event,omitempty"`
	Data         json.RawMessage    `json:"data,omitempty"`
	Users        []string           `json:"users,omitempty"`
	Audience     string             `json:"audience,omitempty"`
	Notification *NotificationInput `json:"notification,omitempty"`
}

// NotificationInput is the publisher's part of a notification.
type NotificationInput struct {
	Category string          `json:"category"`
	Title    string          `json:"title"`
	Body     string          `json:"body,omitempty"`
	URL      string          `json:"url,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// Kind returns KindTopic, KindUsers or KindBroadcast.
func (m *Message) Kind() string {
	switch {
	case m.Notification != nil && m.Audience == "all":
		return KindBroadcast
	case m.Notification != nil:
		return KindUsers
	default:
		return KindTopic
	}
}

var eventNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// DecodeMessage parses and validates one publish body.
func DecodeMessage(body []byte, lim Limits) (Message, error) {
	var m Message
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Message{}, Errorf(EINVALID, "invalid JSON body: %s", truncate(err.Error(), 200))
	}
	if dec.More() {
		return Message{}, Errorf(EINVALID, "invalid JSON body: trailing data after the object")
	}
	if err := m.Validate(lim); err != nil {
		return Message{}, err
	}
	return m, nil
}

// Validate checks m and fills defaults (event name, category).
func (m *Message) Validate(lim Limits) error {
	lim = lim.withDefaults()
	if m.Notification == nil {
		if len(m.Users) > 0 || m.Audience != "" {
			return Errorf(EINVALID, "users and audience need a notification")
		}
		if m.Topic == "" {
			return Errorf(EINVALID, "topic, users or audience is required")
		}
		if err := CheckTopic(m.Topic); err != nil {
			return err
		}
		if Reserved(m.Topic) {
			return Errorf(EFORBIDDEN, "topic %q is reserved: send a notification to users or audience \"all\" instead", m.Topic)
		}
		if m.Event == "" {
			m.Event = EventMessage
		}
		if !eventNameRE.MatchString(m.Event) {
			return Errorf(EINVALID, "invalid event name: want 1-64 of A-Z a-z 0-9 _ . : -")
		}
		switch m.Event {
		case EventNotification, EventUnread, EventReset:
			return Errorf(EINVALID, "event name %q is reserved", m.Event)
		}
		if len(m.Data) == 0 {
			m.Data = json.RawMessage("null")
		}
		var err error
		if m.Data, err = compactJSON(m.Data); err != nil {
			return err
		}
		if len(m.Data) > lim.MaxDataBytes {
			return Errorf(ETOOLARGE, "data is %d bytes, limit is %d", len(m.Data), lim.MaxDataBytes)
		}
		return nil
	}
	if m.Topic != "" || m.Event != "" || len(m.Data) > 0 {
		return Errorf(EINVALID, "a notification takes users or audience, not topic, event or data")
	}
	n := m.Notification
	if n.Category == "" {
		n.Category = "general"
	}
	if !eventNameRE.MatchString(n.Category) {
		return Errorf(EINVALID, "invalid category: want 1-64 of A-Z a-z 0-9 _ . : -")
	}
	if n.Title == "" && n.Body == "" {
		return Errorf(EINVALID, "notification needs a title or a body")
	}
	if len(n.Data) > 0 {
		var err error
		if n.Data, err = compactJSON(n.Data); err != nil {
			return err
		}
	}
	if size := len(n.Title) + len(n.Body) + len(n.URL) + len(n.Data); size > lim.MaxDataBytes {
		return Errorf(ETOOLARGE, "notification is %d bytes, limit is %d", size, lim.MaxDataBytes)
	}
	switch {
	case m.Audience == "all" && len(m.Users) > 0:
		return Errorf(EINVALID, "give users or audience \"all\", not both")
	case m.Audience == "all":
		return nil
	case m.Audience != "":
		return Errorf(EINVALID, "unknown audience %q: only \"all\" is supported", truncate(m.Audience, 64))
	case len(m.Users) == 0:
		return Errorf(EINVALID, "notification needs users or audience \"all\"")
	case len(m.Users) > lim.MaxUsers:
		return Errorf(ETOOLARGE, "%d users in one request, limit is %d", len(m.Users), lim.MaxUsers)
	}
	seen := make(map[string]bool, len(m.Users))
	users := m.Users[:0]
	for _, u := range m.Users {
		if !ValidUser(u) {
			return Errorf(EINVALID, "invalid user id %q", truncate(u, 64))
		}
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	m.Users = users
	return nil
}

// compactJSON validates raw and removes insignificant whitespace, so that
// data never contains a newline (SSE frames data line by line).
func compactJSON(raw json.RawMessage) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, Errorf(EINVALID, "data is not valid JSON")
	}
	return buf.Bytes(), nil
}
