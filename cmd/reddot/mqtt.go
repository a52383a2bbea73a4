package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/mqttbridge"
)

// mqttHolder lets /mqtt, mounted while the HTTP mux is built, reach the
// broker that openMQTT starts afterwards.
type mqttHolder struct {
	broker atomic.Pointer[mqttbridge.Broker]
}

var mqttHolders sync.Map // *Main → *mqttHolder

func (m *Main) mqtt() *mqttHolder {
	h, _ := mqttHolders.LoadOrStore(m, &mqttHolder{})
	return h.(*mqttHolder)
}

func (h *mqttHolder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b := h.broker.Load(); b != nil {
		b.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"MQTT is not running"}}` + "\n"))
}

// mountMQTT adds MQTT over WebSocket at /mqtt (unless --mqtt-ws=false).
func (m *Main) mountMQTT(mux *http.ServeMux) {
	if m.Config.MQTTWebSocket {
		mux.Handle("GET /mqtt", m.mqtt())
	}
}

// openMQTT starts the embedded MQTT broker: TCP on --mqtt-addr (unless
// off), TLS on --mqtt-tls-addr when a certificate is configured, and the
// WebSocket listener behind /mqtt. Its Close joins m.closer. A taken port
// ends the start with one line naming the fix, except in demo mode, which
// warns and takes a free port instead.
func (m *Main) openMQTT(ctx context.Context) error {
	c := m.Config
	tcp := c.MQTTAddr != "off" && c.MQTTAddr != ""
	useTLS := c.MQTTTLSCert != "" || c.MQTTTLSKey != ""
	m.closer = append(m.closer, func() error { mqttHolders.Delete(m); return nil })
	if !tcp && !useTLS && !c.MQTTWebSocket {
		return nil
	}
	if err := validateMQTT(c); err != nil {
		return err
	}
	b, err := mqttbridge.New(ctx, mqttbridge.Options{
		Engine: m.eng, Auth: m.auth, Logger: m.Log.With("component", "mqtt"),
		SessionsPath:  filepath.Join(c.DataDir, "mqtt-sessions.db"),
		Limits:        reddot.Limits{MaxDataBytes: c.MaxDataBytes, MaxUsers: c.MaxUsers},
		MaxPacketSize: c.MQTTMaxPacket, MaxInflight: c.MQTTMaxInflight, MaxSubscriptions: c.MQTTMaxSubscriptions,
		KeepaliveMax: c.MQTTKeepaliveMax, OfflineQueue: c.MQTTOfflineQueue, SessionExpiry: c.MQTTSessionExpiry,
		AllowedOrigins: c.AllowedOrigins,
	})
	if err != nil {
		return fmt.Errorf("cannot start MQTT: %v", err)
	}
	m.closer = append(m.closer, b.Close)
	var urls []string
	if tcp {
		ln, err := m.listenMQTT(c.MQTTAddr, "mqtt-addr")
		if err != nil {
			return err
		}
		if err := b.Listen("tcp", ln); err != nil {
			ln.Close()
			return err
		}
		urls = append(urls, "mqtt://"+hostPort(ln.Addr()))
	}
	if useTLS && c.MQTTTLSAddr != "off" {
		cert, err := tls.LoadX509KeyPair(c.MQTTTLSCert, c.MQTTTLSKey)
		if err != nil {
			return fmt.Errorf("bad value for mqtt-tls-cert/mqtt-tls-key: %v", err)
		}
		ln, err := m.listenMQTT(c.MQTTTLSAddr, "mqtt-tls-addr")
		if err != nil {
			return err
		}
		tl := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err := b.Listen("tls", tl); err != nil {
			ln.Close()
			return err
		}
		urls = append(urls, "mqtts://"+hostPort(ln.Addr()))
	}
	if c.MQTTWebSocket {
		urls = append(urls, "ws"+strings.TrimPrefix(m.URL(), "http")+"/mqtt")
	}
	if err := b.Start(ctx); err != nil {
		return fmt.Errorf("cannot start MQTT: %v", err)
	}
	m.mqtt().broker.Store(b)
	m.Log.Info("mqtt serving", "urls", strings.Join(urls, " "))
	fmt.Fprintf(m.Out, "mqtt is up: %s\n", strings.Join(urls, " "))
	return nil
}

// listenMQTT binds addr. When the port is taken, the demo warns and takes
// a free port on the same host; anything else fails with the fix.
func (m *Main) listenMQTT(addr, setting string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("cannot listen on %s (%s): %v", addr, setting, unwrapNet(err))
	}
	if m.Config.Demo {
		host, _, _ := net.SplitHostPort(addr)
		if alt, err := net.Listen("tcp", net.JoinHostPort(host, "0")); err == nil {
			m.Log.Warn(fmt.Sprintf("%s is in use (another MQTT broker such as Mosquitto?); the demo serves MQTT on %s instead; set --%s to choose",
				addr, hostPort(alt.Addr()), setting))
			return alt, nil
		}
	}
	return nil, fmt.Errorf("cannot listen on %s (%s): address already in use, probably by another MQTT broker such as Mosquitto; pass --%s :1884 (another port) or --%s off",
		addr, setting, setting, setting)
}

func hostPort(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	host := ta.IP.String()
	if ta.IP.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, fmt.Sprint(ta.Port))
}

func validateMQTT(c *Config) error {
	switch {
	case (c.MQTTTLSCert == "") != (c.MQTTTLSKey == ""):
		return fmt.Errorf("bad value for mqtt-tls-cert/mqtt-tls-key: give both or neither")
	case c.MQTTMaxSubscriptions > 256:
		return fmt.Errorf("bad value for mqtt-max-subscriptions: at most 256, got %d", c.MQTTMaxSubscriptions)
	case c.MQTTMaxInflight > 65535:
		return fmt.Errorf("bad value for mqtt-max-inflight: at most 65535, got %d", c.MQTTMaxInflight)
	case c.MQTTMaxPacket > 0 && c.MQTTMaxPacket < 1024:
		return fmt.Errorf("bad value for mqtt-max-packet: at least 1024, got %d", c.MQTTMaxPacket)
	}
	return nil
}

// newAuthenticator builds the subscriber and publisher authenticator from
// the configuration; HTTP and MQTT share it.
func newAuthenticator(c *Config) (*auth.Authenticator, error) {
	o := auth.Options{Secret: []byte(c.JWTSecret), APIKeys: c.APIKeys, AllowAnonymous: c.AllowAnonymous}
	var err error
	if c.PublicKeyFile != "" {
		if o.PublicKeyPEM, err = os.ReadFile(c.PublicKeyFile); err != nil {
			return nil, fmt.Errorf("cannot read jwt-public-key: %v", err)
		}
	}
	if c.JWKSFile != "" {
		if o.JWKS, err = os.ReadFile(c.JWKSFile); err != nil {
			return nil, fmt.Errorf("cannot read jwks-file: %v", err)
		}
	}
	a, err := auth.New(o)
	if err != nil {
		return nil, fmt.Errorf("auth configuration: %v", err)
	}
	return a, nil
}
