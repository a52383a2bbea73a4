package httpapi

import (
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/reddot-dev/reddot/internal/uring"
)

// A batcher writes many pumps' pending bytes with one io_uring submission
// instead of one write(2) per connection. A broadcast to 10,000 streams
// then costs ~40 system calls instead of 10,000, and no goroutine is
// started per connection. Sends never wait: whatever a full socket buffer
// leaves unwritten goes to the pump's own goroutine, which writes it the
// ordinary way with a deadline.
type batcher struct {
	ring   *uring.Ring
	failed atomic.Bool // the ring broke; pumps write directly

	mu      sync.Mutex
	queue   []*pump
	running bool

	// owned by the running loop
	work     []*pump
	inflight []batched
	slab     []byte
}

type batched struct {
	p     *pump
	final bool
}

const (
	ringEntries = 256
	slabSize    = 64 << 10 // flush once this much is queued
	slabKeep    = 1 << 20  // drop a slab that grew past this
)

var batchers struct {
	once sync.Once
	list []*batcher
	next atomic.Uint32
}

// pickBatcher returns a batcher for a new pump, or nil where io_uring is
// unavailable. There is one per GOMAXPROCS, so writing scales with cores.
func pickBatcher(log *slog.Logger) *batcher {
	batchers.once.Do(func() {
		for range runtime.GOMAXPROCS(0) {
			r, err := uring.New(ringEntries)
			if err != nil {
				log.Info("io_uring unavailable; streams write with one system call per connection", "err", err)
				for _, b := range batchers.list {
					_ = b.ring.Close()
				}
				batchers.list = nil
				return
			}
			batchers.list = append(batchers.list, &batcher{ring: r, slab: make([]byte, 0, slabSize)})
		}
	})
	if len(batchers.list) == 0 {
		return nil
	}
	return batchers.list[int(batchers.next.Add(1))%len(batchers.list)]
}

// socketFD returns conn's descriptor when writes may go around it.
func socketFD(conn net.Conn) (int32, bool) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := int32(-1)
	if rc.Control(func(u uintptr) { fd = int32(u) }) != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}

// enqueue schedules a write pass of p, which the caller has marked running.
func (b *batcher) enqueue(p *pump) {
	b.mu.Lock()
	b.queue = append(b.queue, p)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		go b.loop()
	}
}

func (b *batcher) loop() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.work, b.queue = b.queue, b.work[:0]
		b.mu.Unlock()
		for _, p := range b.work {
			b.add(p)
			if b.ring.Len() == b.ring.Size() || len(b.slab) >= slabSize {
				b.flush()
			}
		}
		b.flush()
		clear(b.work)
	}
}

// add fills p's next pass into the slab and queues its send.
func (b *batcher) add(p *pump) {
	if !p.writeMu.TryLock() {
		// Another write (a pong, a reply) is in progress: do this pass
		// the ordinary way rather than wait.
		go p.run(nil, false)
		return
	}
	if !p.holdFD() {
		p.writeMu.Unlock()
		return // ending
	}
	start := len(b.slab)
	out, final := p.fill(b.slab)
	b.slab = out
	if len(out) == start {
		p.releaseFD()
		p.writeMu.Unlock()
		if final {
			p.end()
		} else {
			p.settle()
		}
		return
	}
	b.ring.Send(p.fd, out[start:len(out):len(out)])
	b.inflight = append(b.inflight, batched{p, final})
}

// flush submits the queued sends and settles each pump by its result.
func (b *batcher) flush() {
	sends, err := b.ring.Flush()
	now := time.Now().UnixNano()
	for i, s := range sends {
		it := b.inflight[i]
		p := it.p
		switch {
		case s.Res == int32(len(s.Buf)):
			p.lastWrite.Store(now)
			p.releaseFD()
			p.writeMu.Unlock()
			if it.final {
				p.end()
			} else if p.again.Load() || p.more {
				p.schedule()
			} else {
				p.settle()
			}
		case s.Res >= 0 || s.Res == -int32(syscall.EAGAIN) || s.Res == uring.NotSubmitted:
			// The socket buffer is full (or the ring did not take the
			// send): the pump's goroutine writes the rest, still holding
			// writeMu so nothing interleaves.
			rest := append([]byte(nil), s.Buf[max(s.Res, 0):]...)
			p.releaseFD()
			go p.run(rest, it.final)
		default:
			// The peer is gone (EPIPE, ECONNRESET), or the submission
			// failed and it is unknown what was written: end the
			// connection; the client resumes from its cursor.
			p.releaseFD()
			p.writeMu.Unlock()
			p.end()
		}
	}
	if err != nil {
		slog.Default().Warn("io_uring submission failed", "err", err, "ring_broken", b.ring.Broken() != nil)
		if b.ring.Broken() != nil {
			b.failed.Store(true) // its pumps write on their own from now on
		}
	}
	clear(b.inflight)
	b.inflight = b.inflight[:0]
	if cap(b.slab) > slabKeep {
		b.slab = make([]byte, 0, slabSize)
	} else {
		b.slab = b.slab[:0]
	}
}

// batcher returns the batcher for a new stream, or nil to write directly.
func (s *Server) batcher() *batcher {
	if s.o.NoIOUring {
		return nil
	}
	return pickBatcher(s.log)
}
