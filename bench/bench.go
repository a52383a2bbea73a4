// Package bench is reddot's load generator: it opens many subscribers over
// one transport, publishes timestamped events through the publish API and
// measures delivery (lost, duplicated, latency), connect time and, given
// the server's PID, its memory per connection and CPU per delivery.
//
// It talks to any reddot over HTTP(S) and MQTT, so operators can size
// their own deployments; `reddot bench` is its command line.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// Transports lists the subscriber transports Run supports.
var Transports = []string{"ws", "sse", "longpoll", "poll", "iframe", "mqtt"}

// Modes of publishing.
const (
	// ModeTopic publishes each event once to one topic that every
	// subscriber reads (a broadcast fan-out).
	ModeTopic = "topic"
	// ModeNotify sends each event as a notification to every subscriber's
	// own inbox; each subscriber must be a distinct user.
	ModeNotify = "notify"
)

// PerSourceIP is how many connections Run opens from one source address
// before it spreads them over 127.0.0.0/8 (the ephemeral port range of one
// address is about 28,000 ports).
const PerSourceIP = 20000

// Credentials returns subscriber i's user and token. An empty token
// subscribes anonymously.
type Credentials func(ctx context.Context, i int) (user, token string, err error)

// Config describes one run. Zero fields take the defaults in brackets.
type Config struct {
	URL       string // base URL of the server, http:// or https://
	Transport string // one of Transports [ws]
	Mode      string // ModeTopic or ModeNotify [topic]
	Topic     string // topic of ModeTopic [bench]

	Subscribers int     // connections to open [100]
	Ramp        float64 // connections opened per second; 0 opens all at once
	Events      int     // events published (per subscriber in ModeNotify)
	Rate        float64 // events per second; 0 publishes as fast as possible
	Batch       int     // events per publish request; > 1 uses /v1/publish/batch [1]
	// UsersPerRequest caps recipients of one notification message, the
	// server's max-users [1000].
	UsersPerRequest int
	Publishers      int // publish requests in flight [4]

	APIKey      string      // publisher API key
	Credentials Credentials // nil: every subscriber is anonymous

	Origin          string        // iframe postMessage origin; the server must allow it [http://localhost]
	PollInterval    time.Duration // between short polls [1s]
	LongPollTimeout time.Duration // ?timeout= of long polls [25s]
	MQTTURL         string        // tcp://, ssl://, ws:// or wss:// [ws(s)://<URL host>/mqtt]
	MQTTQoS         byte          // subscription QoS [1]

	// SourceIPs is how many 127.0.0.0/8 source addresses connections are
	// spread over, round-robin; 0 picks ⌈Subscribers/PerSourceIP⌉ against a
	// loopback server and leaves the choice to the kernel otherwise.
	SourceIPs int
	ServerPID int // when > 0, sample its RSS and CPU from /proc
	// GoroutineReaders reads every WebSocket, SSE and iframe subscriber
	// with its own goroutine, as on systems without epoll and io_uring,
	// instead of the shared readers (reactor_linux.go).
	GoroutineReaders bool

	ConnectTimeout time.Duration // per connection attempt [10s]
	Settle         time.Duration // idle time after connecting, before RSS is read and publishing starts
	Wait           time.Duration // how long deliveries may trail the last publish [10s]
	Duration       time.Duration // hard cap on the whole run [10m]
	Reconnects     int           // reconnects per subscriber after a drop, resuming by cursor [5]; < 0 none

	Progress      io.Writer     // one status line per ProgressEvery; nil for none
	ProgressEvery time.Duration // [1s]
}

func (c *Config) fillDefaults() {
	if c.Transport == "" {
		c.Transport = "ws"
	}
	if c.Mode == "" {
		c.Mode = ModeTopic
	}
	if c.Topic == "" {
		c.Topic = "bench"
	}
	if c.Subscribers == 0 {
		c.Subscribers = 100
	}
	if c.Batch <= 0 {
		c.Batch = 1
	}
	if c.UsersPerRequest <= 0 {
		c.UsersPerRequest = 1000
	}
	if c.Publishers <= 0 {
		c.Publishers = 4
	}
	if c.Origin == "" {
		c.Origin = "http://localhost"
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.LongPollTimeout <= 0 {
		c.LongPollTimeout = 25 * time.Second
	}
	if c.MQTTQoS > 2 {
		c.MQTTQoS = 1
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.Wait <= 0 {
		c.Wait = 10 * time.Second
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Minute
	}
	if c.Reconnects == 0 {
		c.Reconnects = 5
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
}

// Validate fills defaults and reports the first bad setting.
func (c *Config) Validate() error {
	c.fillDefaults()
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("url %q: want http://host:port or https://host", c.URL)
	case !validTransport(c.Transport):
		return fmt.Errorf("transport %q: want one of %s", c.Transport, strings.Join(Transports, ", "))
	case c.Mode != ModeTopic && c.Mode != ModeNotify:
		return fmt.Errorf("mode %q: want %s or %s", c.Mode, ModeTopic, ModeNotify)
	case c.Subscribers < 0:
		return errors.New("subscribers must not be negative")
	case c.Events < 0:
		return errors.New("events must not be negative")
	case c.Ramp < 0 || c.Rate < 0:
		return errors.New("ramp and rate must not be negative")
	case c.Events > 0 && c.APIKey == "":
		return errors.New("publishing needs a publisher API key")
	case c.Mode == ModeNotify && c.Credentials == nil:
		return errors.New("notify mode needs a distinct user per subscriber: give a JWT secret or a token URL")
	case c.SourceIPs < 0 || c.SourceIPs > 250*254:
		return errors.New("source IPs must be between 0 and 63500")
	}
	if c.MQTTURL != "" {
		m, err := url.Parse(c.MQTTURL)
		if err != nil || m.Host == "" {
			return fmt.Errorf("mqtt url %q: want tcp://host:port, ssl://…, ws://host/mqtt or wss://…", c.MQTTURL)
		}
	}
	return nil
}

func validTransport(t string) bool {
	for _, x := range Transports {
		if x == t {
			return true
		}
	}
	return false
}

// sourceIPs returns the local addresses connections are spread over, or nil
// to let the kernel choose.
func sourceIPs(host string, subscribers, want int) ([]net.IP, error) {
	loop := host == "localhost"
	if ip := net.ParseIP(host); ip != nil {
		loop = ip.To4() != nil && ip.IsLoopback()
	}
	if want == 0 {
		if !loop || subscribers <= PerSourceIP {
			return nil, nil
		}
		want = (subscribers + PerSourceIP - 1) / PerSourceIP
	}
	if !loop {
		return nil, fmt.Errorf("source IPs spread over 127.0.0.0/8 and need a loopback server, not %q", host)
	}
	ips := make([]net.IP, 0, want)
	for a := uint32(0x7f000001); len(ips) < want; a++ {
		if b := a & 0xff; b == 0 || b == 255 {
			continue
		}
		ips = append(ips, net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)).To4())
	}
	return ips, nil
}
