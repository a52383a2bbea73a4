package mqttbridge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// netListener serves MQTT on a bound net.Listener (TCP or TLS). Unlike
// mochi's, it logs ended connections at debug level, not as warnings.
type netListener struct {
	id     string
	ln     net.Listener
	log    *slog.Logger
	closed atomic.Bool
	kick   func(listener string) // disconnects the listener's clients
}

var _ listeners.Listener = (*netListener)(nil)

func (l *netListener) ID() string                  { return l.id }
func (l *netListener) Address() string             { return l.ln.Addr().String() }
func (l *netListener) Protocol() string            { return l.ln.Addr().Network() }
func (l *netListener) Init(log *slog.Logger) error { l.log = log; return nil }

func (l *netListener) Serve(establish listeners.EstablishFn) {
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// e.g. out of file descriptors: wait and try again
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.log.Warn("mqtt: accept failed", "err", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go func() {
			if err := establish(l.id, conn); err != nil {
				l.log.Debug("mqtt: connection ended", "remote", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// Close stops accepting, then disconnects the listener's clients. It
// does not use mochi's CloseFn, which can deadlock (Clients.GetByListener
// takes its read lock twice) against a client leaving at the same time.
func (l *netListener) Close(listeners.CloseFn) {
	if l.closed.CompareAndSwap(false, true) {
		_ = l.ln.Close()
		l.kick(l.id)
	}
}

// wsListener is MQTT over WebSocket on the main HTTP server: it accepts no
// sockets itself; the broker's ServeHTTP hands it upgraded connections.
type wsListener struct {
	id        string
	establish atomic.Pointer[listeners.EstablishFn]
	ready     chan struct{} // closed once establish is set
	readyOnce sync.Once
	closed    atomic.Bool
	kick      func(listener string)
}

var _ listeners.Listener = (*wsListener)(nil)

func (l *wsListener) ID() string              { return l.id }
func (l *wsListener) Address() string         { return "/mqtt" }
func (l *wsListener) Protocol() string        { return "ws" }
func (l *wsListener) Init(*slog.Logger) error { return nil }
func (l *wsListener) Serve(fn listeners.EstablishFn) {
	l.establish.Store(&fn)
	l.readyOnce.Do(func() { close(l.ready) })
}

func (l *wsListener) Close(listeners.CloseFn) {
	if l.closed.CompareAndSwap(false, true) {
		l.kick(l.id)
	}
}

// ServeHTTP serves MQTT over WebSocket (subprotocol "mqtt"): mount it at
// /mqtt on the HTTP server. Browsers from origins outside AllowedOrigins
// are refused; the request blocks until the MQTT connection ends.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fn := b.ws.establish.Load()
	if fn == nil || b.ws.closed.Load() {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"the MQTT broker is not running"}}` + "\n"))
		return
	}
	ws, err := websocket.Accept(w, r, b.acceptOptions())
	if err != nil {
		return // Accept has answered
	}
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	if err := (*fn)(b.ws.id, nc); err != nil {
		b.log.Debug("mqtt: websocket connection ended", "remote", r.RemoteAddr, "err", err)
	}
	_ = nc.Close()
}

func (b *Broker) acceptOptions() *websocket.AcceptOptions {
	o := &websocket.AcceptOptions{
		Subprotocols:    []string{"mqtt", "mqttv3.1"},
		CompressionMode: websocket.CompressionDisabled,
	}
	for _, origin := range b.o.AllowedOrigins {
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
