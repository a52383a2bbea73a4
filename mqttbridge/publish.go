package mqttbridge

import (
	"context"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/reddot-dev/reddot"
)

// EventProperty is the MQTT 5 user property that names the event of a
// client publish ("message" when absent).
const EventProperty = "event"

// publish stores a client PUBLISH to reddot/topics/<T> as an event on T.
// The payload is the event data (see eventData). It returns CodeSuccess
// once the event is durable, or the reason code of the refusal.
func (b *Broker) publish(c *conn, name string, payload []byte, props []packets.UserProperty) packets.Code {
	t, ok := ReddotTopic(name)
	if !ok || reddot.Reserved(t) {
		return packets.Code{Code: packets.ErrNotAuthorized.Code,
			Reason: "only reddot/topics/<topic> can be published to; inboxes and broadcasts take notifications over HTTP"}
	}
	if !c.backend {
		if err := b.eng.Policy().CanPublish(c.p, t); err != nil {
			return packets.Code{Code: packets.ErrNotAuthorized.Code, Reason: reddot.ErrorMessage(err)}
		}
	}
	data, err := eventData(payload)
	if err != nil {
		return packets.Code{Code: packets.ErrPayloadFormatInvalid.Code, Reason: reddot.ErrorMessage(err)}
	}
	msg := reddot.Message{Topic: t, Data: data}
	for _, p := range props {
		if p.Key == EventProperty {
			msg.Event = p.Val
		}
	}
	if err := msg.Validate(b.o.Limits); err != nil {
		return reasonOf(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.eng.Publish(ctx, []reddot.Message{msg}); err != nil {
		if reddot.ErrorCode(err) == reddot.EINTERNAL {
			b.log.Error("mqtt: publish failed", "client", c.cl.ID, "topic", t, "err", err)
		}
		return reasonOf(err)
	}
	return packets.CodeSuccess
}

// reasonOf maps a reddot error to a PUBACK reason code with a client-safe
// reason string.
func reasonOf(err error) packets.Code {
	code := packets.ErrUnspecifiedError.Code
	switch reddot.ErrorCode(err) {
	case reddot.EINVALID:
		code = packets.ErrPayloadFormatInvalid.Code
	case reddot.ETOOLARGE, reddot.ERATELIMITED:
		code = packets.ErrQuotaExceeded.Code
	case reddot.EFORBIDDEN, reddot.EUNAUTHORIZED:
		code = packets.ErrNotAuthorized.Code
	}
	return packets.Code{Code: code, Reason: reddot.ErrorMessage(err)}
}
