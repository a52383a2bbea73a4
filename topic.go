package reddot

import "strings"

// Reserved topics.
const (
	// BroadcastTopic carries notifications for every user.
	BroadcastTopic = "broadcast"
	// InboxPrefix starts a user's personal inbox stream, "user:<user>".
	InboxPrefix = "user:"
	// PrivatePrefix marks topics that need a grant to read.
	PrivatePrefix = "private:"
)

// ValidTopic reports whether name is a syntactically valid topic name:
// 1-200 of A-Z a-z 0-9 _ . : @ / -.
func ValidTopic(name string) bool { return validName(name, 200, true) }

// ValidUser reports whether id is a syntactically valid user id:
// 1-128 of A-Z a-z 0-9 _ . @ -.
func ValidUser(id string) bool { return validName(id, 128, false) }

// validName is on every delivery's path (cursors), so it is a byte loop,
// not a regular expression.
func validName(s string, max int, topic bool) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_', c == '.', c == '@', c == '-':
		case topic && (c == ':' || c == '/'):
		default:
			return false
		}
	}
	return true
}

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
