package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/bench"
)

// runBench is `reddot bench`: the load tool. It prints progress on stderr
// and one JSON summary line on stdout; it exits 1 when a subscriber failed
// or a delivery was lost or duplicated (unless --check=false).
func runBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr)
	var n int
	serverURL := fs.String("url", "", "server base URL (default: from --http-addr)")
	transport := fs.String("transport", "ws", "subscriber transport: "+strings.Join(bench.Transports, ", "))
	fs.IntVar(&n, "subscribers", 100, "subscriber connections to open")
	fs.IntVar(&n, "n", 100, "short for --subscribers")
	ramp := fs.Float64("ramp", 0, "connections opened per second (0: all at once)")
	events := fs.Int("events", 10, "events to publish (per subscriber in notify mode)")
	rate := fs.Float64("rate", 2, "events per second (0: as fast as possible)")
	batch := fs.Int("batch", 1, "events per publish request; more than 1 uses /v1/publish/batch")
	mode := fs.String("mode", bench.ModeTopic, "topic: one topic every subscriber reads; notify: a notification into each subscriber's inbox")
	topic := fs.String("topic", "bench", "topic of topic mode")
	token := fs.String("token", "", "one subscriber token for every connection (topic mode)")
	tokenURL := fs.String("token-url", "", "demo token endpoint, e.g. http://host:8080/demo/token (GET ?user=ID → {\"token\":…})")
	anonymous := fs.Bool("anonymous", false, "subscribe without a token (the server must allow anonymous)")
	userPrefix := fs.String("user-prefix", "", "prefix of the subscribers' user ids (default bench-<random>-)")
	apiKey := fs.String("api-key", "", "publisher API key (default: the configured or generated one)")
	origin := fs.String("origin", "http://localhost", "iframe origin; the server must list it in --allowed-origins")
	pollInterval := fs.Duration("poll-interval", time.Second, "time between short polls")
	mqttURL := fs.String("mqtt-url", "", "MQTT broker: tcp://host:port or ws://host/mqtt (default: /mqtt at --url)")
	mqttQoS := fs.Int("mqtt-qos", 1, "MQTT subscription QoS (0, 1 or 2)")
	goReaders := fs.Bool("goroutine-readers", false, "read each ws/sse/iframe subscriber with its own goroutine instead of shared epoll+io_uring readers")
	sourceIPs := fs.Int("source-ips", 0, "spread connections over this many 127.0.0.0/8 source addresses (0: one per 20,000 connections)")
	serverPID := fs.Int("server-pid", 0, "server process to sample RSS and CPU from /proc")
	duration := fs.Duration("duration", 10*time.Minute, "hard limit on the whole run")
	connectTimeout := fs.Duration("connect-timeout", 10*time.Second, "limit on one connection attempt")
	settle := fs.Duration("settle", time.Second, "idle time after connecting, before RSS is read and publishing starts")
	wait := fs.Duration("wait", 10*time.Second, "how long deliveries may trail the last publish")
	publishers := fs.Int("publishers", 4, "publish requests in flight")
	reconnects := fs.Int("reconnects", 5, "reconnects per subscriber after a drop, resuming by cursor (-1: none)")
	check := fs.Bool("check", true, "exit 1 when a subscriber failed or a delivery was lost or duplicated; --check=false for pure load runs")
	progress := fs.Duration("progress", time.Second, "interval of the progress line on stderr (0: none)")
	cpuProfile := fs.String("cpuprofile", "", "write the load tool's own CPU profile to this file")
	c, err := configOnly(fs, args)
	if err != nil {
		return fail(stderr, err)
	}
	cfg := bench.Config{
		URL: *serverURL, Transport: *transport, Mode: *mode, Topic: *topic,
		Subscribers: n, Ramp: *ramp, Events: *events, Rate: *rate, Batch: *batch,
		UsersPerRequest: c.MaxUsers, Publishers: *publishers,
		Origin: *origin, PollInterval: *pollInterval, LongPollTimeout: c.LongPollTimeout,
		MQTTURL: *mqttURL, MQTTQoS: byte(*mqttQoS), SourceIPs: *sourceIPs, ServerPID: *serverPID, GoroutineReaders: *goReaders,
		ConnectTimeout: *connectTimeout, Settle: *settle, Wait: *wait, Duration: *duration,
		Reconnects: *reconnects, ProgressEvery: *progress,
	}
	if *progress > 0 {
		cfg.Progress = stderr
	}
	if cfg.URL == "" {
		cfg.URL = baseURL(c.HTTPAddr)
	}
	if *events > 0 {
		if cfg.APIKey, err = benchAPIKey(c, *apiKey); err != nil {
			return fail(stderr, err)
		}
	}
	prefix := *userPrefix
	if prefix == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		prefix = "bench-" + hex.EncodeToString(b[:]) + "-"
	}
	if cfg.Credentials, err = benchCredentials(c, *token, *tokenURL, *anonymous, prefix, *mode, *topic, *duration); err != nil {
		return fail(stderr, err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fail(stderr, err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(stderr, err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if os.Getenv("GOGC") == "" {
		// The tool's heap is per-subscriber state made in a burst; collecting
		// it less often leaves more of the tool's core for the connections it
		// measures (about a tenth of its CPU during 10,000 connects).
		debug.SetGCPercent(400)
	}
	sum, err := bench.Run(ctx, cfg)
	if err != nil {
		return fail(stderr, err)
	}
	line, _ := json.Marshal(sum)
	fmt.Fprintf(stdout, "%s\n", line)
	if problems := sum.Problems(); len(problems) > 0 {
		fmt.Fprintf(stderr, "reddot bench: %s\n", strings.Join(problems, "; "))
		if *check {
			return 1
		}
	}
	return 0
}

func baseURL(httpAddr string) string {
	addr := httpAddr
	if strings.HasPrefix(addr, ":") {
		addr = "localhost" + addr
	}
	return "http://" + addr
}

// benchAPIKey is --api-key, else the configured or generated key.
func benchAPIKey(c *Config, flagKey string) (string, error) {
	if flagKey != "" {
		return flagKey, nil
	}
	if len(c.APIKeys) > 0 {
		return c.APIKeys[0], nil
	}
	k, err := secretFile(c.DataDir, "api-key", false)
	if err != nil {
		return "", fmt.Errorf("publishing needs --api-key: %v", err)
	}
	return k, nil
}

// benchCredentials picks how subscribers authenticate: one shared token, a
// token endpoint, anonymous, or tokens minted per user from the JWT secret
// (configured or in the data dir).
func benchCredentials(c *Config, token, tokenURL string, anonymous bool, prefix, mode, topic string, ttl time.Duration) (bench.Credentials, error) {
	perUser := mode == bench.ModeNotify
	switch {
	case token != "":
		if perUser {
			return nil, fmt.Errorf("notify mode needs a user per subscriber: use --jwt-secret or --token-url instead of --token")
		}
		return func(context.Context, int) (string, string, error) { return "", token, nil }, nil
	case tokenURL != "":
		client := &http.Client{Timeout: 10 * time.Second}
		return func(ctx context.Context, i int) (string, string, error) {
			return fetchToken(ctx, client, tokenURL, prefix+strconv.Itoa(i))
		}, nil
	case anonymous:
		if perUser {
			return nil, fmt.Errorf("notify mode needs a user per subscriber, not --anonymous")
		}
		return nil, nil
	}
	secret := c.JWTSecret
	if secret == "" {
		var err error
		if secret, err = secretFile(c.DataDir, "jwt-secret", false); err != nil {
			return nil, fmt.Errorf("subscribers need credentials: give --jwt-secret, --token, --token-url or --anonymous (%v)", err)
		}
	}
	claims := auth.Claims{TTL: ttl + time.Hour}
	if !perUser {
		claims.Topics = []string{topic}
	}
	now := time.Now()
	return func(_ context.Context, i int) (string, string, error) {
		cl := claims
		cl.User = prefix + strconv.Itoa(i)
		tok, err := auth.Mint([]byte(secret), cl, now)
		return cl.User, tok, err
	}, nil
}

// fetchToken asks a demo token endpoint for user's token.
func fetchToken(ctx context.Context, client *http.Client, endpoint, user string) (string, string, error) {
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+sep+"user="+url.QueryEscape(user), nil)
	if err != nil {
		return "", "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var out struct{ Token, User string }
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return "", "", fmt.Errorf("token endpoint answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil || out.Token == "" {
		return "", "", fmt.Errorf("token endpoint answered no token")
	}
	if out.User == "" {
		out.User = user
	}
	return out.User, out.Token, nil
}
