package reddot

import (
	"context"
	"time"
)

// Published is what storing one Message produced.
type Published struct {
	// IDs are the new event ids (topic) or notification ids (one per user,
	// or one for a broadcast).
	IDs []string
	// Events are the stored stream events to fan out, in seq order per topic.
	// Personal notification events carry the recipient's new Unread counts.
	Events []*Event
}

// InboxQuery selects a page of a user's inbox, newest first.
type InboxQuery struct {
	Limit    int    // 1..100
	Before   string // notification id; empty starts at the newest
	Category string // empty means all
	Status   string // "unread", "read" or "all" (default)
}

// ReadRequest selects notifications to mark read: IDs, All or Category.
type ReadRequest struct {
	IDs      []string `json:"ids,omitempty"`
	All      bool     `json:"all,omitempty"`
	Category string   `json:"category,omitempty"`
}

// Store keeps topic streams and inboxes. It is the source of truth.
type Store interface {
	// Publish stores msgs and returns only once they are durable. Each
	// message is stored atomically; results are in the order of msgs.
	Publish(ctx context.Context, msgs []Message) ([]Published, error)

	// ReadTopic returns up to limit events of topic with seq > after, in
	// order. It returns ErrReset when events after `after` are no longer
	// retained or after is beyond the head.
	ReadTopic(ctx context.Context, topic string, after uint64, limit int) ([]*Event, error)

	// Heads returns the last seq of each topic (0 for a topic never written).
	Heads(ctx context.Context, topics []string) ([]uint64, error)

	// Unread returns user's unread counts, personal and broadcast.
	Unread(ctx context.Context, user string) (Counts, error)

	// Inbox lists user's notifications; next is the id to pass as Before
	// for the following page, empty at the end.
	Inbox(ctx context.Context, user string, q InboxQuery) (items []Notification, next string, err error)

	// MarkRead marks notifications read for user and returns the new counts
	// and whether anything changed.
	MarkRead(ctx context.Context, user string, r ReadRequest) (Counts, bool, error)

	// Delete removes a notification from user's inbox (ENOTFOUND if absent).
	Delete(ctx context.Context, user, id string) (Counts, error)

	// Epoch identifies this store's lifetime; cursors from another epoch reset.
	Epoch() uint32

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}

// Retention bounds what a topic stream keeps for resume.
type Retention struct {
	MaxEvents int           // per topic; 0 means the default
	MaxAge    time.Duration // 0 means the default
}

// DefaultRetention keeps enough for a phone that was offline for a day.
var DefaultRetention = Retention{MaxEvents: 10000, MaxAge: 24 * time.Hour}

// WithDefaults fills zero fields from DefaultRetention.
func (r Retention) WithDefaults() Retention {
	if r.MaxEvents <= 0 {
		r.MaxEvents = DefaultRetention.MaxEvents
	}
	if r.MaxAge <= 0 {
		r.MaxAge = DefaultRetention.MaxAge
	}
	return r
}

// Bus fans stored events out to every node, this one included.
type Bus interface {
	// Publish sends events to all nodes. It may return before delivery.
	Publish(ctx context.Context, events []*Event) error
	// Subscribe sets the handler for events from any node. Call once, before Publish.
	Subscribe(handler func(*Event))
	Ping(ctx context.Context) error
	Close() error
}
