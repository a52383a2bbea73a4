package bustest

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy on 127.0.0.1 between clients and a server. A test
// cuts it (connections closed, new ones refused) or freezes it (bytes held,
// new connections left hanging, as in a network partition) to make the
// server unreachable, then restores it.
type Proxy struct {
	ln     net.Listener
	target string
	done   chan struct{}

	mu     sync.Mutex
	cut    bool
	thaw   chan struct{} // non-nil while frozen; closed by Restore
	conns  map[net.Conn]chan struct{}
	wg     sync.WaitGroup
	closed sync.Once
}

// NewProxy listens on a free loopback port and forwards every connection to
// target (host:port). It closes when tb ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, done: make(chan struct{}), conns: map[net.Conn]chan struct{}{}}
	p.wg.Go(p.acceptLoop)
	tb.Cleanup(p.Close)
	return p
}

// Addr is the host:port clients dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every proxied connection and refuses new ones (they are
// accepted and closed at once) until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Freeze stops forwarding without closing anything: bytes are held and new
// connections hang until Restore.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.thaw == nil {
		p.thaw = make(chan struct{})
	}
}

// Restore forwards again, held bytes first.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	if p.thaw != nil {
		close(p.thaw)
		p.thaw = nil
	}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.closed.Do(func() {
		close(p.done)
		_ = p.ln.Close()
		p.Cut()
		p.wg.Wait()
	})
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

// track registers c unless the proxy is cut, and returns the channel that
// untrack closes; nil when refused.
func (p *Proxy) track(c net.Conn) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return nil
	}
	gone := make(chan struct{})
	p.conns[c] = gone
	return gone
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	if gone, ok := p.conns[c]; ok {
		close(gone)
		delete(p.conns, c)
	}
	p.mu.Unlock()
	_ = c.Close()
}

// wait blocks while the proxy is frozen; it returns false when gone is
// closed or the proxy stops first.
func (p *Proxy) wait(gone chan struct{}) bool {
	p.mu.Lock()
	thaw := p.thaw
	p.mu.Unlock()
	if thaw == nil {
		return true
	}
	select {
	case <-thaw:
		return true
	case <-gone:
	case <-p.done:
	}
	return false
}

func (p *Proxy) serve(c net.Conn) {
	gone := p.track(c)
	if gone == nil {
		_ = c.Close()
		return
	}
	defer p.untrack(c)
	if !p.wait(gone) {
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	upGone := p.track(up)
	if upGone == nil {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	ended := make(chan struct{}, 2)
	p.wg.Go(func() { p.pipe(up, c, gone); ended <- struct{}{} })
	p.wg.Go(func() { p.pipe(c, up, upGone); ended <- struct{}{} })
	<-ended // either side ending ends both
}

// pipe copies src to dst, holding each chunk while the proxy is frozen.
func (p *Proxy) pipe(dst, src net.Conn, gone chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(gone) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
