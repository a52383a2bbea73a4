package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// wsTransport subscribes over the JSON-frame WebSocket protocol with a
// minimal RFC 6455 client: it reads text frames (one event each), answers
// pings and sends nothing else.
type wsTransport struct{ d *dialer }

var _ transport = (*wsTransport)(nil)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// maxUnit bounds one delivered unit: a WebSocket message or a line.
const maxUnit = 16 << 20

// WebSocket opcodes.
const (
	opCont  = 0x0
	opText  = 0x1
	opBin   = 0x2
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

func (t *wsTransport) session(ctx context.Context, s *sub, ready func()) error {
	c, err := t.d.dial(ctx, s.i)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := closeOnDone(ctx, c)
	defer stop()
	_ = c.SetDeadline(time.Now().Add(t.d.timeout))
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	resp, err := c.get(s, t.d, "/v1/ws?"+s.r.subscribeQuery(s),
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+key+"\r\n")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return statusError(resp)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(key) {
		return fmt.Errorf("websocket handshake: bad Sec-WebSocket-Accept %q", got)
	}
	_ = c.SetDeadline(time.Time{})
	ready()
	if t.d.rx != nil {
		buffered, _ := c.br.Peek(c.br.Buffered())
		if ok, err := t.d.rx.serve(c.Conn, buffered, s, parseFrames, ctx.Done()); ok {
			return err
		}
	}
	return t.read(c, s)
}

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// read consumes frames until the connection ends. Data messages are
// collected in s.buf and scanned whole.
func (t *wsTransport) read(c *httpConn, s *sub) error {
	msg := s.buf[:0]
	defer func() { s.buf = msg[:0] }()
	var hdr [14]byte
	var ctl [125]byte
	for {
		if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
			return err
		}
		fin, op := hdr[0]&0x80 != 0, hdr[0]&0x0f
		masked := hdr[1]&0x80 != 0
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, hdr[2:4]); err != nil {
				return err
			}
			n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			if _, err := io.ReadFull(c.br, hdr[2:10]); err != nil {
				return err
			}
			n = binary.BigEndian.Uint64(hdr[2:10])
		}
		var mask [4]byte
		if masked {
			if _, err := io.ReadFull(c.br, mask[:]); err != nil {
				return err
			}
		}
		if op >= opClose {
			if n > uint64(len(ctl)) {
				return errors.New("websocket: control frame too long")
			}
			p := ctl[:n]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return err
			}
			unmask(p, mask, masked)
			switch op {
			case opClose:
				return closeError(p)
			case opPing:
				if err := writeFrame(c, opPong, p); err != nil {
					return err
				}
			}
			continue
		}
		if n > maxUnit || uint64(len(msg))+n > maxUnit {
			return errors.New("websocket: message larger than 16 MiB")
		}
		start := len(msg)
		msg = append(msg, make([]byte, n)...)
		if _, err := io.ReadFull(c.br, msg[start:]); err != nil {
			return err
		}
		unmask(msg[start:], mask, masked)
		if fin {
			if op == opText || op == opBin || op == opCont {
				s.consume(msg, time.Now())
			}
			msg = msg[:0]
		}
	}
}

func unmask(p []byte, mask [4]byte, masked bool) {
	if !masked {
		return
	}
	for i := range p {
		p[i] ^= mask[i&3]
	}
}

// writeFrame sends one masked control frame (payload ≤ 125 bytes).
func writeFrame(c *httpConn, op byte, payload []byte) error {
	var f [6 + 125]byte
	_, err := c.Write(appendControlFrame(f[:0], op, payload))
	return err
}

// appendControlFrame appends a masked client frame with a short payload.
func appendControlFrame(b []byte, op byte, payload []byte) []byte {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, 0x80|op, 0x80|byte(len(payload)))
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	return b
}

// closeError describes a close frame from the server.
func closeError(p []byte) error {
	if len(p) < 2 {
		return errors.New("websocket closed by server")
	}
	return fmt.Errorf("websocket closed by server: %d %s", binary.BigEndian.Uint16(p[:2]), p[2:])
}
