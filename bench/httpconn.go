package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Subscriber connections speak HTTP/1.1 over a plain net.Conn rather than
// through http.Client: one goroutine and one small buffer per connection,
// source addresses of our choosing, and the WebSocket upgrade on the same
// socket.

const readBufSize = 2048

type dialer struct {
	base     *url.URL
	hostport string
	srcs     []net.IP
	tls      *tls.Config
	timeout  time.Duration
	rx       *reactors // shared readers for established streams; nil: a goroutine each
}

// httpConn is one client connection and its buffered reader.
type httpConn struct {
	net.Conn
	br *bufio.Reader
}

// dial connects subscriber i, from its source address when spreading.
func (d *dialer) dial(ctx context.Context, i int) (*httpConn, error) {
	// No kernel keepalive: runs are short, and its four setsockopt calls
	// were a tenth of the tool's cost per connect.
	nd := net.Dialer{Timeout: d.timeout, KeepAlive: -1}
	if len(d.srcs) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: d.srcs[i%len(d.srcs)]}
	}
	c, err := nd.DialContext(ctx, "tcp", d.hostport)
	if err != nil {
		return nil, err
	}
	if d.tls != nil {
		tc := tls.Client(c, d.tls)
		hctx, cancel := context.WithTimeout(ctx, d.timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	return &httpConn{Conn: c, br: bufio.NewReaderSize(c, readBufSize)}, nil
}

// closeOnDone closes c when ctx ends; call the returned stop when done.
func closeOnDone(ctx context.Context, c io.Closer) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.Close() })
}

// get sends GET path?query with s's token and extra header lines (each
// ending in \r\n), then reads the response head.
func (c *httpConn) get(s *sub, d *dialer, pathQuery, extra string) (*http.Response, error) {
	b := s.buf[:0]
	b = append(b, "GET "...)
	b = append(b, pathQuery...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, d.base.Host...)
	b = append(b, "\r\nUser-Agent: reddot-bench\r\n"...)
	if s.token != "" {
		b = append(b, "Authorization: Bearer "...)
		b = append(b, s.token...)
		b = append(b, "\r\n"...)
	}
	b = append(b, extra...)
	b = append(b, "\r\n"...)
	s.buf = b[:0]
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	return http.ReadResponse(c.br, nil)
}

// statusError describes an unexpected answer, with the start of its body.
func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	msg := strings.TrimSpace(string(b))
	if msg == "" {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
}

// subscribeQuery is the query every HTTP transport sends for s.
func (r *runner) subscribeQuery(s *sub, extra ...string) string {
	var q strings.Builder
	if r.cfg.Mode == ModeTopic {
		q.WriteString("topics=")
		q.WriteString(url.QueryEscape(r.cfg.Topic))
		if s.token != "" {
			q.WriteString("&inbox=false")
		}
	} else {
		q.WriteString("inbox=true")
	}
	if len(s.cursor) > 0 {
		q.WriteString("&since=")
		q.WriteString(url.QueryEscape(string(s.cursor)))
	}
	for _, e := range extra {
		q.WriteByte('&')
		q.WriteString(e)
	}
	return q.String()
}

// readAll reads r to the end into s.buf, growing it as needed.
func (s *sub) readAll(r io.Reader) ([]byte, error) {
	b := s.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			s.buf = b[:0]
			return b, nil
		}
		if err != nil {
			s.buf = b[:0]
			return b, err
		}
	}
}

// readLines feeds every complete line of r to s.consume until r fails.
func (s *sub) readLines(r io.Reader) error {
	if cap(s.buf) < readBufSize {
		s.buf = make([]byte, 0, readBufSize)
	}
	buf := s.buf[:cap(s.buf)]
	start, end := 0, 0
	defer func() { s.buf = buf[:0] }()
	for {
		if end == len(buf) {
			if start > 0 {
				end = copy(buf, buf[start:end])
				start = 0
			} else if len(buf) >= maxUnit {
				return fmt.Errorf("line longer than %d bytes", maxUnit)
			} else {
				buf = append(buf, make([]byte, len(buf))...)
			}
		}
		n, err := r.Read(buf[end:])
		end += n
		if n > 0 {
			now := time.Now()
			for {
				i := bytes.IndexByte(buf[start:end], '\n')
				if i < 0 {
					break
				}
				s.consume(buf[start:start+i], now)
				start += i + 1
			}
			if start == end {
				start, end = 0, 0
			}
		}
		if err != nil {
			return err
		}
	}
}
