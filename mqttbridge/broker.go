// Package mqttbridge embeds an MQTT 3.1.1/5 broker (mochi-mqtt) and wires
// it into reddot's engine: MQTT clients authenticate with subscriber tokens
// or API keys, subscribe to reddot topics under the MQTT names of topics.go,
// and publish into reddot's store. Deliveries come from one engine session
// per connection, so MQTT gets what every other transport gets: events in
// seq order, exactly once per connection, with cursors, and resume from
// the store for persistent sessions — also across restarts.
//
// mochi's own fan-out is not used: an accepted client PUBLISH is stored
// through the engine (and acknowledged once durable) and comes back to
// every subscriber, the publisher included, through its engine session.
package mqttbridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// Defaults of Options.
const (
	DefaultMaxPacketSize    = 256 << 10
	DefaultMaxInflight      = 100
	DefaultMaxSubscriptions = 100
	DefaultKeepaliveMax     = 5 * time.Minute
	DefaultOfflineQueue     = 1000
	DefaultSessionExpiry    = 7 * 24 * time.Hour
	DefaultCheckpoint       = time.Second

	maxSubscriptionsCap = 256 // a cursor holds at most 256 topics
	maxClientIDLen      = 128
)

// Options configure a Broker. Zero fields take defaults.
type Options struct {
	Engine *engine.Engine
	Auth   reddot.Authenticator
	Logger *slog.Logger
	Now    func() time.Time

	// SessionsPath is the SQLite file that keeps persistent sessions
	// (subscriptions and acknowledged positions) across restarts. Empty
	// keeps them in memory only.
	SessionsPath string
	// Limits bound the data of client publishes, as for HTTP publishes.
	Limits reddot.Limits

	MaxPacketSize    int           // bytes of one packet from a client (256 KiB); larger ones disconnect that client
	MaxInflight      int           // unacknowledged QoS 1 messages per client, each way (100)
	MaxSubscriptions int           // subscriptions per client (100, at most 256)
	KeepaliveMax     time.Duration // clients asking for more (or 0) get this (5 min)
	OfflineQueue     int           // events per topic replayed to a returning persistent session (1000)
	SessionExpiry    time.Duration // how long an offline persistent session is kept (7 days)
	Checkpoint       time.Duration // how often session positions are saved (1 s)

	// AllowedOrigins are the browser origins allowed on MQTT over
	// WebSocket ("*" for any); requests without Origin are always allowed.
	AllowedOrigins []string
}

func (o *Options) withDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPacketSize <= 0 {
		o.MaxPacketSize = DefaultMaxPacketSize
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	o.MaxInflight = min(o.MaxInflight, math.MaxUint16)
	if o.MaxSubscriptions <= 0 {
		o.MaxSubscriptions = DefaultMaxSubscriptions
	}
	o.MaxSubscriptions = min(o.MaxSubscriptions, maxSubscriptionsCap)
	if o.KeepaliveMax <= 0 {
		o.KeepaliveMax = DefaultKeepaliveMax
	}
	o.KeepaliveMax = min(max(o.KeepaliveMax, time.Second), math.MaxUint16*time.Second)
	if o.OfflineQueue <= 0 {
		o.OfflineQueue = DefaultOfflineQueue
	}
	if o.SessionExpiry <= 0 {
		o.SessionExpiry = DefaultSessionExpiry
	}
	if o.Checkpoint <= 0 {
		o.Checkpoint = DefaultCheckpoint
	}
}

// Broker is the embedded MQTT broker. Create it with New, add listeners,
// then Start; Close disconnects everyone and saves persistent sessions.
type Broker struct {
	o     Options
	eng   *engine.Engine
	auth  reddot.Authenticator
	log   *slog.Logger
	srv   *mqtt.Server
	store sessionStore
	ws    *wsListener

	conns sync.Map // *mqtt.Client → *conn

	mu       sync.Mutex
	sessions map[string]*session // by internal client id
	deleted  map[string]bool     // saved sessions to delete at the next checkpoint
	restored []record            // loaded at Start, handed to mochi

	started   atomic.Bool
	stop      chan struct{}
	loopDone  chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New returns a Broker that is not listening yet. It opens the sessions
// file when Options.SessionsPath is set.
func New(ctx context.Context, o Options) (*Broker, error) {
	if o.Engine == nil || o.Auth == nil {
		return nil, errors.New("mqttbridge: Engine and Auth are required")
	}
	o.withDefaults()
	b := &Broker{
		o: o, eng: o.Engine, auth: o.Auth, log: o.Logger, store: memStore{},
		sessions: map[string]*session{}, deleted: map[string]bool{},
		stop: make(chan struct{}), loopDone: make(chan struct{}),
	}
	if o.SessionsPath != "" {
		st, err := openSQLiteStore(ctx, o.SessionsPath)
		if err != nil {
			return nil, fmt.Errorf("mqttbridge: %w", err)
		}
		b.store = st
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(o.MaxPacketSize)
	caps.ReceiveMaximum = uint16(o.MaxInflight)
	caps.MaximumInflight = uint16(o.MaxInflight)
	caps.MaximumClientWritesPending = 16 // mochi's own queue is unused: deliveries are written by the bridge
	caps.MaximumSessionExpiryInterval = uint32(min(o.SessionExpiry/time.Second, math.MaxUint32-1))
	caps.MaximumMessageExpiryInterval = 0
	caps.RetainAvailable = 0
	caps.SharedSubAvailable = 0
	caps.WildcardSubAvailable = 0
	caps.SubIDAvailable = 0
	caps.TopicAliasMaximum = 0
	caps.Compatibilities.NoInheritedPropertiesOnAck = true // acks do not echo a PUBLISH's properties
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 slog.New(quiet{o.Logger.Handler()}),
		SysTopicResendInterval: math.MaxInt32, // $SYS is not readable anyway; spare the per-second MemStats
	})
	if err := b.srv.AddHook(&hook{b: b}, nil); err != nil {
		_ = b.store.close()
		return nil, err
	}
	b.ws = &wsListener{id: "ws", kick: b.disconnectListener, ready: make(chan struct{})}
	if err := b.srv.AddListener(b.ws); err != nil {
		_ = b.store.close()
		return nil, err
	}
	return b, nil
}

// Listen serves MQTT on ln (plain TCP, or TLS when ln is a tls listener)
// under the listener id. Call it before Start.
func (b *Broker) Listen(id string, ln net.Listener) error {
	if b.started.Load() {
		return errors.New("mqttbridge: Listen after Start")
	}
	return b.srv.AddListener(&netListener{id: id, ln: ln, kick: b.disconnectListener})
}

// disconnectListener disconnects every client of a listener that is
// shutting down (v5 clients get DISCONNECT 0x8B).
func (b *Broker) disconnectListener(id string) {
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener != id || cl.Closed() {
			continue
		}
		if cl.Properties.ProtocolVersion == 5 {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		} else {
			cl.Stop(packets.ErrServerShuttingDown)
		}
	}
}

// Start restores persistent sessions and starts serving every listener.
func (b *Broker) Start(ctx context.Context) error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("mqttbridge: already started")
	}
	recs, err := b.store.load(ctx)
	if err != nil {
		return fmt.Errorf("mqttbridge: load sessions: %w", err)
	}
	b.restore(recs)
	if err := b.srv.Serve(); err != nil {
		return err
	}
	go b.checkpointLoop()
	// mochi starts each listener on its own goroutine: without this wait a
	// WebSocket client arriving right after Start got 503.
	select {
	case <-b.ws.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the listeners, disconnects every client, saves persistent
// sessions and closes the sessions file. It is safe to call twice.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		started := !b.started.CompareAndSwap(false, true) // and no Start from now on
		_ = b.srv.Close()                                 // waits for every client's goroutine, so every OnDisconnect has run
		if started {
			close(b.stop)
			<-b.loopDone
		}
		b.closeErr = errors.Join(b.checkpoint(), b.store.close())
	})
	return b.closeErr
}

// Server returns the embedded mochi server, e.g. to read its Info counters.
func (b *Broker) Server() *mqtt.Server { return b.srv }

func (b *Broker) conn(cl *mqtt.Client) *conn {
	if v, ok := b.conns.Load(cl); ok {
		return v.(*conn)
	}
	return nil
}

// sweep forgets connections mochi dropped between CONNECT and CONNACK
// (a failed CONNACK write): they never reach OnDisconnect.
func (b *Broker) sweep() {
	b.conns.Range(func(k, v any) bool {
		c := v.(*conn)
		b.mu.Lock()
		orphan := c.sess == nil
		b.mu.Unlock()
		if orphan && c.cl.Closed() {
			b.conns.Delete(k)
			c.detach()
		}
		return true
	})
}

func (b *Broker) checkpointLoop() {
	defer close(b.loopDone)
	t := time.NewTicker(b.o.Checkpoint)
	defer t.Stop()
	lastSweep := time.Now()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			if now.Sub(lastSweep) > 30*time.Second {
				b.sweep()
				lastSweep = now
			}
			if err := b.checkpoint(); err != nil {
				b.log.Warn("mqtt: saving sessions failed; will retry", "err", err)
			}
		}
	}
}

// quiet passes on mochi's own logs from warnings up: its info lines
// (hooks added, listeners attached, started, stopped) are noise here.
type quiet struct{ slog.Handler }

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && q.Handler.Enabled(ctx, l)
}
func (q quiet) WithAttrs(a []slog.Attr) slog.Handler { return quiet{q.Handler.WithAttrs(a)} }
func (q quiet) WithGroup(n string) slog.Handler      { return quiet{q.Handler.WithGroup(n)} }
