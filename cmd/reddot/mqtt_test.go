package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/reddot-dev/reddot/auth"
)

const mqttTestSecret = "mqtt-secret-0123456789abcdef"

// syncBuffer is a bytes.Buffer safe for the server's and the test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openMain opens a server in-process with args added to loopback defaults.
func openMain(t *testing.T, dataDir string, args ...string) (*Main, *syncBuffer, *syncBuffer, error) {
	t.Helper()
	base := []string{"--http-addr", "127.0.0.1:0", "--mqtt-addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--jwt-secret", mqttTestSecret, "--api-keys", "mqtt-key", "--log-level", "debug", "--shutdown-timeout", "5s"}
	c, err := loadConfig(newFlagSet("serve", io.Discard), append(base, args...), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	out, logs := &syncBuffer{}, &syncBuffer{}
	m := &Main{Config: c, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Out: out}
	err = m.Open(context.Background())
	if err != nil {
		_ = m.Close()
		if m.ln != nil {
			m.ln.Close()
		}
		return nil, out, logs, err
	}
	return m, out, logs, nil
}

// serveMain serves m until the test ends (or stop is called) and returns stop.
func serveMain(t *testing.T, m *Main) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && err != http.ErrServerClosed {
				t.Errorf("run: %v", err)
			}
			if err := m.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// mqttURL returns the first URL of the "mqtt is up" line with the scheme.
func mqttURL(t *testing.T, out string, scheme string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "mqtt is up: "); ok {
			for _, u := range strings.Fields(rest) {
				if strings.HasPrefix(u, scheme+"://") {
					return u
				}
			}
		}
	}
	t.Fatalf("no %s URL in %q", scheme, out)
	return ""
}

func mqttToken(t *testing.T, user string) string {
	t.Helper()
	tok, err := auth.Mint([]byte(mqttTestSecret), auth.Claims{User: user, TTL: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// pahoDial connects a 3.1.1 client whose messages go to the returned channel.
func pahoDial(t *testing.T, broker, id, password string, clean bool) (paho.Client, chan []byte) {
	t.Helper()
	msgs := make(chan []byte, 100)
	broker = strings.Replace(broker, "mqtt://", "tcp://", 1)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(id).SetUsername("reddot").SetPassword(password).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { msgs <- m.Payload() }))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, msgs
}

func pahoSubscribe(t *testing.T, c paho.Client, filter string) {
	t.Helper()
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if code := tok.(*paho.SubscribeToken).Result()[filter]; code > 2 {
		t.Fatalf("subscribe %s refused: %x", filter, code)
	}
}

func httpPublish(t *testing.T, m *Main, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", m.URL()+"/v1/publish", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer mqtt-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish: %d %s", resp.StatusCode, b)
	}
}

func nextSeq(t *testing.T, msgs <-chan []byte) uint64 {
	t.Helper()
	select {
	case b := <-msgs:
		var ev struct{ Seq uint64 }
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("payload %s: %v", b, err)
		}
		return ev.Seq
	case <-time.After(10 * time.Second):
		t.Fatal("no MQTT message")
	}
	return 0
}

// occupy holds a loopback port like Mosquitto holds :1883.
func occupy(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestMQTTPortInUseFailsWithTheFix(t *testing.T) {
	taken := occupy(t)
	_, _, _, err := openMain(t, t.TempDir(), "--mqtt-addr", taken)
	if err == nil {
		t.Fatal("start succeeded on a taken MQTT port")
	}
	msg := err.Error()
	for _, want := range []string{taken, "mqtt-addr", "--mqtt-addr :1884", "off"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}

	// The command exits non-zero with that line.
	var stderr bytes.Buffer
	code := runServe([]string{"--http-addr", "127.0.0.1:0", "--mqtt-addr", taken, "--data-dir", t.TempDir(),
		"--jwt-secret", mqttTestSecret, "--api-keys", "k", "--log-level", "error"}, io.Discard, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "--mqtt-addr :1884") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestDemoFallsBackToAFreeMQTTPort(t *testing.T) {
	taken := occupy(t)
	m, out, logs, err := openMain(t, t.TempDir(), "--mqtt-addr", taken, "--demo")
	if err != nil {
		t.Fatalf("demo did not start: %v", err)
	}
	serveMain(t, m)
	u := mqttURL(t, out.String(), "mqtt")
	if strings.HasSuffix(u, taken) {
		t.Fatalf("demo kept the taken port: %s", u)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), taken+" is in use") {
		t.Errorf("no warning about %s in %s", taken, logs)
	}
	c, msgs := pahoDial(t, u, "demo", mqttToken(t, "42"), true)
	pahoSubscribe(t, c, "reddot/topics/news")
	httpPublish(t, m, `{"topic":"news","data":1}`)
	if seq := nextSeq(t, msgs); seq != 1 {
		t.Fatalf("seq %d", seq)
	}
}

func TestMQTTOffKeepsWebSocket(t *testing.T) {
	m, out, _, err := openMain(t, t.TempDir(), "--mqtt-addr", "off")
	if err != nil {
		t.Fatal(err)
	}
	serveMain(t, m)
	if strings.Contains(out.String(), "mqtt://") {
		t.Fatalf("TCP listener despite off: %s", out)
	}
	c, msgs := pahoDial(t, mqttURL(t, out.String(), "ws"), "browser", mqttToken(t, "42"), true)
	pahoSubscribe(t, c, "reddot/users/42/inbox")
	httpPublish(t, m, `{"users":["42"],"notification":{"title":"hi"}}`)
	if seq := nextSeq(t, msgs); seq != 1 {
		t.Fatalf("seq %d", seq)
	}
}

// A persistent session survives a drain and restart of the whole server:
// the sessions file lives in the data dir next to the store.
func TestMQTTSessionSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	m, out, _, err := openMain(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	stop := serveMain(t, m)
	tok := mqttToken(t, "42")
	c, msgs := pahoDial(t, mqttURL(t, out.String(), "mqtt"), "sensor", tok, false)
	pahoSubscribe(t, c, "reddot/topics/news")
	httpPublish(t, m, `{"topic":"news","data":1}`)
	if seq := nextSeq(t, msgs); seq != 1 {
		t.Fatalf("seq %d", seq)
	}
	stop() // SIGTERM: drains, disconnects MQTT clients, saves sessions

	m, out, _, err = openMain(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	serveMain(t, m)
	for i := 2; i <= 6; i++ {
		httpPublish(t, m, `{"topic":"news","data":0}`)
	}
	_, msgs = pahoDial(t, mqttURL(t, out.String(), "mqtt"), "sensor", tok, false)
	for want := uint64(2); want <= 6; want++ {
		seq := nextSeq(t, msgs)
		for seq < want && seq == 1 { // seq 1 again if its PUBACK was still on the way at SIGTERM
			seq = nextSeq(t, msgs)
		}
		if seq != want {
			t.Fatalf("want seq %d, got %d", want, seq)
		}
	}
}

func TestMQTTOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	m, out, _, err := openMain(t, dir, "--mqtt-addr", "off", "--mqtt-tls-addr", "127.0.0.1:0",
		"--mqtt-tls-cert", certFile, "--mqtt-tls-key", keyFile)
	if err != nil {
		t.Fatal(err)
	}
	serveMain(t, m)
	u := strings.Replace(mqttURL(t, out.String(), "mqtts"), "mqtts://", "ssl://", 1)
	msgs := make(chan []byte, 10)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(u).SetClientID("tls").
		SetUsername("reddot").SetPassword(mqttToken(t, "42")).SetAutoReconnect(false).
		SetTLSConfig(&tls.Config{RootCAs: pool, ServerName: "localhost"}).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { msgs <- m.Payload() }))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", u, tok.Error())
	}
	defer c.Disconnect(0)
	pahoSubscribe(t, c, "reddot/topics/news")
	httpPublish(t, m, `{"topic":"news","data":1}`)
	if seq := nextSeq(t, msgs); seq != 1 {
		t.Fatalf("seq %d", seq)
	}

	if _, _, _, err := openMain(t, t.TempDir(), "--mqtt-tls-cert", certFile); err == nil ||
		!strings.Contains(err.Error(), "mqtt-tls-key") {
		t.Fatalf("a certificate without key: %v", err)
	}
}

// selfSigned writes a certificate for localhost and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
