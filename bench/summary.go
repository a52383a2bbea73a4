package bench

import (
	"fmt"
	"math"
	"os"
	"sync"
	"time"
)

// Summary is the result of one Run, printed as one JSON line. Times are
// milliseconds, CPU seconds or microseconds, memory KiB.
type Summary struct {
	Transport   string  `json:"transport"`
	Mode        string  `json:"mode"`
	URL         string  `json:"url"`
	Subscribers int     `json:"subscribers"`
	Events      int     `json:"events"`
	Rate        float64 `json:"rate"`
	Ramp        float64 `json:"ramp"`
	SourceIPs   int     `json:"source_ips"`

	// Connect phase: subscribers connected and failed on their first
	// attempt; connect_total_ms from the first dial to the last subscribed;
	// per-connection quantiles from dial to subscribed.
	Connected      int64   `json:"connected"`
	Failed         int64   `json:"failed"`
	ConnectTotalMS float64 `json:"connect_total_ms"`
	ConnectP50MS   float64 `json:"connect_p50_ms"`
	ConnectP99MS   float64 `json:"connect_p99_ms"`
	ConnectMaxMS   float64 `json:"connect_max_ms"`

	// Delivery: expected is connected subscribers × events whose publish
	// succeeded; delivered counts each (subscriber, event) once; duplicates
	// are further copies; missing = expected − delivered.
	Published     int64 `json:"published"`
	PublishErrors int64 `json:"publish_errors"`
	Expected      int64 `json:"expected"`
	Delivered     int64 `json:"delivered"`
	Duplicates    int64 `json:"duplicates"`
	Missing       int64 `json:"missing"`
	Unexpected    int64 `json:"unexpected,omitempty"` // marks of events this run did not publish
	Resets        int64 `json:"resets"`               // reset events or 410s: history was gone on resume
	Reconnects    int64 `json:"reconnects"`           // drops after which a subscriber resumed
	Dropped       int64 `json:"dropped"`              // subscribers that gave up reconnecting

	// Latency from publish request sent to event received.
	Latency Latency `json:"latency_ms"`
	// PublishS runs from the first publish to the last delivery;
	// deliveries_per_s is delivered / publish_s.
	PublishS       float64          `json:"publish_s"`
	DeliveriesPerS float64          `json:"deliveries_per_s"`
	PublishedPerS  float64          `json:"published_per_s"`
	TimedOut       bool             `json:"timed_out,omitempty"`
	Server         *serverStats     `json:"server,omitempty"`
	Bench          benchStats       `json:"bench"`
	Errors         map[string]int64 `json:"errors,omitempty"`
	OK             bool             `json:"ok"`
}

// Latency quantiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// serverStats are read from /proc/PID of the server. RSS per connection is
// (RSS after connecting and settling − RSS before) / connected; CPU per
// delivery is utime+stime over the publish phase / delivered.
type serverStats struct {
	PID              int     `json:"pid"`
	RSSBeforeKiB     int64   `json:"rss_before_kib"`
	RSSConnectedKiB  int64   `json:"rss_connected_kib"`
	RSSEndKiB        int64   `json:"rss_end_kib"`
	RSSPerConnKiB    float64 `json:"rss_per_conn_kib"`
	CPUConnectS      float64 `json:"cpu_connect_s"`
	CPUPublishS      float64 `json:"cpu_publish_s"`
	CPUPerDeliveryUS float64 `json:"cpu_per_delivery_us"`
	Error            string  `json:"error,omitempty"`
}

// benchStats are the load tool's own costs, to tell when it, not the
// server, was the bottleneck: cpu_busy is the cores it kept busy over the
// publish phase; near the cores it may use, latency includes its own
// queueing.
type benchStats struct {
	CPUS             float64 `json:"cpu_s"`
	CPUPublishS      float64 `json:"cpu_publish_s"`
	CPUPerDeliveryUS float64 `json:"cpu_per_delivery_us"`
	CPUBusy          float64 `json:"cpu_busy"`
	RSSKiB           int64   `json:"rss_kib"`
	WallS            float64 `json:"wall_s"`
}

// Problems lists why the run is not clean: failed connections, lost or
// duplicated deliveries, publish errors, a timeout. Empty means clean.
func (s *Summary) Problems() []string {
	var p []string
	add := func(cond bool, format string, args ...any) {
		if cond {
			p = append(p, fmt.Sprintf(format, args...))
		}
	}
	add(s.Failed > 0, "%d subscribers failed to connect", s.Failed)
	add(s.Missing > 0, "%d deliveries missing", s.Missing)
	add(s.Duplicates > 0, "%d deliveries duplicated", s.Duplicates)
	add(s.Unexpected > 0, "%d unexpected events", s.Unexpected)
	add(s.PublishErrors > 0, "%d publish requests failed", s.PublishErrors)
	add(s.Published < int64(s.Events), "%d of %d events published", s.Published, s.Events)
	add(s.TimedOut, "the run hit its duration limit")
	return p
}

func (r *runner) latency() *Snapshot {
	snap := &Snapshot{}
	for i := range r.hist {
		snap.Merge(&r.hist[i])
	}
	return snap
}

func (r *runner) summarize(s *Summary, pubStart, pubEnd time.Time) {
	s.Connected, s.Failed = r.connected.Load(), r.failed.Load()
	c := r.connHist.Snapshot()
	s.ConnectP50MS, s.ConnectP99MS, s.ConnectMaxMS = ms(c.Quantile(0.5)), ms(c.Quantile(0.99)), ms(c.Max)
	s.Published, s.PublishErrors = r.published.Load(), r.pubErrors.Load()
	s.Expected, s.Delivered, s.Duplicates = r.expected.Load(), r.delivered.Load(), r.duplicates.Load()
	s.Missing = max(0, s.Expected-s.Delivered)
	s.Unexpected, s.Resets, s.Reconnects, s.Dropped = r.unexpected.Load(), r.resets.Load(), r.reconnects.Load(), r.dropped.Load()
	l := r.latency()
	s.Latency = Latency{P50: ms(l.Quantile(0.5)), P90: ms(l.Quantile(0.9)), P99: ms(l.Quantile(0.99)), Max: ms(l.Max), Mean: ms(l.Mean())}
	end := pubEnd
	if last := r.lastDelivery.Load(); last > 0 {
		end = time.Unix(0, last)
	}
	if d := end.Sub(pubStart); d > 0 && s.Events > 0 {
		s.PublishS = round2(d.Seconds())
		s.DeliveriesPerS = math.Round(float64(s.Delivered) / d.Seconds())
		s.PublishedPerS = round2(float64(s.Published) / d.Seconds())
	}
	if self, err := ReadProc(os.Getpid()); err == nil {
		s.Bench.CPUS, s.Bench.RSSKiB = round2(self.CPU.Seconds()), self.RSSKiB
	}
	s.Bench.WallS = round2(time.Since(r.start).Seconds())
	s.Errors = r.errs.snapshot()
	s.OK = len(s.Problems()) == 0
}

// startProgress writes a status line every ProgressEvery until stopped.
func (r *runner) startProgress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.cfg.ProgressEvery)
		defer t.Stop()
		var lastDelivered int64
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				d := r.delivered.Load()
				rate := float64(d-lastDelivered) / now.Sub(last).Seconds()
				lastDelivered, last = d, now
				fmt.Fprintln(r.cfg.Progress, r.progressLine(rate))
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func (r *runner) progressLine(rate float64) string {
	phase, _ := r.phase.Load().(string)
	line := fmt.Sprintf("[%5.1fs] %-8s conns %d/%d failed %d | published %d/%d | delivered %d/%d dup %d | p99 %.1fms | %.0f/s",
		time.Since(r.start).Seconds(), phase, r.connected.Load(), r.cfg.Subscribers, r.failed.Load(),
		r.published.Load(), r.cfg.Events, r.delivered.Load(), r.expected.Load(), r.duplicates.Load(),
		ms(r.latency().Quantile(0.99)), rate)
	if n := r.reconnects.Load(); n > 0 {
		line += fmt.Sprintf(" | reconnects %d", n)
	}
	if e := r.errs.top(); e != "" {
		line += " | " + e
	}
	return line
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func round2(v float64) float64 { return math.Round(v*100) / 100 }
