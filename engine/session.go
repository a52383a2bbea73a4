package engine

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/reddot-dev/reddot"
)

// ErrSlowConsumer closes a connection whose queue overflowed; the client
// resumes from its last cursor.
var ErrSlowConsumer = reddot.Errorf("slow_consumer", "connection fell too far behind; reconnect with your last cursor")

// SubscribeRequest describes what a connection reads.
type SubscribeRequest struct {
	Topics     []string
	Since      string // opaque cursor; empty starts at the current head
	Inbox      bool   // include the user's inbox and broadcast (authenticated only)
	Transport  string // for stats: "sse", "ws", "poll", …
	AllowEmpty bool   // topics may be added later (WebSocket)
	// Trusted skips the read policy: for server-side bridges (MQTT) that
	// enforce access themselves. Never set it from client input.
	Trusted bool
}

// Out is one event ready to encode, with the subscription's cursor after
// it. Cursor is valid until the next Next or TryNext call on its session.
type Out struct {
	Event  *reddot.Event
	Cursor []byte
}

// AppendJSON appends the complete event JSON, cursor included.
func (o Out) AppendJSON(b []byte) []byte { return o.AppendJSONWith(b, "") }

// AppendJSONWith is AppendJSON with extra leading members, e.g. `"op":"event",`.
func (o Out) AppendJSONWith(b []byte, members string) []byte {
	enc := o.Event.Encoded()
	b = append(b, '{')
	b = append(b, members...)
	b = append(b, enc[1:]...)
	b = append(b, `,"cursor":"`...)
	b = append(b, o.Cursor...)
	return append(b, `"}`...)
}

// Session is one subscription: it joins the hub, catches up from the store
// by cursor, and yields each event exactly once, in seq order per topic.
// Next, TryNext, Subscribe and Unsubscribe may be called from different
// goroutines; Next and TryNext must not run concurrently with each other.
type Session struct {
	eng       *Engine
	principal *reddot.Principal
	user      string
	trusted   bool
	counter   *atomic.Int64

	mu        sync.Mutex
	queue     []*reddot.Event
	spare     []*reddot.Event
	cmds      []command
	err       error
	resyncReq bool
	joined    []string // topics registered with the hub
	wake      chan struct{}
	notify    atomic.Pointer[func()]

	// Owned by the consumer (Next/TryNext).
	pending []Out
	scratch []reddot.Position
	arena   []byte // cursors of the last step's Outs
	outs    []Out  // reused result slice
	pos     []*position
	page    int // events per catch-up step; 0 means Options.ReplayPage
}

// SetPage bounds the events one catch-up step reads from the store; polls
// use it to cap an answer. Call it from the consumer goroutine.
func (s *Session) SetPage(n int) { s.page = n }

type position struct {
	topic     string
	seq       uint64
	delivered bool
	fill      bool
}

type command struct {
	add    []string
	remove []string
	since  *reddot.Cursor
	reset  bool
	done   chan error // closed (after an optional error) once applied
}

// Subscribe opens a session. Errors: EINVALID (topic or cursor),
// EUNAUTHORIZED/EFORBIDDEN (access), EUNAVAILABLE (shutting down).
func (e *Engine) Subscribe(ctx context.Context, p *reddot.Principal, req SubscribeRequest) (*Session, error) {
	topics, err := e.readable(p, req.Topics, req.Trusted)
	if err != nil {
		return nil, err
	}
	if req.Inbox && !p.Anonymous() {
		topics = appendNew(topics, reddot.InboxTopic(p.User), reddot.BroadcastTopic)
	}
	if len(topics) == 0 && !req.AllowEmpty {
		if p.Anonymous() {
			return nil, reddot.Errorf(reddot.EINVALID, "no topics to read: give topics=a,b")
		}
		return nil, reddot.Errorf(reddot.EINVALID, "no topics to read: give topics=a,b or leave the inbox on")
	}
	cmd, err := e.positionCommand(p, topics, req.Since)
	if err != nil {
		return nil, err
	}
	s := &Session{eng: e, principal: p, user: p.User, trusted: req.Trusted, wake: make(chan struct{}, 1)}
	// Join the hub and fix positions before returning, so that "subscribed"
	// means every later publish is seen.
	out, err := s.apply(ctx, cmd)
	if err != nil {
		s.Close()
		return nil, err
	}
	for i := range out {
		out[i].Cursor = bytes.Clone(out[i].Cursor) // the arena is reused by the first step
	}
	s.pending = out
	s.counter = e.connCounter(req.Transport)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		s.Close()
		return nil, ErrShuttingDown
	}
	e.sessions[s] = struct{}{}
	s.counter.Add(1)
	e.mu.Unlock()
	return s, nil
}

func (e *Engine) readable(p *reddot.Principal, topics []string, trusted bool) ([]string, error) {
	out := make([]string, 0, len(topics)+2)
	for _, t := range topics {
		err := reddot.CheckTopic(t)
		if err == nil && !trusted {
			err = e.policy.CanRead(p, t)
		}
		if err != nil {
			return nil, err
		}
		out = appendNew(out, t)
	}
	return out, nil
}

func (e *Engine) positionCommand(p *reddot.Principal, topics []string, since string) (command, error) {
	cmd := command{add: topics}
	if since == "" {
		return cmd, nil
	}
	c, err := reddot.DecodeCursor(since, p.User)
	if err != nil {
		return command{}, err
	}
	if c.Epoch != e.store.Epoch() {
		cmd.reset = true
	}
	cmd.since = &c
	return cmd, nil
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// Subscribe adds topics to a running session, resuming from since when
// given. It returns once the consumer has joined the topics (or ctx ends),
// so later publishes are seen; the consumer must be running.
func (s *Session) Subscribe(ctx context.Context, topics []string, since string) error {
	topics, err := s.eng.readable(s.principal, topics, s.trusted)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return reddot.Errorf(reddot.EINVALID, "no topics given")
	}
	cmd, err := s.eng.positionCommand(s.principal, topics, since)
	if err != nil {
		return err
	}
	cmd.done = make(chan error, 1)
	s.enqueue(cmd)
	select {
	case err := <-cmd.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unsubscribe stops reading topics. The inbox and broadcast stay.
func (s *Session) Unsubscribe(topics []string) error {
	for _, t := range topics {
		if err := reddot.CheckTopic(t); err != nil {
			return err
		}
		if t == reddot.BroadcastTopic || t == reddot.InboxTopic(s.user) {
			return reddot.Errorf(reddot.EINVALID, "the inbox and broadcast cannot be unsubscribed")
		}
	}
	s.enqueue(command{remove: topics})
	return nil
}

func (s *Session) enqueue(c command) {
	s.mu.Lock()
	s.cmds = append(s.cmds, c)
	s.mu.Unlock()
	s.signal()
}

func (s *Session) signal() {
	if f := s.notify.Load(); f != nil {
		(*f)()
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// OnReady makes the session call f, instead of signalling Ready, whenever
// TryNext may have something new (an event, a command, the end). f must not
// block; a transport uses it to run a writer only while there is work, so
// an idle connection needs no goroutine. f is also called once right away.
func (s *Session) OnReady(f func()) {
	s.notify.Store(&f)
	f()
}

// Deliver queues a live event; it implements hub.Subscriber and never blocks.
func (s *Session) Deliver(ev *reddot.Event) {
	s.mu.Lock()
	if s.err == nil {
		if len(s.queue) >= s.eng.opts.QueueSize {
			s.err = ErrSlowConsumer
			s.queue = nil
		} else {
			s.queue = append(s.queue, ev)
		}
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Session) resync() {
	s.mu.Lock()
	s.resyncReq = true
	s.mu.Unlock()
	s.signal()
}

func (s *Session) close(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.signal()
}

// Err returns why the session ended, or nil while it runs.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// User returns the subscriber's user id ("" when anonymous).
func (s *Session) User() string { return s.user }

// Principal returns the subscriber's identity.
func (s *Session) Principal() *reddot.Principal { return s.principal }

// Close leaves the hub and frees the session. It is safe to call twice.
func (s *Session) Close() {
	s.mu.Lock()
	if s.err == nil {
		s.err = errClosed
	}
	joined := s.joined
	s.joined = nil
	s.queue = nil
	s.mu.Unlock()
	for _, t := range joined {
		s.eng.hub.Unsubscribe(t, s)
	}
	s.eng.mu.Lock()
	_, ok := s.eng.sessions[s]
	delete(s.eng.sessions, s)
	s.eng.mu.Unlock()
	if ok {
		s.counter.Add(-1)
	}
}

var errClosed = errors.New("session closed")

// Next blocks until events are ready, ctx is done or the session ends.
func (s *Session) Next(ctx context.Context) ([]Out, error) {
	for {
		out, err := s.step(ctx)
		if err != nil || len(out) > 0 {
			return out, err
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// TryNext returns the events ready now (possibly none) without waiting for
// live ones. Call it until it returns none to drain a backlog.
func (s *Session) TryNext(ctx context.Context) ([]Out, error) {
	return s.step(ctx)
}

// Ready receives a signal whenever TryNext may have something new. A
// transport with its own timers selects on it instead of calling Next.
func (s *Session) Ready() <-chan struct{} { return s.wake }
