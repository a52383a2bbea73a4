package reddot

import (
	"context"
	"strings"
	"time"
)

// Principal is the verified identity behind a subscriber connection.
type Principal struct {
	User    string    // empty for an anonymous subscriber
	Topics  []string  // private topic grants, "*" suffix wildcards
	Publish []string  // topics the holder may publish to from a client connection
	Expires time.Time // zero when the credential does not expire
}

// Anonymous reports whether p has no user.
func (p *Principal) Anonymous() bool { return p.User == "" }

// Authenticator turns credentials into identities.
type Authenticator interface {
	// Subscriber verifies a subscriber token. An empty token yields an
	// anonymous principal when anonymous access is on, EUNAUTHORIZED otherwise.
	Subscriber(ctx context.Context, token string) (*Principal, error)
	// Publisher reports whether key is a valid publisher API key.
	Publisher(ctx context.Context, key string) bool
}

// Policy decides which topics a principal may read and write.
type Policy struct {
	// Private lists patterns of topics that need a grant, besides "private:*".
	Private []string
}

// IsPrivate reports whether reading topic needs a grant.
func (pol Policy) IsPrivate(topic string) bool {
	return strings.HasPrefix(topic, PrivatePrefix) || MatchAny(pol.Private, topic)
}

// CanRead returns nil when p may subscribe to topic, or an EFORBIDDEN or
// EUNAUTHORIZED error saying why not.
func (pol Policy) CanRead(p *Principal, topic string) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	if u := InboxUser(topic); u != "" || strings.HasPrefix(topic, InboxPrefix) {
		if p.Anonymous() {
			return Errorf(EUNAUTHORIZED, "an inbox needs a subscriber token")
		}
		if u != p.User {
			return Errorf(EFORBIDDEN, "topic %q is another user's inbox", topic)
		}
		return nil
	}
	if topic == BroadcastTopic {
		if p.Anonymous() {
			return Errorf(EUNAUTHORIZED, "broadcast needs a subscriber token")
		}
		return nil
	}
	if pol.IsPrivate(topic) && !MatchAny(p.Topics, topic) {
		if p.Anonymous() {
			return Errorf(EUNAUTHORIZED, "private topic %q needs a subscriber token with a grant", topic)
		}
		return Errorf(EFORBIDDEN, "token has no grant for private topic %q", topic)
	}
	return nil
}

// CanPublish returns nil when p may publish to topic from a client connection.
func (pol Policy) CanPublish(p *Principal, topic string) error {
	if err := CheckTopic(topic); err != nil {
		return err
	}
	if Reserved(topic) {
		return Errorf(EFORBIDDEN, "topic %q is reserved for notifications", topic)
	}
	if p.Anonymous() {
		return Errorf(EUNAUTHORIZED, "publishing needs a subscriber token with a publish grant")
	}
	if !MatchAny(p.Publish, topic) {
		return Errorf(EFORBIDDEN, "token has no publish grant for topic %q", topic)
	}
	return nil
}
