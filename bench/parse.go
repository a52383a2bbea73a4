package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"
)

// Incremental parsers for the reactor: each consumes the complete units at
// the front of b and returns how many bytes it used.

// parseLines feeds every complete line to the subscriber (SSE, iframe).
func parseLines(rc *rconn, b []byte, now time.Time) (int, error) {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return start, nil
		}
		rc.s.consume(b[start:start+i], now)
		start += i + 1
	}
}

// parseFrames feeds every complete WebSocket data message to the
// subscriber and answers pings.
func parseFrames(rc *rconn, b []byte, now time.Time) (int, error) {
	used := 0
	for {
		f := b[used:]
		if len(f) < 2 {
			return used, nil
		}
		fin, op := f[0]&0x80 != 0, f[0]&0x0f
		masked := f[1]&0x80 != 0
		n, h := uint64(f[1]&0x7f), 2
		switch n {
		case 126:
			if len(f) < 4 {
				return used, nil
			}
			n, h = uint64(binary.BigEndian.Uint16(f[2:4])), 4
		case 127:
			if len(f) < 10 {
				return used, nil
			}
			n, h = binary.BigEndian.Uint64(f[2:10]), 10
		}
		if masked {
			h += 4
		}
		if n > maxUnit || uint64(len(rc.msg))+n > maxUnit {
			return used, errors.New("websocket: message larger than 16 MiB")
		}
		if op >= opClose && n > 125 {
			return used, errors.New("websocket: control frame too long")
		}
		if uint64(len(f)) < uint64(h)+n {
			return used, nil
		}
		p := f[h : h+int(n)]
		if masked {
			var mask [4]byte
			copy(mask[:], f[h-4:h])
			unmask(p, mask, true)
		}
		used += h + int(n)
		switch {
		case op == opClose:
			return used, closeError(p)
		case op == opPing:
			var fr [6 + 125]byte
			if err := rc.write(appendControlFrame(fr[:0], opPong, p)); err != nil {
				return used, err
			}
		case op >= opClose:
		case fin && !rc.frag:
			if op == opText || op == opBin {
				rc.s.consume(p, now)
			}
		default: // a fragment: the first (not final) or a continuation
			rc.msg = append(rc.msg, p...)
			rc.frag = !fin
			if fin {
				rc.s.consume(rc.msg, now)
				rc.msg = rc.msg[:0]
			}
		}
	}
}
