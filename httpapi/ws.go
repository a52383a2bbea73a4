package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// WebSocket close codes beyond the standard ones.
const (
	CloseSlowConsumer = 4008
	CloseTokenExpired = 4001
)

func (s *Server) acceptOptions() *websocket.AcceptOptions {
	o := &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled}
	for _, origin := range s.o.AllowedOrigins {
		if origin == "*" {
			o.InsecureSkipVerify = true
			continue
		}
		if u, err := url.Parse(origin); err == nil && u.Host != "" {
			o.OriginPatterns = append(o.OriginPatterns, u.Host)
		}
	}
	return o
}

// handleWS serves the JSON-frame WebSocket protocol.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	sess, p, err := s.openSession(r, "ws", true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sess.Close()
	c, err := websocket.Accept(w, r, s.acceptOptions())
	if err != nil {
		return // Accept has answered the client
	}
	defer c.CloseNow()
	c.SetReadLimit(s.o.WSReadLimit)

	ctx, cancel := withExpiry(r.Context(), p)
	defer cancel()
	wc := &wsConn{s: s, c: c, sess: sess, p: p}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		wc.readLoop(ctx)
	}()
	code, reason := wc.writeLoop(ctx)
	if code != 0 {
		_ = c.Close(code, reason)
	}
	cancel()
	<-readDone
}

type wsConn struct {
	s    *Server
	c    *websocket.Conn
	sess *engine.Session
	p    *reddot.Principal
}

func (wc *wsConn) write(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, wc.s.o.PingTimeout)
	defer cancel()
	return wc.c.Write(ctx, websocket.MessageText, b)
}

func (wc *wsConn) writeLoop(ctx context.Context) (websocket.StatusCode, string) {
	hb := time.NewTimer(wc.s.o.Heartbeat)
	defer hb.Stop()
	var buf []byte
	for {
		outs, err := wc.sess.TryNext(ctx)
		if err != nil {
			return closeFor(ctx, err)
		}
		for _, o := range outs {
			buf = o.AppendJSONWith(buf[:0], `"op":"event",`)
			if wc.write(ctx, buf) != nil {
				return 0, ""
			}
		}
		if len(outs) > 0 {
			hb.Reset(wc.s.o.Heartbeat)
			continue
		}
		select {
		case <-wc.sess.Ready():
		case <-hb.C:
			pctx, cancel := context.WithTimeout(ctx, wc.s.o.PingTimeout)
			err := wc.c.Ping(pctx)
			cancel()
			if err != nil {
				return websocket.StatusGoingAway, "ping timeout"
			}
			hb.Reset(wc.s.o.Heartbeat)
		case <-ctx.Done():
			return closeFor(ctx, ctx.Err())
		}
	}
}

func closeFor(ctx context.Context, err error) (websocket.StatusCode, string) {
	switch {
	case errors.Is(err, engine.ErrSlowConsumer):
		return CloseSlowConsumer, "slow consumer: reconnect with your last cursor"
	case errors.Is(err, engine.ErrShuttingDown):
		return websocket.StatusServiceRestart, "server restarting: reconnect with your last cursor"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return CloseTokenExpired, "token expired: reconnect with a fresh token"
	case ctx.Err() != nil:
		return 0, ""
	}
	return websocket.StatusInternalError, "internal error"
}

func (wc *wsConn) readLoop(ctx context.Context) {
	for {
		typ, data, err := wc.c.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			wc.reply(ctx, Frame{}, nil, reddot.Errorf(reddot.EINVALID, "send JSON text frames"))
			continue
		}
		f, err := DecodeFrame(data)
		if err != nil {
			wc.reply(ctx, f, nil, err)
			continue
		}
		extra, err := wc.handle(ctx, f)
		wc.reply(ctx, f, extra, err)
	}
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
func (wc *wsConn) reply(ctx context.Context, f Frame, extra map[string]any, err error) {
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
	_ = wc.write(ctx, b)
}
