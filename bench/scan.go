package bench

import (
	"bytes"
	"strconv"
)

// Every published event carries a mark in its data, {"t":<unix nanos at
// publish>,"n":<event index>}. Receivers find marks in whatever the
// transport delivers (an SSE data line, a WebSocket frame, a poll body, an
// iframe script, an MQTT payload) without decoding the whole event: the
// server compacts data JSON but keeps its key order, and neither key can
// appear elsewhere in a delivered event.
var (
	markPrefix = []byte(`{"t":`)
	markMid    = []byte(`,"n":`)
	cursorKey  = []byte(`"cursor":"`)
	resetEvent = []byte(`"event":"reset"`)
)

// AppendMark appends the data object of event n published at unix nanos t.
func AppendMark(b []byte, t int64, n int) []byte {
	b = append(b, markPrefix...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, markMid...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '}')
}

// parseMark reads a mark at the start of b and returns its fields and
// length, or ok=false.
func parseMark(b []byte) (t int64, n int64, size int, ok bool) {
	if !bytes.HasPrefix(b, markPrefix) {
		return 0, 0, 0, false
	}
	i := len(markPrefix)
	t, i, ok = parseUint(b, i)
	if !ok || !bytes.HasPrefix(b[i:], markMid) {
		return 0, 0, 0, false
	}
	n, i, ok = parseUint(b, i+len(markMid))
	if !ok || i >= len(b) || b[i] != '}' {
		return 0, 0, 0, false
	}
	return t, n, i + 1, true
}

// parseUint reads decimal digits at b[i:]; it fails on none or on int64
// overflow.
func parseUint(b []byte, i int) (int64, int, bool) {
	const maxInt = 1<<63 - 1
	start := i
	var v int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		d := int64(b[i] - '0')
		if v > (maxInt-d)/10 {
			return 0, i, false
		}
		v = v*10 + d
		i++
	}
	return v, i, i > start
}

// unitVisitor receives what scanUnit finds, in order of appearance.
type unitVisitor interface {
	onMark(t, n int64)
	onCursor(c []byte)
}

// scanUnit reports every mark and every cursor in b, in order. In a
// delivered event the mark (inside data) comes before the event's cursor,
// so a visitor may hold marks until the cursor that makes them resumable.
// It returns whether b contains a reset event.
func scanUnit(b []byte, v unitVisitor) (reset bool) {
	mi := bytes.Index(b, markPrefix)
	ci := bytes.Index(b, cursorKey)
	off := 0
	for mi >= 0 || ci >= 0 {
		if mi >= 0 && (ci < 0 || mi < ci) {
			if t, n, size, ok := parseMark(b[off+mi:]); ok {
				v.onMark(t, n)
				off += mi + size
			} else {
				off += mi + 1
			}
		} else {
			start := off + ci + len(cursorKey)
			end := bytes.IndexByte(b[start:], '"')
			if end < 0 {
				break
			}
			v.onCursor(b[start : start+end])
			off = start + end + 1
		}
		mi = bytes.Index(b[off:], markPrefix)
		ci = bytes.Index(b[off:], cursorKey)
	}
	return bytes.Contains(b, resetEvent)
}
