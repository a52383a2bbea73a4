package bench

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// streamTransport subscribes over a long-lived HTTP response read line by
// line: SSE (an event per data line) or the iframe forever frame (a script
// per line).
type streamTransport struct {
	d      *dialer
	path   string
	accept string
	origin string // iframe only
}

var _ transport = (*streamTransport)(nil)

func (t *streamTransport) session(ctx context.Context, s *sub, ready func()) error {
	c, err := t.d.dial(ctx, s.i)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := closeOnDone(ctx, c)
	defer stop()
	_ = c.SetDeadline(time.Now().Add(t.d.timeout))
	var extra []string
	if t.origin != "" {
		extra = append(extra, "origin="+url.QueryEscape(t.origin))
	}
	resp, err := c.get(s, t.d, t.path+"?"+s.r.subscribeQuery(s, extra...), "Accept: "+t.accept+"\r\n")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	_ = c.SetDeadline(time.Time{})
	ready()
	if t.d.rx != nil && len(resp.TransferEncoding) == 0 {
		buffered, _ := c.br.Peek(c.br.Buffered())
		if ok, err := t.d.rx.serve(c.Conn, buffered, s, parseLines, ctx.Done()); ok {
			return err
		}
	}
	return s.readLines(resp.Body)
}
