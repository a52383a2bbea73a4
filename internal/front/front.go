// Package front accepts HTTP/1.1 connections ahead of net/http. A
// connection whose first request opens a long-lived stream (chosen by
// Match) is served right here: the request is parsed with http.ReadRequest
// from a pooled buffer and given to the same handler, with a ResponseWriter
// that can be hijacked. Every other connection — and a stream connection
// whose request was answered without being taken over — is handed to the
// http.Server unchanged, with the bytes already read put back in front.
//
// Why: net/http gives each connection a goroutine, a 4 KiB read buffer, a
// 4 KiB write buffer and several contexts, and hijacking a connection
// leaves those buffers to the garbage collector (plus a fresh 4 KiB writer
// that Hijack allocates). For a push server nearly every connection is
// hijacked within its first request, so during a burst of connects most of
// the collector's work was net/http's leftovers. Here the buffers go back
// to a pool once the handler has taken the connection over.
package front

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
)

// bufSize bounds the request head served here; a longer head (big cookies,
// long tokens in headers) goes to net/http, which allows up to its
// MaxHeaderBytes.
const bufSize = 4096

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

// Front serves a listener for an http.Server.
type Front struct {
	// Handler serves the requests Match selects, normally the same handler
	// as the http.Server's.
	Handler http.Handler
	// Match reports whether a request (method and path, query excluded) is
	// one that the handler usually hijacks.
	Match func(method, path string) bool
	// HeaderTimeout bounds the wait for a request head (default 10 s).
	HeaderTimeout time.Duration
	Log           *slog.Logger

	ln *handoff
}

// Serve accepts connections on ln until srv is shut down or closed (which
// closes ln), and returns what srv.Serve returned.
func (f *Front) Serve(ln net.Listener, srv *http.Server) error {
	f.ln = newHandoff(ln)
	go f.accept(ln)
	return srv.Serve(f.ln)
}

func (f *Front) accept(ln net.Listener) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			// EMFILE, ENFILE, ECONNABORTED: back off and retry, as net/http does.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				f.logger().Warn("accept failed; retrying", "err", err, "in", delay)
				time.Sleep(delay)
				continue
			}
			f.ln.fail(err)
			return
		}
		delay = 0
		go f.serveConn(c)
	}
}

func (f *Front) logger() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.Default()
}

func (f *Front) serveConn(c net.Conn) {
	timeout := f.HeaderTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	var src net.Conn = c
	first, err := readFirst(c)
	if err != nil {
		_ = c.Close() // gone, or no request in time: net/http would close it too
		return
	}
	if first != nil {
		src = first
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(src)
	release := func() {
		br.Reset(nil)
		readers.Put(br)
	}
	method, path, ok, err := peekRequestLine(br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		_ = c.Close() // no request head in time: net/http would close it too
		release()
		return
	}
	if !ok || !f.Match(method, path) {
		f.handOver(c, br)
		release()
		return
	}
	req, err := http.ReadRequest(br)
	if err != nil {
		// The head was complete (peekRequestLine saw its end), so this is a
		// malformed request: answer as net/http would.
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"))
		_ = c.Close()
		release()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	req.RemoteAddr = c.RemoteAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	req = req.WithContext(ctx)
	w := &responseWriter{conn: c, br: br, header: make(http.Header, 8)}
	if !f.serveHTTP(w, req) {
		cancel()
		_ = c.Close() // the buffers may still be referenced: let them go
		return
	}
	cancel()
	if w.bw != nil {
		// The handler owns c and has dropped the buffers (it resets them
		// before returning), so they can serve the next connection.
		w.bw.Reset(nil)
		writers.Put(w.bw)
		release()
		return
	}
	// A request body the handler did not read would be taken for the next
	// request: such a connection ends here.
	if err := w.finish(req); err != nil || req.Close || req.ContentLength != 0 || w.header.Get("Connection") == "close" {
		_ = c.Close()
		release()
		return
	}
	// Keep-alive: whatever the client sends next is net/http's.
	f.handOver(c, br)
	release()
}

// serveHTTP runs the handler; false if it panicked, which is logged as
// net/http logs it (http.ErrAbortHandler silently).
func (f *Front) serveHTTP(w http.ResponseWriter, r *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				f.logger().Error("panic serving request", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			}
			ok = false
		}
	}()
	f.Handler.ServeHTTP(w, r)
	return true
}

// handOver gives c to the http.Server with the bytes br has buffered.
func (f *Front) handOver(c net.Conn, br *bufio.Reader) {
	_ = c.SetReadDeadline(time.Time{})
	var pre []byte
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		pre = bytes.Clone(b)
	}
	if !f.ln.offer(&prefixConn{Conn: c, pre: pre}) {
		_ = c.Close()
	}
}

// peekRequestLine waits until br holds a whole request head (or is full,
// or reading fails) and returns its method and path without consuming
// anything. ok is false when there is no complete head to judge; err is
// the read error that stopped the wait, if any.
func peekRequestLine(br *bufio.Reader) (method, path string, ok bool, err error) {
	for {
		_, err = br.Peek(br.Buffered() + 1) // wait for more
		b, _ := br.Peek(br.Buffered())
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			method, path, ok = requestLine(b[:i])
			return method, path, ok, nil
		}
		if err != nil || len(b) == bufSize {
			return "", "", false, err
		}
	}
}

func requestLine(head []byte) (method, path string, ok bool) {
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	m, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 || !bytes.Equal(proto, []byte("HTTP/1.1")) {
		return "", "", false // HTTP/1.0 and oddities: net/http knows best
	}
	p, _, _ := bytes.Cut(target, []byte("?"))
	return string(m), string(p), true
}
