package mqttbridge_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// raw is a minimal MQTT client on mochi's packet codec, for what paho
// (3.1.1 only, acks on its own schedule) cannot show: MQTT 5 reason codes
// and exactly when PUBACKs reach the server.
type raw struct {
	t    testing.TB
	c    net.Conn
	br   *bufio.Reader
	v    byte
	pubs []packets.Packet // PUBLISHes read while waiting for something else

	keepalive uint16 // of the next CONNECT (30 s)
}

func dialRaw(t testing.TB, addr string, version byte) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, c: c, br: bufio.NewReader(c), v: version, keepalive: 30}
}

func (r *raw) send(pk packets.Packet) {
	r.t.Helper()
	pk.ProtocolVersion = r.v
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		r.t.Fatalf("cannot send packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.c.Write(buf.Bytes()); err != nil {
		r.t.Fatal(err)
	}
}

// read returns the next packet; io.EOF-like errors mean the server closed.
func (r *raw) read() (packets.Packet, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(wait))
	var pk packets.Packet
	hb, err := r.br.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(r.br)
	if err != nil {
		return pk, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.br, body); err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = r.v
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}

// expect reads until a packet of type typ, keeping PUBLISHes aside.
func (r *raw) expect(typ byte) packets.Packet {
	r.t.Helper()
	for {
		pk, err := r.read()
		if err != nil {
			r.t.Fatalf("waiting for packet type %d: %v", typ, err)
		}
		if pk.FixedHeader.Type == typ {
			return pk
		}
		if pk.FixedHeader.Type != packets.Publish {
			r.t.Fatalf("want packet type %d, got %d (reason 0x%02x)", typ, pk.FixedHeader.Type, pk.ReasonCode)
		}
		r.pubs = append(r.pubs, pk)
	}
}

func (r *raw) connect(id, password string, clean bool, expiry uint32) packets.Packet {
	r.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}}
	pk.Connect = packets.ConnectParams{
		ProtocolName: []byte("MQTT"), ClientIdentifier: id, Clean: clean, Keepalive: r.keepalive,
		PasswordFlag: password != "", Password: []byte(password), UsernameFlag: true, Username: []byte("u"),
	}
	if r.v == 3 {
		pk.Connect.ProtocolName = []byte("MQIsdp")
	}
	if expiry > 0 {
		pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = expiry, true
	}
	r.send(pk)
	return r.expect(packets.Connack)
}

func (r *raw) subscribe(id uint16, qos byte, filters ...string) []byte {
	r.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: qos})
	}
	r.send(pk)
	return r.expect(packets.Suback).ReasonCodes
}

func (r *raw) publish(id uint16, qos byte, topic, payload string) {
	r.t.Helper()
	r.send(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic, Payload: []byte(payload), PacketID: id,
	})
}

// nextEvent returns the next PUBLISH as an event, acknowledging QoS 1.
func (r *raw) nextEvent() (event, packets.Packet) {
	r.t.Helper()
	var pk packets.Packet
	if len(r.pubs) > 0 {
		pk, r.pubs = r.pubs[0], r.pubs[1:]
	} else {
		pk = r.expect(packets.Publish)
	}
	if pk.FixedHeader.Qos > 0 {
		r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
	}
	var ev event
	if err := json.Unmarshal(pk.Payload, &ev); err != nil {
		r.t.Fatalf("payload %q: %v", pk.Payload, err)
	}
	ev.mqttTopic = pk.TopicName
	return ev, pk
}

// ping makes a round trip: the server has processed everything sent before.
func (r *raw) ping() {
	r.t.Helper()
	r.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	r.expect(packets.Pingresp)
}

// closed reports whether the server ends the connection (before wait).
func (r *raw) closed() bool {
	for {
		pk, err := r.read()
		if err != nil {
			var ne net.Error
			return !(asNetErr(err, &ne) && ne.Timeout())
		}
		if pk.FixedHeader.Type == packets.Disconnect {
			continue
		}
	}
}

func asNetErr(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}
