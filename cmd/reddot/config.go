package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is every setting of `reddot serve`. Each comes from a flag, a
// REDDOT_* variable or the YAML file (--config), in that precedence.
type Config struct {
	HTTPAddr        string
	MQTTAddr        string
	DataDir         string
	Store           string
	Bus             string
	JWTSecret       string
	PublicKeyFile   string
	JWKSFile        string
	APIKeys         []string
	AllowAnonymous  bool
	AllowedOrigins  []string
	PrivateTopics   []string
	Heartbeat       time.Duration
	LongPollTimeout time.Duration
	LongPollMax     time.Duration
	MaxBodyBytes    int
	MaxDataBytes    int
	MaxUsers        int
	RetentionEvents int
	RetentionAge    time.Duration
	QueueSize       int
	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string
	Demo            bool
	PprofAddr       string
	IOUring         bool
	DirectUpgrade   bool
	WriteDelay      time.Duration
	ClientRetry     time.Duration
	PollPage        int
	PublicCacheTTL  time.Duration

	// MQTT broker settings (see docs/mqtt.md).
	MQTTWebSocket        bool
	MQTTTLSAddr          string
	MQTTTLSCert          string
	MQTTTLSKey           string
	MQTTMaxPacket        int
	MQTTMaxInflight      int
	MQTTMaxSubscriptions int
	MQTTKeepaliveMax     time.Duration
	MQTTOfflineQueue     int
	MQTTSessionExpiry    time.Duration
}

type setting struct {
	name  string // flag name; env is REDDOT_ + upper snake; YAML key is snake
	usage string
	def   string
	set   func(c *Config, v string) error
}

// flagValue holds a setting's raw text; boolean settings may be given bare (--demo).
type flagValue struct {
	v      string
	isBool bool
}

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(v string) error { f.v = v; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.isBool }

func str(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = v; return nil }
}

func list(p func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		*p(c) = out
		return nil
	}
}

func boolean(p func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*p(c) = b
		return nil
	}
}

func integer(p func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative integer, got %q", v)
		}
		*p(c) = n
		return nil
	}
}

func duration(p func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration like 30s or 5m, got %q", v)
		}
		*p(c) = d
		return nil
	}
}

var settings = []setting{
	{"http-addr", "HTTP listen address", ":8080", str(func(c *Config) *string { return &c.HTTPAddr })},
	{"mqtt-addr", "MQTT TCP listen address, or off", ":1883", str(func(c *Config) *string { return &c.MQTTAddr })},
	{"data-dir", "directory for the embedded store and generated secrets", "./data", str(func(c *Config) *string { return &c.DataDir })},
	{"store", "sqlite, or a postgres:// URL", "sqlite", str(func(c *Config) *string { return &c.Store })},
	{"bus", "memory, redis://… or nats://…", "memory", str(func(c *Config) *string { return &c.Bus })},
	{"jwt-secret", "HS256 secret for subscriber tokens (generated into the data dir when empty)", "", str(func(c *Config) *string { return &c.JWTSecret })},
	{"jwt-public-key", "PEM file with an RS256/ES256 public key for subscriber tokens", "", str(func(c *Config) *string { return &c.PublicKeyFile })},
	{"jwks-file", "JSON Web Key Set file for RS256/ES256 subscriber tokens", "", str(func(c *Config) *string { return &c.JWKSFile })},
	{"api-keys", "comma-separated publisher API keys (one is generated into the data dir when empty)", "", list(func(c *Config) *[]string { return &c.APIKeys })},
	{"allow-anonymous", "anonymous subscribers may read public topics", "false", boolean(func(c *Config) *bool { return &c.AllowAnonymous })},
	{"allowed-origins", "comma-separated origins for CORS, WebSocket and iframe postMessage", "", list(func(c *Config) *[]string { return &c.AllowedOrigins })},
	{"private-topics", "comma-separated patterns of topics that need a grant, besides private:*", "", list(func(c *Config) *[]string { return &c.PrivateTopics })},
	{"heartbeat", "SSE/iframe heartbeat and WebSocket ping interval", "20s", duration(func(c *Config) *time.Duration { return &c.Heartbeat })},
	{"longpoll-timeout", "default long-poll hold time", "25s", duration(func(c *Config) *time.Duration { return &c.LongPollTimeout })},
	{"longpoll-max", "cap on a client's long-poll timeout", "60s", duration(func(c *Config) *time.Duration { return &c.LongPollMax })},
	{"max-body-bytes", "largest publish request body", "1048576", integer(func(c *Config) *int { return &c.MaxBodyBytes })},
	{"max-data-bytes", "largest event data or notification", "65536", integer(func(c *Config) *int { return &c.MaxDataBytes })},
	{"max-users", "most recipients of one notification request", "1000", integer(func(c *Config) *int { return &c.MaxUsers })},
	{"retention-events", "events kept per topic for resume", "10000", integer(func(c *Config) *int { return &c.RetentionEvents })},
	{"retention-age", "how long events are kept for resume", "24h", duration(func(c *Config) *time.Duration { return &c.RetentionAge })},
	{"client-retry", "reconnect delay suggested to SSE (retry:) and iframe clients", "2s", duration(func(c *Config) *time.Duration { return &c.ClientRetry })},
	{"poll-page", "most events in one poll or long-poll answer (1 to 10000)", "100", integer(func(c *Config) *int { return &c.PollPage })},
	{"public-cache-ttl", "Cache-Control max-age on anonymous polls of public topics, so a CDN can share them (0s: not cached)", "0s", duration(func(c *Config) *time.Duration { return &c.PublicCacheTTL })},
	{"queue-size", "events buffered per connection before it is closed as too slow", "1024", integer(func(c *Config) *int { return &c.QueueSize })},
	{"shutdown-timeout", "how long SIGTERM waits for in-flight work", "15s", duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{"log-level", "debug, info, warn or error", "info", str(func(c *Config) *string { return &c.LogLevel })},
	{"log-format", "text or json", "text", str(func(c *Config) *string { return &c.LogFormat })},
	{"demo", "serve the demo page and a demo-only token endpoint", "false", boolean(func(c *Config) *bool { return &c.Demo })},
	{"io-uring", "write streams through io_uring where the kernel allows it (Linux); false: one write(2) per connection", "true", boolean(func(c *Config) *bool { return &c.IOUring })},
	{"direct-upgrade", "take WebSocket, SSE and iframe connection requests before net/http, so they skip its per-connection buffers; false: every request through net/http", "true", boolean(func(c *Config) *bool { return &c.DirectUpgrade })},
	{"write-delay", "hold each WebSocket/SSE/iframe write up to this long so events arriving meanwhile share it: fewer sends at high rates, that much more latency (at most 1s; 0: write at once)", "0s", duration(func(c *Config) *time.Duration { return &c.WriteDelay })},
	{"pprof-addr", "serve Go's /debug/pprof on this address (keep it private; empty: off)", "", str(func(c *Config) *string { return &c.PprofAddr })},
	{"mqtt-ws", "serve MQTT over WebSocket at /mqtt on the HTTP port", "true", boolean(func(c *Config) *bool { return &c.MQTTWebSocket })},
	{"mqtt-tls-addr", "MQTT over TLS listen address, used when mqtt-tls-cert and mqtt-tls-key are set, or off", ":8883", str(func(c *Config) *string { return &c.MQTTTLSAddr })},
	{"mqtt-tls-cert", "PEM certificate (chain) file for MQTT over TLS", "", str(func(c *Config) *string { return &c.MQTTTLSCert })},
	{"mqtt-tls-key", "PEM private key file for MQTT over TLS", "", str(func(c *Config) *string { return &c.MQTTTLSKey })},
	{"mqtt-max-packet", "largest MQTT packet a client may send, in bytes; larger ones disconnect it", "262144", integer(func(c *Config) *int { return &c.MQTTMaxPacket })},
	{"mqtt-max-inflight", "unacknowledged QoS 1 messages per MQTT client, each way", "100", integer(func(c *Config) *int { return &c.MQTTMaxInflight })},
	{"mqtt-max-subscriptions", "subscriptions per MQTT client (at most 256)", "100", integer(func(c *Config) *int { return &c.MQTTMaxSubscriptions })},
	{"mqtt-keepalive-max", "longest MQTT keepalive granted; clients asking for more or none get this", "5m", duration(func(c *Config) *time.Duration { return &c.MQTTKeepaliveMax })},
	{"mqtt-offline-queue", "events per topic replayed to a persistent MQTT session when it comes back", "1000", integer(func(c *Config) *int { return &c.MQTTOfflineQueue })},
	{"mqtt-session-expiry", "how long an offline persistent MQTT session is kept", "168h", duration(func(c *Config) *time.Duration { return &c.MQTTSessionExpiry })},
}

func envName(flagName string) string {
	return "REDDOT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func yamlKey(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// loadConfig parses args with the given settings; flags win over the
// environment, which wins over the YAML file, which wins over defaults.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (*Config, error) {
	flagVals := map[string]*flagValue{}
	for _, s := range settings {
		fv := &flagValue{v: s.def, isBool: s.def == "true" || s.def == "false"}
		flagVals[s.name] = fv
		fs.Var(fv, s.name, s.usage+" ("+envName(s.name)+")")
	}
	configFile := fs.String("config", "", "YAML config file (REDDOT_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	file := *configFile
	if !given["config"] {
		file = getenv("REDDOT_CONFIG")
	}
	fileVals := map[string]string{}
	if file != "" {
		var err error
		if fileVals, err = readYAML(file); err != nil {
			return nil, err
		}
	}
	known := map[string]bool{}
	c := &Config{}
	for _, s := range settings {
		known[yamlKey(s.name)] = true
		v, from := s.def, "default"
		if fv, ok := fileVals[yamlKey(s.name)]; ok {
			v, from = fv, file
		}
		if ev, ok := lookupEnv(getenv, envName(s.name)); ok {
			v, from = ev, envName(s.name)
		}
		if given[s.name] {
			v, from = flagVals[s.name].v, "--"+s.name
		}
		if err := s.set(c, v); err != nil {
			return nil, fmt.Errorf("bad value for %s (from %s): %v", s.name, from, err)
		}
	}
	for k := range fileVals {
		if !known[k] {
			return nil, fmt.Errorf("%s: unknown setting %q", file, k)
		}
	}
	return c, c.validate()
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func readYAML(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config file: %v", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("config file %s is not valid YAML: %v", path, err)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			out[strings.ReplaceAll(k, "-", "_")] = strings.Join(parts, ",")
		case nil:
		default:
			out[strings.ReplaceAll(k, "-", "_")] = fmt.Sprint(v)
		}
	}
	return out, nil
}

func (c *Config) validate() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("bad value for log-level: want debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("bad value for log-format: want text or json, got %q", c.LogFormat)
	}
	if c.Store != "sqlite" && !strings.HasPrefix(c.Store, "postgres://") && !strings.HasPrefix(c.Store, "postgresql://") {
		return fmt.Errorf("bad value for store: want sqlite or a postgres:// URL, got %q", c.Store)
	}
	if c.Bus != "memory" && !strings.HasPrefix(c.Bus, "redis://") && !strings.HasPrefix(c.Bus, "rediss://") && !strings.HasPrefix(c.Bus, "nats://") {
		return fmt.Errorf("bad value for bus: want memory, redis://… or nats://…, got %q", c.Bus)
	}
	for _, o := range c.AllowedOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return fmt.Errorf("bad value for allowed-origins: %q is not an origin like https://app.example.com", o)
		}
	}
	if c.HTTPAddr == "" {
		return fmt.Errorf("bad value for http-addr: empty")
	}
	if c.PollPage < 1 || c.PollPage > 10000 {
		return fmt.Errorf("bad value for poll-page: want 1 to 10000 events, got %d", c.PollPage)
	}
	if c.ClientRetry <= 0 {
		return fmt.Errorf("bad value for client-retry: want a positive duration like 2s, got %s", c.ClientRetry)
	}
	if c.WriteDelay > time.Second {
		return fmt.Errorf("bad value for write-delay: at most 1s (it adds that much latency to every event), got %s", c.WriteDelay)
	}
	return nil
}
