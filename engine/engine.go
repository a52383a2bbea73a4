// Package engine is reddot's core: publishing (store, then bus), the inbox
// operations, and the one subscription pipeline every transport encodes.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/hub"
)

// Options configure an Engine. Zero fields take defaults.
type Options struct {
	Store  reddot.Store
	Bus    reddot.Bus
	Policy reddot.Policy
	Logger *slog.Logger
	Now    func() time.Time

	QueueSize  int // live events buffered per connection before it is closed as slow (1024)
	ReplayPage int // events read from the store per catch-up step (256)
	HubShards  int // 64
}

// Engine ties store, bus and hub together.
type Engine struct {
	store  reddot.Store
	bus    reddot.Bus
	hub    *hub.Hub
	policy reddot.Policy
	log    *slog.Logger
	now    func() time.Time
	opts   Options

	mu       sync.Mutex
	sessions map[*Session]struct{}
	closed   bool
	inflight sync.WaitGroup

	conns sync.Map // transport name → *atomic.Int64

	localBus     bool      // the bus delivers to this node itself
	ownEphemeral recentIDs // ephemeral events delivered here before the bus echo
}

// New returns an Engine subscribed to opts.Bus.
func New(opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.ReplayPage <= 0 {
		opts.ReplayPage = 256
	}
	if opts.HubShards <= 0 {
		opts.HubShards = 64
	}
	e := &Engine{
		store: opts.Store, bus: opts.Bus, hub: hub.New(opts.HubShards), policy: opts.Policy,
		log: opts.Logger, now: opts.Now, opts: opts, sessions: make(map[*Session]struct{}),
	}
	e.localBus = busIsLocal(opts.Bus)
	e.bus.Subscribe(e.receive)
	return e
}

// Policy returns the topic access policy.
func (e *Engine) Policy() reddot.Policy { return e.policy }

// Store returns the underlying store.
func (e *Engine) Store() reddot.Store { return e.store }

func (e *Engine) receive(ev *reddot.Event) {
	if ev.Ephemeral() && !e.localBus && e.ownEphemeral.seen(ev.ID) {
		return // our own unread/reset event coming back from the bus
	}
	e.hub.Publish(ev)
}

// ErrShuttingDown is returned to publishers and subscribers during a drain.
var ErrShuttingDown = reddot.Errorf(reddot.EUNAVAILABLE, "server is shutting down; reconnect")

func (e *Engine) begin() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrShuttingDown
	}
	e.inflight.Add(1)
	return nil
}

// Publish stores msgs and fans the stored events out. It returns after the
// events are durable; a bus failure is logged, never reported, because
// subscribers catch up from the store.
func (e *Engine) Publish(ctx context.Context, msgs []reddot.Message) ([]reddot.Published, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.inflight.Done()
	res, err := e.store.Publish(ctx, msgs)
	if err != nil {
		return nil, err
	}
	var events []*reddot.Event
	for _, r := range res {
		events = append(events, r.Events...)
	}
	e.fanout(events)
	return res, nil
}

func (e *Engine) fanout(events []*reddot.Event) {
	if len(events) == 0 {
		return
	}
	if !e.localBus {
		for _, ev := range events {
			if ev.Ephemeral() {
				e.ownEphemeral.add(ev.ID)
			}
			e.hub.Publish(ev)
		}
	}
	// The bus must not be cancelled by the publisher's request going away.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.bus.Publish(ctx, events); err != nil {
		e.log.Warn("bus publish failed; subscribers will catch up from the store", "err", err, "events", len(events))
	}
}

// Unread returns the user's counts.
func (e *Engine) Unread(ctx context.Context, user string) (reddot.Counts, error) {
	return e.store.Unread(ctx, user)
}

// Inbox lists the user's notifications.
func (e *Engine) Inbox(ctx context.Context, user string, q reddot.InboxQuery) ([]reddot.Notification, string, error) {
	return e.store.Inbox(ctx, user, q)
}

// MarkRead marks notifications read and, when counts changed, sends an
// unread event to every connection of the user on every node.
func (e *Engine) MarkRead(ctx context.Context, user string, r reddot.ReadRequest) (reddot.Counts, error) {
	if err := e.begin(); err != nil {
		return reddot.Counts{}, err
	}
	defer e.inflight.Done()
	c, changed, err := e.store.MarkRead(ctx, user, r)
	if err != nil {
		return reddot.Counts{}, err
	}
	if changed {
		e.sendUnread(user, c)
	}
	return c, nil
}

// Delete removes a notification from the user's inbox and syncs counts.
func (e *Engine) Delete(ctx context.Context, user, id string) (reddot.Counts, error) {
	if err := e.begin(); err != nil {
		return reddot.Counts{}, err
	}
	defer e.inflight.Done()
	c, err := e.store.Delete(ctx, user, id)
	if err != nil {
		return reddot.Counts{}, err
	}
	e.sendUnread(user, c)
	return c, nil
}

func (e *Engine) sendUnread(user string, c reddot.Counts) {
	data, _ := json.Marshal(c.Normalize())
	now := e.now()
	e.fanout([]*reddot.Event{{
		ID: reddot.NewID(now), Topic: reddot.InboxTopic(user), Event: reddot.EventUnread, Data: data, Time: now,
	}})
}

// Ready reports whether store and bus are reachable.
func (e *Engine) Ready(ctx context.Context) error {
	if err := e.store.Ping(ctx); err != nil {
		return errors.Join(errors.New("store unreachable"), err)
	}
	if err := e.bus.Ping(ctx); err != nil {
		return errors.Join(errors.New("bus unreachable"), err)
	}
	return nil
}

// Resync makes every local session check the store for events it may have
// missed, e.g. after the bus reconnected.
func (e *Engine) Resync() {
	e.mu.Lock()
	list := make([]*Session, 0, len(e.sessions))
	for s := range e.sessions {
		list = append(list, s)
	}
	e.mu.Unlock()
	for _, s := range list {
		s.resync()
	}
}

// Stats is a snapshot of this node's activity.
type Stats struct {
	Connections map[string]int64 `json:"connections"`
	Topics      int              `json:"topics"`
	Published   uint64           `json:"published"`
	Deliveries  uint64           `json:"deliveries"`
}

// Stats returns connection counts per transport and hub counters.
func (e *Engine) Stats() Stats {
	hs := e.hub.Stats()
	st := Stats{Connections: map[string]int64{}, Topics: hs.Topics, Published: hs.Published, Deliveries: hs.Deliveries}
	e.conns.Range(func(k, v any) bool {
		st.Connections[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return st
}

func (e *Engine) connCounter(transport string) *atomic.Int64 {
	if v, ok := e.conns.Load(transport); ok {
		return v.(*atomic.Int64)
	}
	v, _ := e.conns.LoadOrStore(transport, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// Drain refuses new sessions and publishes, closes every session with a
// reconnect hint, and waits (until ctx is done) for in-flight publishes.
func (e *Engine) Drain(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	list := make([]*Session, 0, len(e.sessions))
	for s := range e.sessions {
		list = append(list, s)
	}
	e.mu.Unlock()
	for _, s := range list {
		s.close(ErrShuttingDown)
	}
	done := make(chan struct{})
	go func() { e.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
