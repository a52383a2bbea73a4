package reddot

import (
	"regexp"
	"strings"
)

// Reserved topics.
const (
	// BroadcastTopic carries notifications for every user.
	BroadcastTopic = "broadcast"
	// InboxPrefix starts a user's personal inbox stream, "user:<user>".
	InboxPrefix = "user:"
	// PrivatePrefix marks topics that need a grant to read.
	PrivatePrefix = "private:"
)

var (
	topicRE = regexp.MustCompile(`^[A-Za-z0-9_.:@/-]{1,200}$`)
	userRE  = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,128}$`)
)

// ValidTopic reports whether name is a syntactically valid topic name.
func ValidTopic(name string) bool { return topicRE.MatchString(name) }

// ValidUser reports whether id is a syntactically valid user id.
func ValidUser(id string) bool { return userRE.MatchString(id) }

// InboxTopic returns the reserved inbox stream of user.
func InboxTopic(user string) string { return InboxPrefix + user }

// InboxUser returns the user of an inbox stream name, or "" if topic is not one.
func InboxUser(topic string) string {
	if u, ok := strings.CutPrefix(topic, InboxPrefix); ok {
		return u
	}
	return ""
}

// Reserved reports whether clients may not publish to topic: inbox streams
// and the broadcast topic are written only through notifications.
func Reserved(topic string) bool {
	return topic == BroadcastTopic || strings.HasPrefix(topic, InboxPrefix)
}

// CheckTopic validates a topic a client names for subscribing or publishing.
func CheckTopic(name string) error {
	if !ValidTopic(name) {
		return Errorf(EINVALID, "invalid topic %q: want 1-200 of A-Z a-z 0-9 _ . : @ / -", truncate(name, 64))
	}
	return nil
}

// MatchPattern reports whether topic matches pattern, where a trailing "*"
// matches any suffix and anything else must match exactly.
func MatchPattern(pattern, topic string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(topic, p)
	}
	return pattern == topic
}

// MatchAny reports whether topic matches one of patterns.
func MatchAny(patterns []string, topic string) bool {
	for _, p := range patterns {
		if MatchPattern(p, topic) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
