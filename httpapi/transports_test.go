package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reddot-dev/reddot/auth"

	"github.com/reddot-dev/reddot/httpapi"
)

// sameJSON reports whether two JSON texts hold the same value, however
// they escape it.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

// One publish reaches SSE, WebSocket, short poll, long poll and iframe
// clients as the identical event: same id, topic, seq, event, time, data,
// and, for the same subscription, the same cursor.
func TestSameEventOnEveryTransport(t *testing.T) {
	t.Run("front", testSameEventOnEveryTransport)
	t.Run("net/http", func(t *testing.T) { withPlainNetHTTP(t); testSameEventOnEveryTransport(t) })
}

func testSameEventOnEveryTransport(t *testing.T) {
	e := newEnv(t)
	tok := e.token("42")
	sub := "topics=news&token=" + tok
	sse := e.sse(sub)
	ws := e.ws(sub)
	frame, _ := e.openIframe(sub + "&origin=" + url.QueryEscape(appOrigin))
	head := e.pollGet("/v1/poll?" + sub).cursor
	long := e.startLongPoll(nil, "/v1/longpoll?"+sub+"&timeout=20&since="+head)
	e.waitHeld("longpoll", 1)

	want := e.publish(`{"topic":"news","event":"story","data":{"title":"</script><script>alert(1)</script>","sep":"a\u2028b","n":[1,2.5,null]}}`)
	want = append(want, e.publish(`{"users":["42"],"notification":{"category":"comment","title":"hi","body":"x & y"}}`)...)

	got := map[string][]wireEvent{}
	for range want {
		got["sse"] = append(got["sse"], nextOf(t, sse.events, wait, "story", "notification"))
		got["ws"] = append(got["ws"], nextOf(t, ws.events, wait, "story", "notification"))
		got["iframe"] = append(got["iframe"], frame.event(t, wait).wireEvent)
	}
	// The long poll woke at the first event; the second follows on the next poll.
	la := long.wait(t, wait)
	got["longpoll"] = la.events
	if len(la.events) < len(want) {
		more := e.pollGet("/v1/longpoll?" + sub + "&timeout=5&since=" + la.cursor)
		got["longpoll"] = append(got["longpoll"], more.events...)
	}
	got["poll"] = e.pollGet("/v1/poll?" + sub + "&since=" + head).events

	ref := got["sse"]
	if !slices.Equal(eventIDs(ref), want) {
		t.Fatalf("sse got %v, want %v", eventIDs(ref), want)
	}
	for name, evs := range got {
		if len(evs) != len(want) {
			t.Fatalf("%s got %d events, want %d", name, len(evs), len(want))
		}
		for i, ev := range evs {
			r := ref[i]
			if ev.ID != r.ID || ev.Topic != r.Topic || ev.Seq != r.Seq || ev.Event != r.Event || ev.Time != r.Time || !sameJSON(t, ev.Data, r.Data) {
				t.Errorf("%s event %d differs:\n got %+v\nsse %+v", name, i, ev, r)
			}
			if ev.Cursor != r.Cursor {
				t.Errorf("%s event %d cursor %q, sse %q", name, i, ev.Cursor, r.Cursor)
			}
		}
	}
	if ref[0].Time == "" || ref[0].Seq != 1 || ref[1].Seq != 1 || ref[1].unreadTotal(t) != 1 {
		t.Fatalf("reference events %+v", ref)
	}
}

// Publish-to-delivery latency of every push transport, measured from the
// start of the publish request (the durable write included) to the event
// being read by the client. Figures go to the test log.
func TestWakeLatencyOfEveryTransport(t *testing.T) {
	e := newEnv(t, withHTTPOpts(func(o *httpapi.Options) { o.Heartbeat = time.Minute }))
	tok := e.token("42")
	sub := "topics=news&inbox=false&token=" + tok
	sse := e.sse(sub)
	ws := e.ws(sub)
	frame, _ := e.openIframe(sub + "&origin=" + url.QueryEscape(appOrigin))
	cursor := e.pollGet("/v1/poll?" + sub).cursor
	const rounds = 15
	lat := map[string][]time.Duration{}
	for range rounds {
		long := e.startLongPoll(nil, "/v1/longpoll?"+sub+"&timeout=20&since="+cursor)
		e.waitHeld("longpoll", 1)
		// Each client waits in its own goroutine so none is measured late.
		type arrival struct {
			name string
			at   time.Time
		}
		arrived := make(chan arrival, 3)
		go func() { <-sse.events; arrived <- arrival{"sse", time.Now()} }()
		go func() { <-ws.events; arrived <- arrival{"ws", time.Now()} }()
		go func() { <-frame.msgs; arrived <- arrival{"iframe", time.Now()} }()
		start := time.Now()
		e.publish(`{"topic":"news","data":"tick"}`)
		for range 3 {
			select {
			case a := <-arrived:
				lat[a.name] = append(lat[a.name], a.at.Sub(start))
			case <-time.After(wait):
				t.Fatal("an event did not arrive")
			}
		}
		a := long.wait(t, wait)
		if len(a.events) != 1 {
			t.Fatalf("long poll: %d %s", a.status, a.body)
		}
		lat["longpoll"] = append(lat["longpoll"], long.at.Sub(start))
		cursor = a.cursor
		e.waitHeld("longpoll", 0)
	}
	for _, name := range []string{"longpoll", "sse", "ws", "iframe"} {
		l := lat[name]
		slices.Sort(l)
		t.Logf("%-8s publish→client p50 %v max %v", name, l[len(l)/2], l[len(l)-1])
		if l[len(l)/2] > 100*time.Millisecond {
			t.Errorf("%s: median %v, want under 100ms", name, l[len(l)/2])
		}
	}
}

// TestHeldConnectionsAtScale holds 10,000 long polls, then 10,000 SSE,
// iframe and WebSocket streams, each against a fresh `reddot serve`
// process (this process holds
// the client ends: one process could not hold 20,000 descriptors), wakes
// them all with one publish and checks that everything is freed when the
// clients leave. It reports goroutines and bytes per held connection from
// the server's /metrics and /proc. REDDOT_HELD=n changes the count; -short
// skips it.
func TestHeldConnectionsAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: holds 10,000 connections against a built reddot binary")
	}
	n := 10000
	if v := os.Getenv("REDDOT_HELD"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("REDDOT_HELD=%q: want a count", v)
		}
	}
	bin := buildReddot(t)
	toks := make([]string, n)
	for i := range toks {
		tok, err := auth.Mint([]byte(testSecret), auth.Claims{User: "u" + strconv.Itoa(i), TTL: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = tok
	}
	const upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	for _, tr := range []struct{ name, path, header string }{
		{"longpoll", "/v1/longpoll?topics=news&timeout=600&token=", ""},
		{"sse", "/v1/sse?topics=news&token=", ""},
		{"iframe", "/v1/iframe?topics=news&origin=https%3A%2F%2Fapp.example&token=", ""},
		{"ws", "/v1/ws?topics=news&token=", upgrade},
	} {
		srv := startServe(t, bin) // a fresh process each, so memory figures do not mix
		base := srv.sample(t)
		start := time.Now()
		conns := srv.dialAll(t, n, tr.header, func(i int) string { return tr.path + toks[i] })
		srv.waitConnections(t, tr.name, n)
		dialed := time.Since(start)
		held := srv.sample(t)
		gPer := float64(held.goroutines-base.goroutines) / float64(n)
		rssPer := float64(held.rss-base.rss) / float64(n)
		heapPer := float64(held.heap-base.heap) / float64(n)
		t.Logf("%s: %d held in %v; per connection: %.2f goroutines, %.1f KiB RSS, %.1f KiB heap in use (server totals: %d goroutines, RSS %.0f MiB)",
			tr.name, n, dialed.Round(time.Millisecond), gPer, rssPer/1024, heapPer/1024, held.goroutines, float64(held.rss)/(1<<20))
		if gPer > 2.5 {
			t.Errorf("%s: %.2f goroutines per held connection, want at most 2 (+slack)", tr.name, gPer)
		}
		if rssPer > 64<<10 {
			t.Errorf("%s: %.0f bytes of RSS per held connection, want under 64 KiB", tr.name, rssPer)
		}

		// One publish wakes every one of them.
		start = time.Now()
		srv.publish(t, `{"topic":"news","data":"wake"}`)
		for i, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if err := readOneEvent(c, tr.name); err != nil {
				t.Fatalf("%s %d: %v", tr.name, i, err)
			}
		}
		t.Logf("%s: one publish reached all %d in %v", tr.name, n, time.Since(start).Round(time.Millisecond))

		for _, c := range conns {
			c.Close()
		}
		srv.waitConnections(t, tr.name, 0)
		var now serverSample
		pollUntil(t, 20*time.Second, tr.name+": server goroutines back to the baseline", func() bool {
			now = srv.sample(t)
			return now.goroutines <= base.goroutines+2
		})
		t.Logf("%s: after the clients left: %d goroutines (baseline %d)", tr.name, now.goroutines, base.goroutines)
	}
}

// served is a `reddot serve` child process.
type served struct {
	base string // http://127.0.0.1:port
	addr string
	pid  int
}

// buildReddot compiles ./cmd/reddot into a temporary directory of t.
func buildReddot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "reddot")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/reddot-dev/reddot/cmd/reddot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServe starts bin on a free loopback port.
func startServe(t *testing.T, bin string) *served {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--http-addr", "127.0.0.1:0", "--mqtt-addr", "off",
		"--data-dir", t.TempDir(), "--jwt-secret", testSecret, "--api-keys", testKey,
		"--longpoll-max", "15m", "--heartbeat", "10m", "--log-level", "error", "--allowed-origins", appOrigin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	up := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "reddot is up: "); ok {
				up <- u
			}
		}
	}()
	select {
	case u := <-up:
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + pu.Port()
		return &served{base: "http://" + addr, addr: addr, pid: cmd.Process.Pid}
	case <-exited:
		t.Fatalf("reddot serve exited: %s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("reddot serve did not start: %s", stderr.String())
	}
	return nil
}

type serverSample struct {
	goroutines int
	rss, heap  int64
	conns      map[string]int
}

// sample reads the server's goroutines, heap and connections from
// /metrics and its RSS from /proc.
func (s *served) sample(t testing.TB) serverSample {
	t.Helper()
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := serverSample{conns: map[string]int{}}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch {
		case name == "go_goroutines":
			out.goroutines = int(v)
		case name == "go_memstats_heap_inuse_bytes":
			out.heap = int64(v)
		case strings.HasPrefix(name, `reddot_connections{transport="`):
			out.conns[strings.TrimSuffix(strings.TrimPrefix(name, `reddot_connections{transport="`), `"}`)] = int(v)
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			out.rss = kb << 10
		}
	}
	return out
}

func (s *served) waitConnections(t testing.TB, transport string, n int) {
	t.Helper()
	var got int
	pollUntil(t, 60*time.Second, fmt.Sprintf("%d %s connections", n, transport), func() bool {
		got = s.sample(t).conns[transport]
		return got == n
	})
}

func (s *served) publish(t testing.TB, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.base+"/v1/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
}

// rawConn is one client connection with its reader.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

// dialAll opens n connections, each sending GET path(i), with a few
// dialers (not a goroutine per connection: -race allows 8,128 at most).
func (s *served) dialAll(t testing.TB, n int, header string, path func(i int) string) []*rawConn {
	t.Helper()
	conns := make([]*rawConn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
				if err == nil {
					_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path(i), s.addr, header)
				}
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
				conns[i] = &rawConn{Conn: c, br: bufio.NewReaderSize(c, 1024)}
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return conns
}

// readOneEvent reads a long-poll answer with one event, or a stream up to
// its first event.
func readOneEvent(c *rawConn, transport string) error {
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	if transport == "ws" {
		if resp.StatusCode != http.StatusSwitchingProtocols {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		// Server frames are unmasked: the JSON text is on the wire as is.
		var seen []byte
		buf := make([]byte, 512)
		for !strings.Contains(string(seen), `"data":"wake"`) {
			n, err := c.br.Read(buf)
			if err != nil {
				return err
			}
			seen = append(seen, buf[:n]...)
		}
		return nil
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if transport == "longpoll" {
		b, err := io.ReadAll(resp.Body)
		if err == nil && !strings.Contains(string(b), `"data":"wake"`) {
			err = fmt.Errorf("answer %s", b)
		}
		return err
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.Contains(line, `"data":"wake"`) {
			return nil
		}
	}
}
