package mqttbridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/reddot-dev/reddot"
)

// hook connects mochi to the broker: authentication at CONNECT, access
// checks on SUBSCRIBE and PUBLISH, the session lifecycle, acknowledgements
// and the stored sessions mochi restores at start.
type hook struct {
	mqtt.HookBase
	b *Broker
}

var _ mqtt.Hook = (*hook)(nil)

func (h *hook) ID() string { return "reddot" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck,
		mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnDisconnect,
		mqtt.OnPacketRead, mqtt.OnPacketEncode, mqtt.OnSubscribed, mqtt.OnUnsubscribed, mqtt.OnPublish,
		mqtt.OnWill, mqtt.OnClientExpired, mqtt.StoredClients, mqtt.StoredSubscriptions,
	}, []byte{b})
}

// Reason codes of refused connections: v5 codes, and their v3 return codes.
var (
	v3BadCredentials = packets.Code{Code: 0x04, Reason: "bad user name or password"}
	v3NotAuthorized  = packets.Code{Code: 0x05, Reason: "not authorized"}
	v3BadClientID    = packets.Code{Code: 0x02, Reason: "identifier rejected"}
)

// OnConnect authenticates the client: the password is a subscriber token
// or an API key (the user name is not used). It namespaces the client id
// by owner, so two users' "device1" are two sessions and a session is only
// ever resumed by its owner, and bounds the keepalive.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	b := h.b
	v5 := cl.Properties.ProtocolVersion == 5
	refuse := func(v5code, v3code packets.Code) error {
		if !v5 {
			v5code = v3code
		}
		_ = b.srv.SendConnack(cl, v5code, false, nil)
		return v5code
	}
	if len(cl.ID) > maxClientIDLen || !utf8.ValidString(cl.ID) || strings.ContainsRune(cl.ID, 0) {
		return refuse(packets.ErrClientIdentifierNotValid, v3BadClientID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pw := string(pk.Connect.Password)
	var p *reddot.Principal
	var owner string
	backend := pw != "" && b.auth.Publisher(ctx, pw)
	if backend {
		sum := sha256.Sum256([]byte(pw))
		p, owner = &reddot.Principal{}, "k:"+hex.EncodeToString(sum[:6])
	} else {
		var err error
		if p, err = b.auth.Subscriber(ctx, pw); err != nil {
			b.log.Debug("mqtt: connection refused", "remote", cl.Net.Remote, "err", err)
			if pw == "" {
				return refuse(packets.ErrNotAuthorized, v3NotAuthorized)
			}
			return refuse(packets.ErrBadUsernameOrPassword, v3BadCredentials)
		}
		owner = "anon"
		if !p.Anonymous() {
			owner = "u:" + p.User
		}
	}
	cl.ID = owner + "/" + cl.ID
	if max := uint16(b.o.KeepaliveMax / time.Second); cl.State.Keepalive == 0 || cl.State.Keepalive > max {
		cl.State.Keepalive = max
		cl.State.ServerKeepalive = v5 // v3 has no way to say so; the bound applies anyway
	}
	b.conns.Store(cl, newConn(b, cl, p, backend))
	return nil
}

// OnConnectAuthenticate accepts what OnConnect accepted.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return h.b.conn(cl) != nil
}

// OnACLCheck decides subscriptions: only the MQTT names of reddot streams
// the client may read, never wildcards, at most MaxSubscriptions. A refused
// filter gets SUBACK 0x87 (v5) or 0x80 (v3); the connection stays up.
// Publishes are decided in OnPublish, which has its own reason codes.
func (h *hook) OnACLCheck(cl *mqtt.Client, filter string, write bool) bool {
	if write {
		return true
	}
	c := h.b.conn(cl)
	if c == nil {
		return false
	}
	t, ok := ReddotTopic(filter)
	if !ok || c.canRead(t) != nil {
		return false
	}
	if _, has := cl.State.Subscriptions.Get(filter); !has && cl.State.Subscriptions.Len() >= h.b.o.MaxSubscriptions {
		h.b.log.Info("mqtt: subscription limit reached", "client", cl.ID, "limit", h.b.o.MaxSubscriptions)
		return false
	}
	return true
}

func (h *hook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	if c := h.b.conn(cl); c != nil {
		h.b.establish(c, pk)
	}
}

func (h *hook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	if c := h.b.conn(cl); c != nil {
		h.b.established(c)
	}
}

func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if v, ok := h.b.conns.LoadAndDelete(cl); ok {
		h.b.disconnected(v.(*conn), expire && !cl.IsTakenOver())
	}
}

func (h *hook) OnClientExpired(cl *mqtt.Client) { h.b.expired(cl.ID) }

// OnPacketRead sees the client's PUBACKs of the bridge's deliveries.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Puback {
		if c := h.b.conn(cl); c != nil {
			c.acked(pk.PacketID)
		}
	}
	return pk, nil
}

// OnPacketEncode completes a successful MQTT 5 CONNACK with what this
// broker does not offer (mochi announces only some of it).
func (h *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ReasonCode == 0 && cl.Properties.ProtocolVersion == 5 {
		p := &pk.Properties
		p.RetainAvailable, p.RetainAvailableFlag = 0, true
		p.WildcardSubAvailable, p.WildcardSubAvailableFlag = 0, true
		p.SubIDAvailable, p.SubIDAvailableFlag = 0, true
		p.SharedSubAvailable, p.SharedSubAvailableFlag = 0, true
		p.MaximumPacketSize = uint32(h.b.o.MaxPacketSize)
	}
	return pk
}

// OnSubscribed starts deliveries of the granted filters. Their heads are
// read before the SUBACK goes out, so every event published after it is
// delivered.
func (h *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	c := h.b.conn(cl)
	if c == nil {
		return
	}
	add := map[string]delivery{}
	granted := map[string]byte{}
	var topics []string
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] > 2 {
			continue
		}
		t, ok := ReddotTopic(f.Filter)
		if !ok {
			continue
		}
		add[t] = delivery{qos: min(codes[i], 1), name: f.Filter}
		granted[f.Filter] = codes[i]
		topics = append(topics, t)
	}
	if len(add) == 0 {
		return
	}
	pins := map[string]uint64{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if heads, err := h.b.eng.Store().Heads(ctx, topics); err == nil {
		for i, t := range topics {
			pins[t] = heads[i]
		}
	} else {
		h.b.log.Warn("mqtt: cannot read topic heads; subscription starts when it opens", "client", cl.ID, "err", err)
	}
	c.subscribe(add, pins)
	h.b.subscribed(c, granted)
}

func (h *hook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	c := h.b.conn(cl)
	if c == nil {
		return
	}
	var topics, filters []string
	for _, f := range pk.Filters {
		filters = append(filters, f.Filter)
		if t, ok := ReddotTopic(f.Filter); ok {
			topics = append(topics, t)
		}
	}
	c.unsubscribe(topics)
	h.b.unsubscribed(c, filters)
}

// OnPublish stores an accepted PUBLISH through the engine and tells mochi
// not to fan it out: subscribers, the publisher included, get the stored
// event from their engine sessions. The PUBACK goes out once it is durable.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	c := h.b.conn(cl)
	if c == nil {
		return pk, packets.ErrRejectPacket
	}
	code := h.b.publish(c, pk.TopicName, pk.Payload, pk.Properties.User)
	if code == packets.CodeSuccess {
		return pk, packets.CodeSuccessIgnore
	}
	h.b.log.Info("mqtt: publish refused", "client", cl.ID, "topic", pk.TopicName, "reason", code.Reason)
	switch {
	case pk.FixedHeader.Qos == 0:
		return pk, packets.ErrRejectPacket
	case c.v5:
		ack := packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Puback},
			PacketID:    pk.PacketID, ReasonCode: code.Code,
			Properties: packets.Properties{ReasonString: code.Reason},
		}
		if pk.FixedHeader.Qos == 2 {
			ack.FixedHeader.Type = packets.Pubrec
		}
		_ = cl.WritePacket(ack)
		return pk, packets.ErrRejectPacket
	default:
		// MQTT 3.1.1 has no refusal: acknowledge and drop [MQTT-3.3.5-2].
		return pk, packets.CodeSuccessIgnore
	}
}

// OnWill publishes a will like a PUBLISH of the client (when it may) and
// sends mochi's copy nowhere.
func (h *hook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if c := h.b.conn(cl); c != nil {
		if code := h.b.publish(c, will.TopicName, will.Payload, will.User); code != packets.CodeSuccess {
			h.b.log.Info("mqtt: will refused", "client", cl.ID, "topic", will.TopicName, "reason", code.Reason)
		}
	}
	will.TopicName, will.Retain = "$reddot/nowhere", false
	return will, nil
}

func (h *hook) StoredClients() ([]storage.Client, error) { return h.b.storedClients(), nil }

func (h *hook) StoredSubscriptions() ([]storage.Subscription, error) {
	return h.b.storedSubscriptions(), nil
}
