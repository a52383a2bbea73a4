package bench

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// cursorHeader carries the cursor on poll answers, bodies or not.
const cursorHeader = "Reddot-Cursor"

// pollTransport subscribes by short polling (every PollInterval) or long
// polling (one held request after another) over one keep-alive connection.
// The first request is a short poll: its cursor marks the subscription's
// start, so "connected" means every later publish will be seen.
type pollTransport struct {
	d    *dialer
	long bool
}

var _ transport = (*pollTransport)(nil)

func (t *pollTransport) session(ctx context.Context, s *sub, ready func()) error {
	c, err := t.d.dial(ctx, s.i)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := closeOnDone(ctx, c)
	defer stop()
	cfg := &s.r.cfg
	timeoutParam := "timeout=" + strconv.FormatFloat(cfg.LongPollTimeout.Seconds(), 'f', -1, 64)
	for first := true; ; first = false {
		long := t.long && len(s.cursor) > 0
		if !first && !long && !sleepCtx(ctx, cfg.PollInterval) {
			return ctx.Err()
		}
		path, deadline := "/v1/poll?", t.d.timeout
		var extra []string
		if long {
			path = "/v1/longpoll?"
			extra = append(extra, timeoutParam)
			deadline += cfg.LongPollTimeout
		}
		_ = c.SetDeadline(time.Now().Add(deadline))
		resp, err := c.get(s, t.d, path+s.r.subscribeQuery(s, extra...), "")
		if err != nil {
			return err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			body, err := s.readAll(resp.Body)
			if err != nil {
				return err
			}
			s.consume(body, time.Now())
			s.dropPending()
		case http.StatusNoContent, http.StatusNotModified:
		case http.StatusGone:
			// Events after our cursor are gone: count it and start over.
			s.r.resets.Add(1)
			_ = statusError(resp)
			s.cursor = s.cursor[:0]
			continue
		default:
			return statusError(resp)
		}
		if h := resp.Header.Get(cursorHeader); h != "" {
			s.setCursor([]byte(h))
		}
		ready()
		if resp.Close {
			return errors.New("server closed the keep-alive connection")
		}
	}
}
