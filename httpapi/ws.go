package httpapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// WebSocket close codes beyond the standard ones.
const (
	CloseServiceRestart ws.StatusCode = 1012
	CloseSlowConsumer   ws.StatusCode = 4008
	CloseTokenExpired   ws.StatusCode = 4001
)

// wsOriginAllowed accepts requests without Origin (not a browser), from the
// same host, or from an allowed origin.
func (s *Server) wsOriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || s.originAllowed(origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// handleWS serves the JSON-frame WebSocket protocol. After the handshake
// the connection is held by one reader goroutine that reads straight from
// the socket (no buffers while idle) and a pump that writes only while
// there is something to send.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if !s.wsOriginAllowed(r) {
		s.writeError(w, r, reddot.Errorf(reddot.EFORBIDDEN, "origin %q is not allowed (--allowed-origins)", r.Header.Get("Origin")))
		return
	}
	sess, p, err := s.openSession(r, "ws", true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	up := ws.HTTPUpgrader{Timeout: s.o.PingTimeout}
	conn, brw, _, err := up.Upgrade(r, w)
	if err != nil {
		sess.Close()
		return // the upgrader has answered
	}
	var src io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn)
	}
	brw.Reader.Reset(nil)
	brw.Writer.Reset(nil)
	wc := &wsConn{s: s, sess: sess, p: p}
	wc.lastRead.Store(time.Now().UnixNano())
	wc.pm = &pump{conn: conn, sess: sess, enc: wsEncoder{}, wheel: s.wheel, pace: s.pace, timeout: s.o.PingTimeout, alwaysPing: true, idle: wc.alive}
	wc.pm.start(p.Expires, s.batcher())
	go wc.readLoop(src)
}

type wsConn struct {
	s        *Server
	sess     *engine.Session
	p        *reddot.Principal
	pm       *pump
	lastRead atomic.Int64
}

// alive reports whether the peer answered within two heartbeats plus the
// ping timeout.
func (wc *wsConn) alive(now time.Time) bool {
	limit := 2*wc.s.o.Heartbeat + wc.s.o.PingTimeout
	return now.UnixNano()-wc.lastRead.Load() < int64(limit)
}

func (wc *wsConn) readLoop(r io.Reader) {
	defer wc.pm.end()
	var msg []byte
	var msgOp ws.OpCode
	for {
		h, err := ws.ReadHeader(r)
		if err != nil {
			return
		}
		wc.lastRead.Store(time.Now().UnixNano())
		if !h.Masked {
			wc.pm.write(closeFrame(nil, ws.StatusProtocolError, "client frames must be masked"))
			return
		}
		limit := wc.s.o.WSReadLimit
		if h.OpCode.IsControl() {
			limit = 125
		}
		if h.Length > limit || int64(len(msg))+h.Length > wc.s.o.WSReadLimit {
			wc.pm.write(closeFrame(nil, ws.StatusMessageTooBig, "frame larger than the read limit"))
			return
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		ws.Cipher(payload, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPing:
			wc.pm.write(appendFrame(nil, ws.OpPong, payload))
		case ws.OpPong:
		case ws.OpClose:
			code := ws.StatusNormalClosure
			if len(payload) >= 2 {
				code = ws.StatusCode(binary.BigEndian.Uint16(payload))
			}
			wc.pm.write(closeFrame(nil, code, ""))
			return
		case ws.OpText, ws.OpBinary:
			msg, msgOp = payload, h.OpCode
		case ws.OpContinuation:
			msg = append(msg, payload...)
		default:
			wc.pm.write(closeFrame(nil, ws.StatusProtocolError, "unknown opcode"))
			return
		}
		if h.Fin && !h.OpCode.IsControl() && msg != nil {
			wc.message(msgOp, msg)
			msg = nil
		}
	}
}

func (wc *wsConn) message(op ws.OpCode, data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if op != ws.OpText {
		wc.reply(Frame{}, nil, reddot.Errorf(reddot.EINVALID, "send JSON text frames"))
		return
	}
	f, err := DecodeFrame(data)
	if err != nil {
		wc.reply(f, nil, err)
		return
	}
	extra, err := wc.handle(ctx, f)
	wc.reply(f, extra, err)
}

func (wc *wsConn) handle(ctx context.Context, f Frame) (map[string]any, error) {
	switch f.Op {
	case OpPing:
		return nil, nil
	case OpSubscribe:
		return nil, wc.sess.Subscribe(ctx, f.Topics, f.Since)
	case OpUnsubscribe:
		return nil, wc.sess.Unsubscribe(f.Topics)
	case OpRead:
		if wc.p.Anonymous() {
			return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "the inbox needs a subscriber token")
		}
		c, err := wc.s.eng.MarkRead(ctx, wc.p.User, reddot.ReadRequest{IDs: f.IDs, All: f.All, Category: f.Category})
		if err != nil {
			return nil, err
		}
		return map[string]any{"unread": c.Normalize()}, nil
	case OpPublish:
		if err := wc.s.eng.Policy().CanPublish(wc.p, f.Topic); err != nil {
			return nil, err
		}
		m := reddot.Message{Topic: f.Topic, Event: f.Event, Data: f.Data}
		if err := m.Validate(wc.s.o.Limits); err != nil {
			return nil, err
		}
		res, err := wc.s.eng.Publish(ctx, []reddot.Message{m})
		if err != nil {
			return nil, err
		}
		return map[string]any{"ids": res[0].IDs}, nil
	}
	return nil, reddot.Errorf(reddot.EINVALID, "unknown op")
}

// reply answers a client op: "pong" for ping, "ack" on success (with
// extra fields), "error" otherwise; ref is echoed.
func (wc *wsConn) reply(f Frame, extra map[string]any, err error) {
	msg := make(map[string]any, len(extra)+3)
	for k, v := range extra {
		msg[k] = v
	}
	if len(f.Ref) > 0 && string(f.Ref) != "null" {
		msg["ref"] = f.Ref
	}
	switch {
	case err != nil:
		msg["op"] = "error"
		msg["error"] = errorDetail{Code: reddot.ErrorCode(err), Message: reddot.ErrorMessage(err)}
		if reddot.ErrorCode(err) == reddot.EINTERNAL {
			wc.s.log.Error("websocket op failed", "op", f.Op, "err", err)
		}
	case f.Op == OpPing:
		msg["op"] = "pong"
	default:
		msg["op"] = "ack"
	}
	b, _ := json.Marshal(msg)
	wc.pm.write(appendFrame(nil, ws.OpText, b))
}

// wsEncoder frames events as unmasked server text frames; several queued
// events leave in one write.
type wsEncoder struct{}

func (wsEncoder) event(b []byte, o engine.Out) []byte {
	const room = 10 // the largest header
	start := len(b)
	b = append(b, make([]byte, room)...)
	b = o.AppendJSONWith(b, `"op":"event",`)
	n := len(b) - start - room
	var hdr [room]byte
	hl := putHeader(hdr[:], ws.OpText, n)
	copy(b[start:], hdr[:hl])
	copy(b[start+hl:], b[start+room:])
	return b[:len(b)-(room-hl)]
}

func (wsEncoder) heartbeat(b []byte) []byte { return append(b, 0x80|byte(ws.OpPing), 0) }

func (wsEncoder) closing(b []byte, err error) []byte {
	switch {
	case errors.Is(err, engine.ErrSlowConsumer):
		return closeFrame(b, CloseSlowConsumer, "slow consumer: reconnect with your last cursor")
	case errors.Is(err, engine.ErrShuttingDown):
		return closeFrame(b, CloseServiceRestart, "server restarting: reconnect with your last cursor")
	case errors.Is(err, errTokenExpired):
		return closeFrame(b, CloseTokenExpired, "token expired: reconnect with a fresh token")
	}
	return closeFrame(b, ws.StatusInternalServerError, "internal error")
}

func putHeader(dst []byte, op ws.OpCode, n int) int {
	dst[0] = 0x80 | byte(op)
	switch {
	case n < 126:
		dst[1] = byte(n)
		return 2
	case n <= 0xffff:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:], uint16(n))
		return 4
	default:
		dst[1] = 127
		binary.BigEndian.PutUint64(dst[2:], uint64(n))
		return 10
	}
}

func appendFrame(b []byte, op ws.OpCode, payload []byte) []byte {
	var hdr [10]byte
	hl := putHeader(hdr[:], op, len(payload))
	b = append(b, hdr[:hl]...)
	return append(b, payload...)
}

func closeFrame(b []byte, code ws.StatusCode, reason string) []byte {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return appendFrame(b, ws.OpClose, append(p, reason...))
}
