package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const histShards = 16

// runner is the state of one Run.
type runner struct {
	cfg   Config
	base  *url.URL
	srcs  []net.IP
	tr    transport
	rx    *reactors // shared stream readers, closed at the end
	subs  []*sub
	start time.Time

	hist     [histShards]Histogram
	connHist Histogram
	errs     errorCounts

	phase        atomic.Value // string
	connected    atomic.Int64
	failed       atomic.Int64
	dropped      atomic.Int64
	reconnects   atomic.Int64
	delivered    atomic.Int64
	duplicates   atomic.Int64
	unexpected   atomic.Int64
	resets       atomic.Int64
	expected     atomic.Int64
	published    atomic.Int64
	pubErrors    atomic.Int64
	lastDelivery atomic.Int64 // unix nanos
	lastConnect  atomic.Int64 // unix nanos
}

// Run performs one benchmark: prepare credentials, connect, settle,
// publish, wait for deliveries, disconnect. It returns an error only when
// the run could not start; what went wrong during the run is in the
// Summary. Run stops by itself after cfg.Duration at the latest.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, start: time.Now()}
	r.base, _ = url.Parse(cfg.URL)
	var err error
	if r.srcs, err = sourceIPs(r.base.Hostname(), cfg.Subscribers, cfg.SourceIPs); err != nil {
		return nil, err
	}
	if err := checkFileLimit(cfg.Subscribers); err != nil {
		return nil, err
	}
	if r.tr, err = r.newTransport(); err != nil {
		return nil, err
	}
	defer r.rx.close() // after every subscriber has stopped
	r.phase.Store("prepare")
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	sum := &Summary{Transport: cfg.Transport, Mode: cfg.Mode, URL: cfg.URL, Subscribers: cfg.Subscribers,
		Events: cfg.Events, Rate: cfg.Rate, Ramp: cfg.Ramp, SourceIPs: len(r.srcs)}
	var srv *serverStats
	if cfg.ServerPID > 0 {
		srv = &serverStats{PID: cfg.ServerPID}
		sum.Server = srv
	}
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}

	stopProgress := r.startProgress()
	defer stopProgress()

	before := r.sample(srv)
	if srv != nil {
		srv.RSSBeforeKiB = before.RSSKiB
	}

	subCtx, stopSubs := context.WithCancel(ctx)
	var subsDone sync.WaitGroup
	connectStart := time.Now()
	r.connect(ctx, subCtx, &subsDone)
	connectEnd := time.Now()
	if last := r.lastConnect.Load(); last > 0 {
		connectEnd = time.Unix(0, last)
	}
	sum.ConnectTotalMS = ms(connectEnd.Sub(connectStart))
	sleepCtx(ctx, cfg.Settle)
	connected := r.sample(srv)
	if srv != nil {
		srv.RSSConnectedKiB = connected.RSSKiB
		srv.CPUConnectS = round2((connected.CPU - before.CPU).Seconds())
		if n := r.connected.Load(); n > 0 {
			srv.RSSPerConnKiB = round2(float64(connected.RSSKiB-before.RSSKiB) / float64(n))
		}
	}

	selfConnected, _ := ReadProc(os.Getpid())
	pubStart := time.Now()
	if cfg.Events > 0 && r.connected.Load() > 0 && ctx.Err() == nil {
		r.phase.Store("publish")
		p := newPublisher(r)
		p.run(ctx)
		r.phase.Store("wait")
		r.waitDeliveries(ctx)
		p.close()
	}
	pubEnd := time.Now()
	end := r.sample(srv)
	if self, err := ReadProc(os.Getpid()); err == nil && selfConnected.RSSKiB > 0 {
		sum.Bench.CPUPublishS = round2((self.CPU - selfConnected.CPU).Seconds())
		if wall := pubEnd.Sub(pubStart); wall > 0 && cfg.Events > 0 {
			sum.Bench.CPUBusy = round2(float64(self.CPU-selfConnected.CPU) / float64(wall))
		}
		if d := r.delivered.Load(); d > 0 {
			sum.Bench.CPUPerDeliveryUS = round2(float64(self.CPU-selfConnected.CPU) / float64(time.Microsecond) / float64(d))
		}
	}
	if srv != nil {
		srv.RSSEndKiB = end.RSSKiB
		srv.CPUPublishS = round2((end.CPU - connected.CPU).Seconds())
		if d := r.delivered.Load(); d > 0 {
			srv.CPUPerDeliveryUS = round2(float64(end.CPU-connected.CPU) / float64(time.Microsecond) / float64(d))
		}
	}
	sum.TimedOut = ctx.Err() != nil
	r.phase.Store("close")
	stopSubs()
	subsDone.Wait()
	stopProgress()
	r.summarize(sum, pubStart, pubEnd)
	return sum, nil
}

// prepare fetches every subscriber's credentials before any connection
// opens, so connect times measure connecting only.
func (r *runner) prepare(ctx context.Context) error {
	r.subs = make([]*sub, r.cfg.Subscribers)
	for i := range r.subs {
		r.subs[i] = &sub{r: r, i: i, hist: &r.hist[i%histShards], defer_: r.cfg.Transport != "mqtt"}
	}
	if r.cfg.Credentials == nil {
		return nil
	}
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		once  sync.Once
		first error
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(r.subs) || ctx.Err() != nil {
					return
				}
				u, tok, err := r.cfg.Credentials(ctx, i)
				if err != nil {
					once.Do(func() { first = fmt.Errorf("credentials of subscriber %d: %w", i, err) })
					return
				}
				r.subs[i].user, r.subs[i].token = u, tok
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// connect opens every subscriber at the ramp rate and returns when each
// has connected or failed once (or ctx ends).
func (r *runner) connect(ctx, subCtx context.Context, done *sync.WaitGroup) {
	r.phase.Store("connect")
	var firsts sync.WaitGroup
	firsts.Add(len(r.subs))
	start := time.Now()
	for i, s := range r.subs {
		if r.cfg.Ramp > 0 {
			due := start.Add(time.Duration(float64(i) / r.cfg.Ramp * float64(time.Second)))
			if !sleepCtx(ctx, time.Until(due)) {
				firsts.Add(i - len(r.subs)) // never started
				break
			}
		}
		done.Add(1)
		go func() {
			defer done.Done()
			var once sync.Once
			r.runSub(subCtx, s, func() {
				once.Do(func() {
					if s.ok {
						r.lastConnect.Store(time.Now().UnixNano())
					}
					firsts.Done()
				})
			})
		}()
	}
	waitCtx(ctx, &firsts)
}

// waitDeliveries returns when every expected delivery arrived, cfg.Wait
// after publishing ended, or when ctx ends.
func (r *runner) waitDeliveries(ctx context.Context) {
	deadline := time.NewTimer(r.cfg.Wait)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for r.delivered.Load() < r.expected.Load() {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

func (r *runner) sample(srv *serverStats) ProcSample {
	if srv == nil {
		return ProcSample{}
	}
	s, err := ReadProc(srv.PID)
	if err != nil {
		srv.Error = err.Error()
	}
	return s
}

func (r *runner) newTransport() (transport, error) {
	d := &dialer{base: r.base, srcs: r.srcs, timeout: r.cfg.ConnectTimeout}
	d.hostport = r.base.Host
	if r.base.Port() == "" {
		port := "80"
		if r.base.Scheme == "https" {
			port = "443"
		}
		d.hostport = net.JoinHostPort(r.base.Hostname(), port)
	}
	if len(r.srcs) > 0 && r.base.Hostname() == "localhost" {
		d.hostport = net.JoinHostPort("127.0.0.1", portOf(d.hostport))
	}
	if r.base.Scheme == "https" {
		d.tls = &tls.Config{ServerName: r.base.Hostname()}
	}
	if d.tls == nil && !r.cfg.GoroutineReaders && (r.cfg.Transport == "ws" || r.cfg.Transport == "sse" || r.cfg.Transport == "iframe") {
		d.rx = newReactors()
		r.rx = d.rx
	}
	switch r.cfg.Transport {
	case "ws":
		return &wsTransport{d: d}, nil
	case "sse":
		return &streamTransport{d: d, path: "/v1/sse", accept: "text/event-stream"}, nil
	case "iframe":
		return &streamTransport{d: d, path: "/v1/iframe", accept: "text/html", origin: r.cfg.Origin}, nil
	case "poll", "longpoll":
		return &pollTransport{d: d, long: r.cfg.Transport == "longpoll"}, nil
	case "mqtt":
		return newMQTTTransport(r)
	}
	return nil, fmt.Errorf("transport %q not supported", r.cfg.Transport)
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

// checkFileLimit fails early when the process may not open n sockets.
func checkFileLimit(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil
	}
	if need := uint64(n) + 64; lim.Cur < need {
		return fmt.Errorf("%d subscribers need about %d open files, the limit is %d (ulimit -n); run several bench processes or lower --subscribers", n, need, lim.Cur)
	}
	return nil
}

// sleepCtx sleeps d and reports whether ctx is still alive.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func waitCtx(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
