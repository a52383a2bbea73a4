package bench

import (
	"context"
	"errors"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"
)

// sub is one subscriber. Its fields belong to the goroutine running its
// connection, one at a time; the runner reads them only after all
// subscribers have stopped.
type sub struct {
	r     *runner
	i     int
	user  string
	token string
	hist  *Histogram // shard of the latency histogram

	ok     bool   // connected at least once
	cursor []byte // last cursor seen: the resume point after a drop
	seen   []uint64
	got    int64
	pend   []pendingMark
	now    int64 // receipt time of the unit being scanned
	defer_ bool  // hold marks until the cursor after them

	buf []byte // read buffer, reused across reads and reconnects
}

type pendingMark struct{ t, n int64 }

var _ unitVisitor = (*sub)(nil)

// consume scans one delivered unit received at now.
func (s *sub) consume(b []byte, now time.Time) {
	s.now = now.UnixNano()
	if scanUnit(b, s) {
		s.r.resets.Add(1)
	}
}

func (s *sub) onMark(t, n int64) {
	if s.defer_ {
		s.pend = append(s.pend, pendingMark{t, n})
		return
	}
	s.deliver(t, n)
}

func (s *sub) onCursor(c []byte) {
	s.setCursor(c)
	for _, p := range s.pend {
		s.deliver(p.t, p.n)
	}
	s.pend = s.pend[:0]
}

func (s *sub) setCursor(c []byte) { s.cursor = append(s.cursor[:0], c...) }

// deliver counts event n, published at unix nanos t, once per subscriber.
func (s *sub) deliver(t, n int64) {
	r := s.r
	if n < 0 || n >= int64(r.cfg.Events) {
		r.unexpected.Add(1)
		return
	}
	if s.seen == nil {
		s.seen = make([]uint64, (r.cfg.Events+63)/64)
	}
	w, bit := n/64, uint64(1)<<(n%64)
	if s.seen[w]&bit != 0 {
		r.duplicates.Add(1)
		return
	}
	s.seen[w] |= bit
	s.got++
	r.delivered.Add(1)
	s.hist.Record(time.Duration(s.now - t))
	r.lastDelivery.Store(s.now)
}

// dropPending forgets marks whose cursor never arrived: the connection
// ended mid-event, and resuming from the previous cursor repeats them.
func (s *sub) dropPending() { s.pend = s.pend[:0] }

// transport opens subscriber connections of one kind.
type transport interface {
	// session runs one connection of s: it connects and subscribes,
	// resuming after s.cursor when set, calls ready once subscribed, then
	// delivers until the connection ends (the error says why) or ctx is done.
	session(ctx context.Context, s *sub, ready func()) error
}

// runSub connects s and keeps it connected until ctx is done. first is
// called once, when the first attempt has succeeded or failed.
func (r *runner) runSub(ctx context.Context, s *sub, first func()) {
	start := time.Now()
	attempts := 0
	ready := func() {
		attempts = 0
		if s.ok {
			return
		}
		s.ok = true
		r.connHist.Record(time.Since(start))
		r.connected.Add(1)
		first()
	}
	for {
		err := r.tr.session(ctx, s, ready)
		s.dropPending()
		if ctx.Err() != nil {
			if !s.ok {
				first()
			}
			return
		}
		r.errs.add(err)
		if !s.ok {
			r.failed.Add(1)
			first()
			return
		}
		if attempts >= r.cfg.Reconnects {
			r.dropped.Add(1)
			return
		}
		attempts++
		r.reconnects.Add(1)
		// The first retry is immediate (an iframe recycling its frame, a
		// server restart); later ones back off from 100 ms to 3.2 s.
		if attempts > 1 && !sleepCtx(ctx, time.Duration(50<<min(attempts-1, 6))*time.Millisecond) {
			return
		}
	}
}

// errorCounts groups errors by a message without addresses or ports.
type errorCounts struct {
	mu sync.Mutex
	m  map[string]int64
}

const maxErrorKinds = 20

func (e *errorCounts) add(err error) {
	if err == nil {
		err = errors.New("connection closed")
	}
	key := errorKey(err)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	if _, ok := e.m[key]; !ok && len(e.m) >= maxErrorKinds {
		key = "other"
	}
	e.m[key]++
}

func (e *errorCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// top returns the most frequent error kinds, for the progress line.
func (e *errorCounts) top() string {
	m := e.snapshot()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	if len(keys) == 0 {
		return ""
	}
	return strconv.FormatInt(m[keys[0]], 10) + "× " + keys[0]
}

func errorKey(err error) string {
	var op *net.OpError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by server"
	case errors.As(err, &op) && op.Err != nil:
		msg := op.Err.Error()
		if op.Timeout() {
			msg = "timeout"
		}
		return op.Op + ": " + msg
	}
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	return msg
}
