package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// mqttTransport subscribes with an MQTT 3.1.1 client (Eclipse Paho): topic
// T is reddot/topics/T, a user's inbox reddot/users/<user>/inbox, and the
// subscriber token is the password. Over tcp:// the source address is
// spread like the HTTP transports; ws:// dials from the kernel's choice.
type mqttTransport struct {
	r      *runner
	broker string
	tcp    bool
}

var _ transport = (*mqttTransport)(nil)

func newMQTTTransport(r *runner) (*mqttTransport, error) {
	broker := r.cfg.MQTTURL
	if broker == "" {
		u := *r.base
		u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		u.Path, u.RawQuery = "/mqtt", ""
		broker = u.String()
	}
	u, err := url.Parse(broker)
	if err != nil {
		return nil, fmt.Errorf("mqtt url %q: %v", broker, err)
	}
	return &mqttTransport{r: r, broker: broker, tcp: u.Scheme == "tcp" || u.Scheme == "mqtt"}, nil
}

// MQTTTopic returns the MQTT topic of a reddot topic.
func MQTTTopic(topic string) string { return "reddot/topics/" + topic }

// MQTTInbox returns the MQTT topic of user's inbox.
func MQTTInbox(user string) string { return "reddot/users/" + user + "/inbox" }

func (t *mqttTransport) session(ctx context.Context, s *sub, ready func()) error {
	cfg := &t.r.cfg
	user := s.user
	if user == "" {
		user = "bench"
	}
	lost := make(chan error, 1)
	opts := mqtt.NewClientOptions().
		AddBroker(t.broker).
		SetClientID("reddot-bench-" + strconv.FormatInt(t.r.start.UnixNano()%1e9, 36) + "-" + strconv.Itoa(s.i)).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	if s.token != "" {
		opts.SetUsername(user).SetPassword(s.token)
	}
	if t.tcp && len(t.r.srcs) > 0 {
		opts.SetDialer(&net.Dialer{Timeout: cfg.ConnectTimeout, LocalAddr: &net.TCPAddr{IP: t.r.srcs[s.i%len(t.r.srcs)]}})
	}
	c := mqtt.NewClient(opts)
	if err := wait(c.Connect(), cfg.ConnectTimeout); err != nil {
		return fmt.Errorf("mqtt connect: %w", err)
	}
	// paho may still be running a message handler after Disconnect(0)
	// returns; s belongs to this session only until it returns, so the
	// handler checks, under mu, that the session is still on.
	var mu sync.Mutex
	on := true
	defer func() {
		c.Disconnect(0)
		mu.Lock()
		on = false
		mu.Unlock()
	}()
	topic := MQTTTopic(cfg.Topic)
	if cfg.Mode == ModeNotify {
		topic = MQTTInbox(s.user)
	}
	st := c.Subscribe(topic, cfg.MQTTQoS, func(_ mqtt.Client, m mqtt.Message) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			s.consume(m.Payload(), time.Now())
		}
	})
	if err := wait(st, cfg.ConnectTimeout); err != nil {
		return fmt.Errorf("mqtt subscribe: %w", err)
	}
	if code, ok := st.(*mqtt.SubscribeToken).Result()[topic]; !ok || code >= 0x80 {
		return fmt.Errorf("mqtt subscribe %s refused (code %#x)", topic, code)
	}
	ready()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-lost:
		if err == nil {
			err = errors.New("mqtt connection lost")
		}
		return err
	}
}

func wait(tok mqtt.Token, d time.Duration) error {
	if !tok.WaitTimeout(d) {
		return errors.New("timeout")
	}
	return tok.Error()
}
