package reddot

import (
	"encoding/json"
	"strconv"
	"sync/atomic"
	"time"
)

// Event names with a meaning to the server.
const (
	EventMessage      = "message"
	EventNotification = "notification"
	EventUnread       = "unread"
	EventReset        = "reset"
)

// Event is one item of a topic stream, as delivered on every transport.
// Seq is per topic, starts at 1 and has no gaps. Ephemeral events (unread,
// reset) are never stored and carry Seq 0.
type Event struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Seq   uint64          `json:"seq"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Time  time.Time       `json:"time"`

	// Unread, when set on a notification event, is the recipient's counts
	// right after the notification was stored. It is merged into the
	// delivered data as "unread".
	Unread *Counts `json:"unread,omitempty"`

	enc atomic.Pointer[[]byte] // cached AppendJSON output, see Encoded
}

// Encoded returns the delivered JSON of e without cursor and closing brace,
// computed once per event however many subscribers receive it. Fields of e
// must not change after the first call.
func (e *Event) Encoded() []byte {
	if p := e.enc.Load(); p != nil {
		return *p
	}
	b := e.AppendJSON(make([]byte, 0, 160+len(e.Data)))
	e.enc.Store(&b)
	return b
}

// WithUnread returns a copy of e that carries counts c.
func (e *Event) WithUnread(c Counts) *Event {
	return &Event{ID: e.ID, Topic: e.Topic, Seq: e.Seq, Event: e.Event, Data: e.Data, Time: e.Time, Unread: &c}
}

// Ephemeral reports whether e is not part of the stored stream.
func (e *Event) Ephemeral() bool { return e.Seq == 0 }

// Counts is a user's unread notifications, total and per category.
type Counts struct {
	Total      int64            `json:"total"`
	Categories map[string]int64 `json:"categories"`
}

// Normalize makes Categories non-nil, drops zero entries and recomputes Total.
func (c Counts) Normalize() Counts {
	out := Counts{Categories: make(map[string]int64, len(c.Categories))}
	for k, v := range c.Categories {
		if v > 0 {
			out.Categories[k] = v
			out.Total += v
		}
	}
	return out
}

// Notification is a stored inbox item. User is empty for broadcasts.
type Notification struct {
	ID       string          `json:"id"`
	User     string          `json:"-"`
	Category string          `json:"category"`
	Title    string          `json:"title"`
	Body     string          `json:"body,omitempty"`
	URL      string          `json:"url,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Time     time.Time       `json:"time"`
	Read     bool            `json:"read"`
	// Broadcast is true for items sent to every user.
	Broadcast bool `json:"broadcast,omitempty"`
}

// AppendJSON appends the delivered JSON of e without the closing brace and
// without the cursor: `{"id":…,"data":…,"time":"…"`. Callers add
// `,"cursor":"…"}`. Unread counts, when present, are merged into data.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, e.ID)
	b = append(b, `,"topic":`...)
	b = appendJSONString(b, e.Topic)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"event":`...)
	b = appendJSONString(b, e.Event)
	b = append(b, `,"data":`...)
	b = appendData(b, e.Data, e.Unread)
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, '"')
	return b
}

func appendData(b []byte, data json.RawMessage, unread *Counts) []byte {
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	if unread == nil {
		return append(b, data...)
	}
	cj, _ := json.Marshal(unread.Normalize())
	if len(data) >= 2 && data[0] == '{' && data[len(data)-1] == '}' {
		if len(data) == 2 {
			b = append(b, `{"unread":`...)
		} else {
			b = append(b, data[:len(data)-1]...)
			b = append(b, `,"unread":`...)
		}
		b = append(b, cj...)
		return append(b, '}')
	}
	b = append(b, `{"value":`...)
	b = append(b, data...)
	b = append(b, `,"unread":`...)
	b = append(b, cj...)
	return append(b, '}')
}

// appendJSONString appends s quoted for JSON. Topic and event names are
// restricted to ASCII, so only the generic fallback needs encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// JSON returns the complete delivered JSON of e with the given cursor.
func (e *Event) JSON(cursor string) []byte {
	p := e.Encoded()
	b := make([]byte, 0, len(p)+len(cursor)+14)
	b = append(b, p...)
	b = append(b, `,"cursor":`...)
	b = strconv.AppendQuote(b, cursor)
	return append(b, '}')
}
