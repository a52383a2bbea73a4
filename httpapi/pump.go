package httpapi

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/engine"
)

// pump writes a session to a hijacked connection. A goroutine runs only
// while there is something to write, so an idle connection costs its
// session, its socket and a few words here; heartbeats come from a shared
// wheel instead of a timer per connection.
type pump struct {
	conn    net.Conn
	sess    *engine.Session
	enc     encoder
	wheel   *wheel
	timeout time.Duration // per write

	running   atomic.Bool
	again     atomic.Bool
	hb        atomic.Bool // a heartbeat is due
	expired   atomic.Bool // the credential expired
	lastWrite atomic.Int64
	// alwaysPing sends the heartbeat even while events flow (WebSocket
	// pings double as liveness probes).
	alwaysPing  bool
	writeMu     sync.Mutex
	deadlineSet int64 // unix nanos of the last SetWriteDeadline, under writeMu
	// idle, when set, is asked on every wheel tick whether the peer is
	// still alive (WebSocket pongs); false ends the pump.
	idle func(now time.Time) bool

	// more says the last fill left work in the session that no kick will
	// announce (a catch-up page); owned by the running pass. It is read
	// while the session is still in cache rather than after the sends.
	more bool

	// pace, when set, holds each pass for the server's write delay.
	pace *pacer

	// bat, when set, writes this pump's passes through io_uring (see
	// batch.go); fd is the socket it sends to. fdMu guards the socket's
	// life against end(): while a batched send is in flight (fdBusy) the
	// close is left to releaseFD, so the descriptor cannot be reused under
	// the ring.
	bat    *batcher
	fd     int32
	fdMu   sync.Mutex
	fdBusy bool
	closed bool

	endOnce sync.Once
	expiry  *time.Timer
	done    chan struct{}
	onEnd   func()
}

var pumpBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// start registers the pump and writes what is already pending; with bat
// its passes go through that batcher when the connection is a plain TCP
// socket.
func (p *pump) start(expires time.Time, bat *batcher) {
	if bat != nil {
		if fd, ok := socketFD(p.conn); ok {
			p.bat, p.fd = bat, fd
		}
	}
	p.done = make(chan struct{})
	p.lastWrite.Store(time.Now().UnixNano())
	if !expires.IsZero() {
		p.expiry = time.AfterFunc(time.Until(expires), func() { p.expired.Store(true); p.kick() })
	}
	p.wheel.add(p)
	p.sess.OnReady(p.kick)
}

// kick schedules a write pass; it never blocks.
func (p *pump) kick() {
	p.again.Store(true)
	if p.running.CompareAndSwap(false, true) {
		p.schedule()
	}
}

// schedule starts a pass of a pump marked running, after the write delay
// when there is one.
func (p *pump) schedule() {
	if p.pace != nil {
		p.pace.hold(p)
		return
	}
	p.dispatch()
}

// dispatch starts a pass now: batched, or on the pump's own goroutine.
func (p *pump) dispatch() {
	if p.bat != nil && !p.bat.failed.Load() {
		p.bat.enqueue(p)
	} else {
		go p.run(nil, false)
	}
}

// fill appends one pass's bytes to b: the events now pending and a due
// heartbeat, or a closing frame, in which case end reports that the pump
// ends once they are written.
func (p *pump) fill(b []byte) (out []byte, end bool) {
	p.again.Store(false)
	if p.expired.Load() {
		return p.enc.closing(b, errTokenExpired), true
	}
	// Store reads here (catch-up pages, counts) are bounded by the store
	// itself; a context per pass would cost a timer per event.
	outs, err := p.sess.TryNext(context.Background())
	if err != nil {
		return p.enc.closing(b, err), true
	}
	p.more = p.sess.More()
	for _, o := range outs {
		b = p.enc.event(b, o)
	}
	if p.hb.Swap(false) && (len(outs) == 0 || p.alwaysPing) {
		b = p.enc.heartbeat(b)
	}
	return b, false
}

// run writes passes until nothing is pending. rest, when not nil, is what
// a batched send left unwritten; the batcher handed over writeMu with it,
// and final says the pump ends after it.
func (p *pump) run(rest []byte, final bool) {
	if rest != nil {
		ok := p.writeLocked(rest)
		p.writeMu.Unlock()
		if !ok || final {
			p.end()
			return
		}
	}
	bp := pumpBufs.Get().(*[]byte)
	defer pumpBufs.Put(bp)
	for pass := 0; ; pass++ {
		if pass > 0 && p.pace != nil {
			p.pace.hold(p) // every further pass waits for the write delay too
			return
		}
		b, final := p.fill((*bp)[:0])
		*bp = b
		if final {
			p.write(b)
			p.end()
			return
		}
		if len(b) > 0 {
			if !p.write(b) {
				p.end()
				return
			}
			if p.again.Load() || p.more {
				continue
			}
		}
		p.running.Store(false)
		if !p.again.Load() || !p.running.CompareAndSwap(false, true) {
			return
		}
	}
}

// settle ends a batched pass with nothing more to write; a kick that came
// meanwhile schedules the next one.
func (p *pump) settle() {
	p.running.Store(false)
	if p.again.Load() && p.running.CompareAndSwap(false, true) {
		p.schedule()
	}
}

// holdFD marks a batched send in flight; false means the pump is ending.
func (p *pump) holdFD() bool {
	p.fdMu.Lock()
	defer p.fdMu.Unlock()
	if p.closed {
		return false
	}
	p.fdBusy = true
	return true
}

// releaseFD ends a batched send and closes the socket if end() came
// meanwhile.
func (p *pump) releaseFD() {
	p.fdMu.Lock()
	p.fdBusy = false
	closeNow := p.closed
	p.fdMu.Unlock()
	if closeNow {
		_ = p.conn.Close()
	}
}

var errTokenExpired = reddot.Errorf(reddot.EUNAUTHORIZED, "token expired; reconnect with a fresh token")

// write sends b. The write deadline is renewed only when half of it has
// passed, so most writes cost no timer update: a stuck peer is cut off
// between timeout/2 and timeout after its last successful write.
func (p *pump) write(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	return p.writeLocked(b)
}

// writeLocked is write for a caller holding writeMu.
func (p *pump) writeLocked(b []byte) bool {
	now := time.Now()
	if now.UnixNano()-p.deadlineSet > int64(p.timeout/2) {
		_ = p.conn.SetWriteDeadline(now.Add(p.timeout))
		p.deadlineSet = now.UnixNano()
	}
	_, err := p.conn.Write(b)
	p.lastWrite.Store(now.UnixNano())
	return err == nil
}

// end closes the connection and the session once.
func (p *pump) end() {
	p.endOnce.Do(func() {
		p.wheel.remove(p)
		if p.expiry != nil {
			p.expiry.Stop()
		}
		p.fdMu.Lock()
		p.closed = true
		busy := p.fdBusy
		p.fdMu.Unlock()
		if !busy {
			_ = p.conn.Close()
		}
		p.sess.Close()
		if p.onEnd != nil {
			p.onEnd()
		}
		close(p.done)
	})
}

// tick is called by the wheel about once per heartbeat interval.
func (p *pump) tick(now time.Time, interval time.Duration) {
	if p.idle != nil && !p.idle(now) {
		p.end()
		return
	}
	if p.alwaysPing || now.UnixNano()-p.lastWrite.Load() >= int64(interval)*9/10 {
		p.hb.Store(true)
		p.kick()
	}
}

// wheel ticks every registered pump once per interval, a slice of them at
// a time so heartbeats are spread out. Its goroutine runs only while pumps
// are registered.
type wheel struct {
	interval time.Duration
	mu       sync.Mutex
	slots    [wheelSlots]map[*pump]struct{}
	next     int
	count    int
	running  bool
}

const wheelSlots = 16

func newWheel(interval time.Duration) *wheel {
	w := &wheel{interval: interval}
	for i := range w.slots {
		w.slots[i] = map[*pump]struct{}{}
	}
	return w
}

func (w *wheel) add(p *pump) {
	w.mu.Lock()
	w.slots[w.next][p] = struct{}{}
	w.next = (w.next + 1) % wheelSlots
	w.count++
	if !w.running {
		w.running = true
		go w.loop()
	}
	w.mu.Unlock()
}

func (w *wheel) remove(p *pump) {
	w.mu.Lock()
	for i := range w.slots {
		if _, ok := w.slots[i][p]; ok {
			delete(w.slots[i], p)
			w.count--
			break
		}
	}
	w.mu.Unlock()
}

func (w *wheel) loop() {
	t := time.NewTicker(w.interval / wheelSlots)
	defer t.Stop()
	slot := 0
	var batch []*pump
	for now := range t.C {
		w.mu.Lock()
		if w.count == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch = batch[:0]
		for p := range w.slots[slot] {
			batch = append(batch, p)
		}
		w.mu.Unlock()
		for _, p := range batch {
			p.tick(now, w.interval)
		}
		slot = (slot + 1) % wheelSlots
	}
}
