// Package redisbus is a reddot.Bus on Redis PUBLISH/SUBSCRIBE
// (redis/go-redis/v9): every node publishes to one channel and subscribes
// to it, so every node, the publisher included, receives every event.
//
// Redis pub/sub delivers at most once: a node whose connection drops misses
// what was published meanwhile. The store is the source of truth, so the
// bus only has to say when something may have been missed: it calls
// Options.OnReconnect when its subscription comes back, and when it could
// not send some events it asks every node, once it can publish again, to do
// the same. The node then re-reads the store by cursor (engine.Resync).
package redisbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/internal/buswire"
)

var _ reddot.Bus = (*Bus)(nil)

// ErrClosed is returned by Publish and Ping after Close.
var ErrClosed = errors.New("redis bus: closed")

// Defaults of Options.
const (
	DefaultChannel         = "reddot"
	DefaultQueueSize       = 4096
	DefaultMaxMessageBytes = 1 << 20
	DefaultPingEvery       = 5 * time.Second
)

// Options configure a Bus. Zero fields take defaults.
type Options struct {
	// Channel is the Redis channel of the cluster; the URL's ?channel=
	// sets it when this is empty (DefaultChannel otherwise).
	Channel string
	// OnReconnect is called, from the bus's receiving goroutine, whenever
	// this node may have missed events: after the subscription came back,
	// and when another node reports events it could not send. It must not
	// block; the node re-reads the store (engine.Resync).
	OnReconnect func()
	// Logger receives connection state changes; nil discards them.
	Logger *slog.Logger
	// QueueSize is how many messages wait to be sent before new ones are
	// dropped (and every node asked to resync once Redis is back).
	QueueSize int
	// MaxMessageBytes bounds one Redis message; larger publishes are split.
	MaxMessageBytes int
	// PingEvery is how long the subscription may stay silent before the bus
	// pings Redis to check it; a ping unanswered as long means it is down.
	PingEvery time.Duration
}

func (o Options) withDefaults() Options {
	if o.Channel == "" {
		o.Channel = DefaultChannel
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.PingEvery <= 0 {
		o.PingEvery = DefaultPingEvery
	}
	return o
}

// Bus is a reddot.Bus on one Redis channel. Publish only queues: one sender
// goroutine pipelines the queue to Redis in order, so a slow or absent
// Redis never holds up a publisher.
type Bus struct {
	opt    Options
	client *redis.Client
	ps     *redis.PubSub // owned by recvLoop after Open; replaced when dead

	handler atomic.Pointer[func(*reddot.Event)]
	subUp   atomic.Bool // the subscription is confirmed and answering
	lost    atomic.Bool // events were dropped; every node must resync

	out       chan []byte
	kick      chan struct{} // wakes the sender when lost is set
	mu        sync.RWMutex  // guards closed against senders on out
	closed    bool
	psMu      sync.Mutex // guards ps for Close
	ctx       context.Context
	cancel    context.CancelFunc
	sendDone  chan struct{}
	recvDone  chan struct{}
	closeOnce sync.Once
}

// Open connects to Redis at rawURL (redis:// or rediss://, with an optional
// ?channel=), subscribes, and returns once the subscription is confirmed.
// It fails when Redis cannot be reached.
func Open(ctx context.Context, rawURL string, o Options) (*Bus, error) {
	clean, channel, err := splitParam(rawURL, "channel")
	if err != nil {
		return nil, err
	}
	if o.Channel == "" {
		o.Channel = channel
	}
	o = o.withDefaults()
	ropt, err := redis.ParseURL(clean)
	if err != nil {
		return nil, fmt.Errorf("redis bus: bad URL %s: %v", buswire.Redact(clean), err)
	}
	ropt.DialTimeout = 2 * time.Second
	ropt.ReadTimeout = 3 * time.Second
	ropt.WriteTimeout = 3 * time.Second
	ropt.MaxRetries = -1 // the bus decides what to do about a failure
	ropt.PoolSize = 4
	ropt.DialerRetries = 1 // the bus has its own retry loops
	client := redis.NewClient(ropt)
	where := buswire.Redact(clean)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis bus: cannot reach %s: %v", where, unwrapNet(err))
	}
	ps := client.Subscribe(pctx, o.Channel)
	if err := confirm(pctx, ps); err != nil {
		_ = ps.Close()
		_ = client.Close()
		return nil, fmt.Errorf("redis bus: cannot subscribe to %q on %s: %v", o.Channel, where, unwrapNet(err))
	}
	b := &Bus{
		opt: o, client: client, ps: ps,
		out:      make(chan []byte, o.QueueSize),
		kick:     make(chan struct{}, 1),
		sendDone: make(chan struct{}),
		recvDone: make(chan struct{}),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.subUp.Store(true)
	go b.sendLoop()
	go b.recvLoop()
	return b, nil
}

// confirm waits for the subscription confirmation of ps.
func confirm(ctx context.Context, ps *redis.PubSub) error {
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			return err
		}
		if s, ok := msg.(*redis.Subscription); ok && s.Kind == "subscribe" {
			return nil
		}
	}
}

// Subscribe sets the handler that receives every event from every node.
func (b *Bus) Subscribe(h func(*reddot.Event)) { b.handler.Store(&h) }

// Publish queues events for every node and returns at once. Events that do
// not fit the queue, or that Redis does not take, are dropped: the store
// has them, and every node is asked to catch up once Redis answers again.
func (b *Bus) Publish(ctx context.Context, events []*reddot.Event) error {
	msgs, dropped, err := buswire.Encode(events, b.opt.MaxMessageBytes)
	if err != nil {
		return err
	}
	if dropped > 0 {
		b.markLost(fmt.Errorf("%d events larger than %d bytes", dropped, b.opt.MaxMessageBytes))
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	for _, m := range msgs {
		select {
		case b.out <- m:
		default:
			b.markLost(errors.New("send queue full"))
			return nil
		}
	}
	return nil
}

// markLost records that some events did not go out.
func (b *Bus) markLost(why error) {
	if !b.lost.Swap(true) {
		b.opt.Logger.Warn("redis bus: events not sent; nodes will catch up from the store", "err", why)
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Ping reports whether Redis answers and the subscription is up.
func (b *Bus) Ping(ctx context.Context) error {
	b.mu.RLock()
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if !b.subUp.Load() {
		return errors.New("redis bus: subscription is down")
	}
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis bus: %v", unwrapNet(err))
	}
	return nil
}

// Close sends what is queued (for up to two seconds), stops delivery and
// disconnects. No handler call starts after Close returns. It is safe to
// call more than once.
func (b *Bus) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		close(b.out)
		b.mu.Unlock()
		select {
		case <-b.sendDone:
		case <-time.After(2 * time.Second):
		}
		b.cancel()
		b.psMu.Lock()
		_ = b.ps.Close()
		b.psMu.Unlock()
		<-b.sendDone
		<-b.recvDone
		_ = b.client.Close()
	})
	return nil
}

func unwrapNet(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

func init() {
	// go-redis prints its own lines (dial failures, reconnects) to stderr.
	// The bus reports connection state through Options.Logger; send the
	// library's lines to slog's default logger at debug level instead.
	redis.SetLogger(redisLogger{})
}

type redisLogger struct{}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

func splitParam(raw, key string) (string, string, error) {
	clean, v, err := buswire.SplitParam(raw, key)
	if err != nil {
		return "", "", fmt.Errorf("redis bus: %v", err)
	}
	return clean, v, nil
}
