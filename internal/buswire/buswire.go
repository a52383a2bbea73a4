// Package buswire is the message format the network buses (redisbus,
// natsbus) share: JSON envelopes carrying a run of events, or a request for
// every node to catch up from the store.
package buswire

import (
	"bytes"
	"encoding/json"

	"github.com/reddot-dev/reddot"
)

// Envelope is one bus message: a run of events in publish order, or a
// request from a node that could not publish for every node to catch up
// from the store.
type Envelope struct {
	Resync bool            `json:"resync,omitempty"`
	Events []*reddot.Event `json:"events,omitempty"`
}

// Resync is the message that asks every node to catch up from the store.
const Resync = `{"resync":true}`

// Encode packs events into messages of at most max bytes, in order. An
// event that alone is larger than max cannot be sent; dropped counts them.
func Encode(events []*reddot.Event, max int) (msgs [][]byte, dropped int, err error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // data travels byte for byte
	const head, tail = `{"events":[`, `]}`
	var cur []byte
	for _, e := range events {
		buf.Reset()
		if err := enc.Encode(e); err != nil {
			return nil, 0, err
		}
		one := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if len(head)+len(one)+len(tail) > max {
			dropped++
			continue
		}
		if cur != nil && len(cur)+1+len(one)+len(tail) > max {
			msgs = append(msgs, append(cur, tail...))
			cur = nil
		}
		if cur == nil {
			cur = append(make([]byte, 0, 256+len(one)), head...)
		} else {
			cur = append(cur, ',')
		}
		cur = append(cur, one...)
	}
	if cur != nil {
		msgs = append(msgs, append(cur, tail...))
	}
	return msgs, dropped, nil
}

// Decode parses one message. Events naming an invalid topic are dropped.
func Decode(msg []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		return Envelope{}, err
	}
	evs := env.Events[:0]
	for _, e := range env.Events {
		if e != nil && reddot.ValidTopic(e.Topic) {
			evs = append(evs, e)
		}
	}
	env.Events = evs
	return env, nil
}
