package front

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// served records which path answered each request.
type served struct {
	direct atomic.Int32 // requests that reached the handler through the front
	hijack atomic.Int32
}

// start serves h behind a Front on a loopback port; "direct" marks requests
// the handler saw through the front's own ResponseWriter.
func start(t *testing.T, h http.Handler) (addr string, srv *http.Server, wait func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	f := &Front{Handler: h, HeaderTimeout: 2 * time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Match: func(method, path string) bool { return method == http.MethodGet && strings.HasPrefix(path, "/stream") }}
	done := make(chan struct{})
	var serveErr error
	go func() { serveErr = f.Serve(ln, srv); close(done) }()
	wait = func() error { <-done; return serveErr }
	t.Cleanup(func() {
		_ = srv.Close()
		_ = wait()
	})
	return ln.Addr().String(), srv, wait
}

// handler answers /stream by hijacking and echoing lines back, /stream-deny
// with a 403 (no takeover) and anything else with the path it saw.
func handler(s *served) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(*responseWriter); ok {
			s.direct.Add(1)
		}
		switch r.URL.Path {
		case "/stream":
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			s.hijack.Add(1)
			_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello " + r.URL.Query().Get("u") + "\n")
			_ = brw.Flush()
			early := brw.Reader.Buffered()
			pre, _ := brw.Reader.Peek(early)
			pending := string(pre)
			brw.Reader.Reset(nil)
			brw.Writer.Reset(nil)
			go func() {
				defer conn.Close()
				br := bufio.NewReader(io.MultiReader(strings.NewReader(pending), conn))
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					_, _ = conn.Write([]byte("echo " + line))
				}
			}()
		case "/stream-panic":
			panic("handler bug")
		case "/stream-deny":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":{"code":"forbidden","message":"no"}}`)
		default:
			_, _ = io.WriteString(w, "path "+r.URL.Path)
		}
	})
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// ask sends a raw request on c and reads the answer from br.
func ask(t *testing.T, c net.Conn, br *bufio.Reader, raw string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readResponse(t, br)
}

func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestStreamIsServedDirectlyAndKeepsEarlyBytes(t *testing.T) {
	s := &served{}
	addr, _, _ := start(t, handler(s))
	c, br := dial(t, addr)
	// The request and the first line of the stream arrive in one write: the
	// bytes after the head must reach the handler, not be lost in the pool.
	if _, err := io.WriteString(c, "GET /stream?u=ann HTTP/1.1\r\nHost: x\r\n\r\nfirst\n"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HTTP/1.1 200 OK\r\n", "Connection: close\r\n", "\r\n", "hello ann\n", "echo first\n"} {
		if got, err := br.ReadString('\n'); err != nil || got != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	_, _ = io.WriteString(c, "second\n")
	if got, _ := br.ReadString('\n'); got != "echo second\n" {
		t.Fatalf("got %q", got)
	}
	if s.direct.Load() != 1 || s.hijack.Load() != 1 {
		t.Fatalf("direct %d hijack %d, want 1 and 1", s.direct.Load(), s.hijack.Load())
	}
}

func TestOtherRequestsGoToNetHTTPWithKeepAlive(t *testing.T) {
	s := &served{}
	addr, _, _ := start(t, handler(s))
	c, br := dial(t, addr)
	// Two pipelined requests: both must be answered by net/http in order.
	_, _ = io.WriteString(c, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"path /a", "path /b"} {
		if _, body := readResponse(t, br); body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
	}
	if s.direct.Load() != 0 {
		t.Fatalf("%d requests took the direct path", s.direct.Load())
	}
	// HTTP/1.0 is left to net/http even on a stream path.
	c2, br2 := dial(t, addr)
	if resp, _ := ask(t, c2, br2, "GET /stream-deny HTTP/1.0\r\n\r\n"); resp.StatusCode != http.StatusForbidden || s.direct.Load() != 0 {
		t.Fatalf("status %d, direct %d", resp.StatusCode, s.direct.Load())
	}
}

func TestRefusedStreamIsAnsweredThenConnectionContinues(t *testing.T) {
	s := &served{}
	addr, _, _ := start(t, handler(s))
	c, br := dial(t, addr)
	resp, body := ask(t, c, br, "GET /stream-deny HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusForbidden || body != `{"error":{"code":"forbidden","message":"no"}}` ||
		resp.Header.Get("Content-Type") != "application/json" || resp.ContentLength != int64(len(body)) {
		t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if s.direct.Load() != 1 {
		t.Fatalf("direct %d, want 1", s.direct.Load())
	}
	// The same connection then serves an ordinary request through net/http.
	if _, body := ask(t, c, br, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"); body != "path /next" {
		t.Fatalf("body %q", body)
	}
}

func TestMalformedAndOversizedHeads(t *testing.T) {
	s := &served{}
	addr, _, _ := start(t, handler(s))
	// A stream request line with a broken header: 400, as net/http answers.
	c, br := dial(t, addr)
	if resp, _ := ask(t, c, br, "GET /stream HTTP/1.1\r\nHost x\r\n\r\n"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	// A head past the front's buffer goes to net/http, which still serves it.
	c2, br2 := dial(t, addr)
	if resp, _ := ask(t, c2, br2, "GET /stream-deny HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 6000)+"\r\n\r\n"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
	if s.direct.Load() != 0 {
		t.Fatalf("direct %d, want 0", s.direct.Load())
	}
	// A client that connects and leaves costs nothing and breaks nothing.
	c3, _ := dial(t, addr)
	c3.Close()
	c4, br4 := dial(t, addr)
	if _, body := ask(t, c4, br4, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"); body != "path /ok" {
		t.Fatalf("body %q", body)
	}
}

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	s := &served{}
	addr, _, _ := start(t, handler(s))
	c, br := dial(t, addr)
	_, _ = io.WriteString(c, "GET /stream-panic HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("read after a panic: %v, want EOF", err)
	}
	c2, br2 := dial(t, addr)
	_, _ = io.WriteString(c2, "GET /stream?u=bo HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := http.ReadResponse(br2, nil); resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("server after a panic: %v", resp)
	}
}

func TestSilentClientIsClosedAfterHeaderTimeout(t *testing.T) {
	addr, _, _ := start(t, handler(&served{}))
	c, br := dial(t, addr)
	_, _ = io.WriteString(c, "GET /stream HTTP/1.1\r\n") // and nothing more
	began := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("read: %v, want EOF", err)
	}
	// start() sets HeaderTimeout to 2 s; net/http's own 5 s must not be added.
	if waited := time.Since(began); waited > 4*time.Second {
		t.Fatalf("closed after %v", waited)
	}
}

func TestShutdownStopsAccepting(t *testing.T) {
	addr, srv, wait := start(t, handler(&served{}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := wait(); !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("listener still accepts after Shutdown")
	}
}

// A client may send its head in pieces (slow links, proxies that forward
// as they read); it is served the same, for a stream and for a request
// handed to net/http. Whether the server reads the pieces apart depends on
// timing here; TestFirstReadIsReplayedAheadOfTheRest checks that case
// exactly.
func TestHeadInPiecesIsServed(t *testing.T) {
	s := &served{}
	addr, _, _ := start(t, handler(s))
	for _, tc := range []struct{ head, want string }{
		{"GET /stream?u=bob HTTP/1.1\r\nHost: x\r\n\r\n", "hello bob\n"},
		{"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n", "path /plain"},
	} {
		c, br := dial(t, addr)
		for _, piece := range []string{tc.head[:3], tc.head[3:17], tc.head[17:]} {
			if _, err := io.WriteString(c, piece); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.head, err)
		}
		if tc.want == "path /plain" {
			b, _ := io.ReadAll(resp.Body)
			if string(b) != tc.want {
				t.Fatalf("body %q, want %q", b, tc.want)
			}
			continue
		}
		if got, _ := br.ReadString('\n'); got != tc.want {
			t.Fatalf("stream said %q, want %q", got, tc.want)
		}
	}
	if s.direct.Load() != 1 {
		t.Fatalf("%d requests took the direct path, want 1", s.direct.Load())
	}
}

// The first read takes only what has arrived (here a 3-byte fragment), and
// it is replayed ahead of the rest, so the whole request parses; its
// pooled buffer goes back once replayed. A client that leaves before
// sending anything is an error, not a request.
func TestFirstReadIsReplayedAheadOfTheRest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	srv, cli := acceptedPair(t, ln)
	const head = "GET /stream?u=bob HTTP/1.1\r\nHost: x\r\n\r\n"
	if _, err := io.WriteString(cli, head[:3]); err != nil {
		t.Fatal(err)
	}
	pc, err := readFirst(srv) // returns once the fragment is readable
	if err != nil || pc == nil || string(pc.pre) != head[:3] {
		t.Fatalf("first read %v, %v; want just %q", pc, err, head[:3])
	}
	if _, err := io.WriteString(cli, head[3:]); err != nil {
		t.Fatal(err)
	}
	req, err := http.ReadRequest(bufio.NewReaderSize(pc, bufSize))
	if err != nil || req.URL.Path != "/stream" || req.URL.Query().Get("u") != "bob" {
		t.Fatalf("request %v, %v", req, err)
	}
	if pc.pooled != nil {
		t.Fatal("the first read's buffer was not returned once replayed")
	}

	srv2, cli2 := acceptedPair(t, ln)
	cli2.Close()
	if pc, err := readFirst(srv2); err == nil {
		t.Fatalf("read %q from a client that left", pc.pre)
	}
}

// acceptedPair dials ln and returns the accepted end (10 s read deadline)
// and the client end; both close when the test ends.
func acceptedPair(t *testing.T, ln net.Listener) (srv, cli net.Conn) {
	t.Helper()
	cli, _ = dial(t, ln.Addr().String())
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	_ = srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	return srv, cli
}
