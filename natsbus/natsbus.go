// Package natsbus is a reddot.Bus on core NATS (nats-io/nats.go): every
// node publishes to one subject and subscribes to it, so every node, the
// publisher included, receives every event.
//
// Core NATS delivers at most once, which is all reddot needs: the store is
// the source of truth and every session catches up from it by cursor. So
// the bus does not use JetStream (a second durable log, with acks on the
// publish path); it only has to say when this node may have missed events.
// It calls Options.OnReconnect after the connection came back and when the
// subscription overflowed. Core NATS does not confirm publishes, so when
// this node's connection came back after it had published, or when some
// events could not be sent, it asks every node to do the same.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/internal/buswire"
)

var _ reddot.Bus = (*Bus)(nil)

// ErrClosed is returned by Publish and Ping after Close.
var ErrClosed = errors.New("nats bus: closed")

// Defaults of Options.
const (
	DefaultSubject   = "reddot.events"
	DefaultPingEvery = 5 * time.Second
)

// Options configure a Bus. Zero fields take defaults.
type Options struct {
	// Subject is the NATS subject of the cluster; the URL's ?subject= sets
	// it when this is empty (DefaultSubject otherwise).
	Subject string
	// OnReconnect is called whenever this node may have missed events:
	// after the connection came back, when the subscription overflowed, and
	// when another node reports events it could not send. It may be called
	// from any goroutine and must not block; the node re-reads the store
	// (engine.Resync).
	OnReconnect func()
	// Logger receives connection state changes; nil discards them.
	Logger *slog.Logger
	// PingEvery is the keepalive interval; two unanswered pings mean the
	// connection is dead and the client reconnects.
	PingEvery time.Duration
	// Name identifies this node's connection on the NATS server.
	Name string
}

func (o Options) withDefaults() Options {
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PingEvery <= 0 {
		o.PingEvery = DefaultPingEvery
	}
	if o.Name == "" {
		o.Name = "reddot"
	}
	return o
}

// Bus is a reddot.Bus on one NATS subject. Publish hands messages to the
// client's buffered writer and returns; while the connection is being
// re-established the client buffers them (up to 8 MiB) and sends them once
// it is back.
type Bus struct {
	opt Options
	nc  *nats.Conn
	sub *nats.Subscription

	handler atomic.Pointer[func(*reddot.Event)]
	lost    atomic.Bool // events were not sent; every node must resync
	sent    atomic.Bool // events were published on the current connection

	mu        sync.RWMutex // guards closed; held by deliveries
	closed    bool
	closeOnce sync.Once
}

// Open connects to NATS at rawURL (nats://host:port, optionally a comma
// separated list, with an optional ?subject=), subscribes, and returns once
// the server has the subscription. It fails when NATS cannot be reached.
func Open(ctx context.Context, rawURL string, o Options) (*Bus, error) {
	servers, subject, err := splitParam(rawURL, "subject")
	if err != nil {
		return nil, err
	}
	if o.Subject == "" {
		o.Subject = subject
	}
	o = o.withDefaults()
	b := &Bus{opt: o}
	nc, err := nats.Connect(servers,
		nats.Name(o.Name),
		nats.Timeout(2*time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, 0),
		nats.PingInterval(o.PingEvery),
		nats.MaxPingsOutstanding(2),
		nats.NoCallbacksAfterClientClose(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				o.Logger.Warn("nats bus: disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			o.Logger.Info("nats bus: reconnected")
			b.reconnected()
			// What was written to the old connection after the server's
			// last PONG may be lost without an error: ask everyone to
			// catch up unless this node has published nothing since.
			if b.sent.Swap(false) || b.lost.Load() {
				b.sendResync()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				o.Logger.Warn("nats bus: subscription overflowed; catching up from the store")
				b.reconnected()
				return
			}
			o.Logger.Warn("nats bus: async error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("nats bus: cannot reach %s: %v", buswire.Redact(servers), err)
	}
	b.nc = nc
	if b.sub, err = nc.Subscribe(o.Subject, b.receive); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats bus: cannot subscribe to %q: %v", o.Subject, err)
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats bus: %s does not answer: %v", buswire.Redact(servers), err)
	}
	return b, nil
}

// Subscribe sets the handler that receives every event from every node.
func (b *Bus) Subscribe(h func(*reddot.Event)) { b.handler.Store(&h) }

// Publish sends events to every node and returns without waiting for the
// server. Events NATS does not take are dropped: the store has them, and
// every node is asked to catch up as soon as NATS takes messages again.
func (b *Bus) Publish(ctx context.Context, events []*reddot.Event) error {
	msgs, dropped, err := buswire.Encode(events, int(b.nc.MaxPayload()))
	if err != nil {
		return err
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	for _, m := range msgs {
		if err = b.nc.Publish(b.opt.Subject, m); err != nil {
			break
		}
	}
	b.sent.Store(true)
	b.mu.RUnlock()
	switch {
	case err != nil:
		b.markLost(err)
	case dropped > 0:
		b.markLost(fmt.Errorf("%d events larger than the server's %d-byte limit", dropped, b.nc.MaxPayload()))
	}
	return nil
}

// markLost records that some events did not go out and, when connected,
// asks every node to resync at once.
func (b *Bus) markLost(why error) {
	if !b.lost.Swap(true) {
		b.opt.Logger.Warn("nats bus: events not sent; nodes will catch up from the store", "err", why)
	}
	if b.nc.IsConnected() {
		b.sendResync()
	}
}

func (b *Bus) sendResync() {
	b.lost.Store(false) // anything lost from now on needs another request
	if err := b.nc.Publish(b.opt.Subject, []byte(buswire.Resync)); err != nil {
		b.lost.Store(true)
		return
	}
	b.opt.Logger.Info("nats bus: every node asked to catch up from the store")
}

func (b *Bus) receive(m *nats.Msg) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return
	}
	env, err := buswire.Decode(m.Data)
	if err != nil {
		b.opt.Logger.Warn("nats bus: undecodable message ignored", "err", err, "bytes", len(m.Data))
		return
	}
	if env.Resync {
		b.reconnected()
		return
	}
	h := b.handler.Load()
	if h == nil {
		return
	}
	for _, e := range env.Events {
		(*h)(e)
	}
}

func (b *Bus) reconnected() {
	if b.opt.OnReconnect != nil {
		b.opt.OnReconnect()
	}
}

// Ping reports whether the server answers a round trip.
func (b *Bus) Ping(ctx context.Context) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("nats bus: not connected (%v)", b.nc.Status())
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("nats bus: %v", err)
	}
	return nil
}

// Close sends what is buffered (for up to two seconds) and disconnects. No
// handler call starts after Close returns. It is safe to call more than
// once.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		if b.nc.IsConnected() {
			_ = b.nc.FlushTimeout(2 * time.Second)
		}
		b.nc.Close()
	})
	return nil
}

func splitParam(raw, key string) (string, string, error) {
	clean, v, err := buswire.SplitParam(raw, key)
	if err != nil {
		return "", "", fmt.Errorf("nats bus: %v", err)
	}
	return clean, v, nil
}
