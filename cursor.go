package reddot

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// Position is how far a subscription has read one topic.
type Position struct {
	Topic string
	Seq   uint64
}

// Cursor is a subscription's position in every topic it reads, tied to the
// store epoch. Its encoding is opaque to clients; see docs/cursor.md.
type Cursor struct {
	Epoch     uint32
	Positions []Position
}

const (
	cursorVersion   = 1
	maxCursorLen    = 8192
	maxCursorTopics = 256

	kindNamed     = 0
	kindInbox     = 1 // the subscriber's own inbox, "user:<sub>"
	kindBroadcast = 2
)

var b64 = base64.RawURLEncoding

// Encode returns the opaque form of c. user is the subscriber whose inbox is
// stored compactly; it must be the same at decode time.
func (c Cursor) Encode(user string) string {
	return string(c.AppendEncode(nil, user))
}

// AppendEncode appends the opaque form of c to dst.
func (c Cursor) AppendEncode(dst []byte, user string) []byte {
	var raw [512]byte
	b := raw[:0]
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint32(b, c.Epoch)
	b = binary.AppendUvarint(b, uint64(len(c.Positions)))
	for _, p := range c.Positions {
		switch {
		case isInboxOf(p.Topic, user):
			b = append(b, kindInbox)
		case p.Topic == BroadcastTopic:
			b = append(b, kindBroadcast)
		default:
			b = append(b, kindNamed)
			b = binary.AppendUvarint(b, uint64(len(p.Topic)))
			b = append(b, p.Topic...)
		}
		b = binary.AppendUvarint(b, p.Seq)
	}
	n := b64.EncodedLen(len(b))
	dst = append(dst, make([]byte, n)...)
	b64.Encode(dst[len(dst)-n:], b)
	return dst
}

// isInboxOf reports whether topic is user's inbox stream, without building
// its name: cursors are encoded on every delivery.
func isInboxOf(topic, user string) bool {
	u, ok := strings.CutPrefix(topic, InboxPrefix)
	return ok && u == user && ValidUser(user)
}

// DecodeCursor parses an opaque cursor of user's subscription.
func DecodeCursor(s, user string) (Cursor, error) {
	bad := func(why string) (Cursor, error) {
		return Cursor{}, Errorf(EINVALID, "invalid cursor: %s", why)
	}
	if len(s) == 0 {
		return bad("empty")
	}
	if len(s) > maxCursorLen {
		return bad("too long")
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return bad("not base64url")
	}
	if len(b) < 6 || b[0] != cursorVersion {
		return bad("unknown version")
	}
	c := Cursor{Epoch: binary.BigEndian.Uint32(b[1:5])}
	b = b[5:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxCursorTopics || n > uint64(len(b)) {
		return bad("bad topic count")
	}
	b = b[k:]
	c.Positions = make([]Position, 0, n)
	for i := uint64(0); i < n; i++ {
		if len(b) == 0 {
			return bad("truncated")
		}
		kind := b[0]
		b = b[1:]
		var topic string
		switch kind {
		case kindInbox:
			if !ValidUser(user) {
				return bad("inbox position without a user")
			}
			topic = InboxTopic(user)
		case kindBroadcast:
			topic = BroadcastTopic
		case kindNamed:
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return bad("truncated topic")
			}
			topic = string(b[k : k+int(l)])
			b = b[k+int(l):]
			if !ValidTopic(topic) {
				return bad("invalid topic")
			}
		default:
			return bad("unknown topic kind")
		}
		seq, k := binary.Uvarint(b)
		if k <= 0 {
			return bad("truncated seq")
		}
		b = b[k:]
		c.Positions = append(c.Positions, Position{Topic: topic, Seq: seq})
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return c, nil
}

// Seq returns the position of topic and whether c has one.
func (c Cursor) Seq(topic string) (uint64, bool) {
	for _, p := range c.Positions {
		if p.Topic == topic {
			return p.Seq, true
		}
	}
	return 0, false
}
