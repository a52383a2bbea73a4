package httpapi

import (
	"bytes"
	"encoding/json"

	"github.com/reddot-dev/reddot"
)

// Frame is one client → server WebSocket message.
type Frame struct {
	Op       string          `json:"op"`
	Ref      json.RawMessage `json:"ref,omitempty"`
	Topics   []string        `json:"topics,omitempty"`
	Since    string          `json:"since,omitempty"`
	IDs      []string        `json:"ids,omitempty"`
	All      bool            `json:"all,omitempty"`
	Category string          `json:"category,omitempty"`
	Topic    string          `json:"topic,omitempty"`
	Event    string          `json:"event,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// Client operations.
const (
	OpSubscribe   = "subscribe"
	OpUnsubscribe = "unsubscribe"
	OpRead        = "read"
	OpPublish     = "publish"
	OpPing        = "ping"
)

// DecodeFrame parses a client frame. When the frame is broken but its ref
// could be read, the returned Frame still carries Ref for the error answer.
func DecodeFrame(b []byte) (Frame, error) {
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		var probe struct {
			Ref json.RawMessage `json:"ref"`
		}
		if json.Unmarshal(b, &probe) == nil && validRef(probe.Ref) {
			f = Frame{Ref: probe.Ref}
		} else {
			f = Frame{}
		}
		return f, reddot.Errorf(reddot.EINVALID, "frame is not a valid JSON object")
	}
	if !validRef(f.Ref) {
		f.Ref = nil
		return f, reddot.Errorf(reddot.EINVALID, "ref must be a number or a string of at most 64 bytes")
	}
	switch f.Op {
	case OpSubscribe:
		if len(f.Topics) == 0 && f.Since == "" {
			return f, reddot.Errorf(reddot.EINVALID, "subscribe needs topics")
		}
	case OpUnsubscribe:
		if len(f.Topics) == 0 {
			return f, reddot.Errorf(reddot.EINVALID, "unsubscribe needs topics")
		}
	case OpRead:
		if err := checkReadRequest(reddot.ReadRequest{IDs: f.IDs, All: f.All, Category: f.Category}); err != nil {
			return f, err
		}
	case OpPublish:
		if f.Topic == "" {
			return f, reddot.Errorf(reddot.EINVALID, "publish needs a topic")
		}
	case OpPing:
	case "":
		return f, reddot.Errorf(reddot.EINVALID, "frame has no op")
	default:
		return f, reddot.Errorf(reddot.EINVALID, "unknown op %q: want subscribe, unsubscribe, read, publish or ping", truncate(f.Op, 32))
	}
	return f, nil
}

func validRef(ref json.RawMessage) bool {
	ref = bytes.TrimSpace(ref)
	if len(ref) == 0 || string(ref) == "null" {
		return true
	}
	if len(ref) > 66 {
		return false
	}
	var v any
	if json.Unmarshal(ref, &v) != nil {
		return false
	}
	switch v.(type) {
	case float64, string:
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
