// Package storetest is the conformance suite every reddot.Store passes.
//
// A backend's test calls Run with a Harness that opens fresh stores:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: newStore, Reopen: reopenStore})
//	}
//
// The suite uses only the exported API of reddot.Store, plus one optional
// interface, Sweeper, for age retention: a store that expires old events in
// the background implements Sweep so the suite can run the expiry at a known
// moment. A store without Sweep must trim a topic by age no later than the
// next write to that topic.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
)

// Options configure a store opened by a Harness. Zero fields take the
// store's defaults.
type Options struct {
	Retention reddot.Retention
	Now       func() time.Time
}

// Harness opens stores of one implementation.
type Harness struct {
	// New opens a fresh, empty store. It closes it when tb ends.
	New func(tb testing.TB, o Options) reddot.Store
	// Reopen closes s and opens the same database again (nil if unsupported).
	Reopen func(tb testing.TB, s reddot.Store, o Options) reddot.Store
}

// Sweeper is implemented by stores that expire events by age in the
// background: Sweep expires, before returning, what is older than
// Retention.MaxAge by the store's clock.
type Sweeper interface {
	Sweep(ctx context.Context) error
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"PublishTopic", testPublishTopic},
		{"ReadTopicPaging", testReadTopicPaging},
		{"Heads", testHeads},
		{"ResetBeyondHead", testResetBeyondHead},
		{"CountRetention", testCountRetention},
		{"AgeRetention", testAgeRetention},
		{"ConcurrentSeq", testConcurrentSeq},
		{"CanceledContext", testCanceledContext},
		{"NotifyUsers", testNotifyUsers},
		{"ReadIsolation", testReadIsolation},
		{"Broadcast", testBroadcast},
		{"MarkRead", testMarkRead},
		{"Delete", testDelete},
		{"InboxPaging", testInboxPaging},
		{"InboxFilters", testInboxFilters},
		{"ConcurrentCounts", testConcurrentCounts},
		{"Reopen", testReopen},
		{"Lifecycle", testLifecycle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// MustPublish validates msgs, publishes them in one call and fails tb on
// any error.
func MustPublish(tb testing.TB, s reddot.Store, msgs ...reddot.Message) []reddot.Published {
	tb.Helper()
	for i := range msgs {
		if err := msgs[i].Validate(reddot.Limits{}); err != nil {
			tb.Fatalf("invalid test message %d: %v", i, err)
		}
	}
	ps, err := s.Publish(context.Background(), msgs)
	if err != nil {
		tb.Fatalf("Publish: %v", err)
	}
	if len(ps) != len(msgs) {
		tb.Fatalf("Publish returned %d results for %d messages", len(ps), len(msgs))
	}
	return ps
}

// Topic returns a message to topic with the given JSON data.
func Topic(topic, data string) reddot.Message {
	return reddot.Message{Topic: topic, Data: json.RawMessage(data)}
}

// Notify returns a notification of category for users.
func Notify(category, title string, users ...string) reddot.Message {
	return reddot.Message{Users: users, Notification: &reddot.NotificationInput{Category: category, Title: title}}
}

// Broadcast returns a notification of category for every user.
func Broadcast(category, title string) reddot.Message {
	return reddot.Message{Audience: "all", Notification: &reddot.NotificationInput{Category: category, Title: title}}
}

// Clock is a manual clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// readAll pages through topic from after to its head, 7 events at a time.
func readAll(tb testing.TB, s reddot.Store, topic string, after uint64) []*reddot.Event {
	tb.Helper()
	var out []*reddot.Event
	for {
		evs, err := s.ReadTopic(context.Background(), topic, after, 7)
		if err != nil {
			tb.Fatalf("ReadTopic(%q, %d): %v", topic, after, err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		after = evs[len(evs)-1].Seq
	}
}

// inboxAll pages through user's inbox matching q, following next.
func inboxAll(tb testing.TB, s reddot.Store, user string, q reddot.InboxQuery) []reddot.Notification {
	tb.Helper()
	var out []reddot.Notification
	for range 10000 {
		items, next, err := s.Inbox(context.Background(), user, q)
		if err != nil {
			tb.Fatalf("Inbox(%q, %+v): %v", user, q, err)
		}
		out = append(out, items...)
		if next == "" {
			return out
		}
		if len(items) == 0 {
			tb.Fatalf("Inbox(%q, %+v): empty page with next %q", user, q, next)
		}
		q.Before = next
	}
	tb.Fatalf("Inbox(%q): pagination does not end", user)
	return nil
}

func ids(items []reddot.Notification) []string {
	out := make([]string, len(items))
	for i, n := range items {
		out[i] = n.ID
	}
	return out
}

// wantCounts fails tb unless c is exactly want (categories with n > 0).
func wantCounts(tb testing.TB, what string, c reddot.Counts, want map[string]int64) {
	tb.Helper()
	var total int64
	for _, n := range want {
		total += n
	}
	if c.Categories == nil {
		tb.Errorf("%s: Categories is nil, want a non-nil map", what)
	}
	got := map[string]int64{}
	for k, v := range c.Categories {
		if v != 0 {
			got[k] = v
		}
	}
	if c.Total != total || !mapsEqual(got, want) {
		tb.Errorf("%s: counts = %d %v, want %d %v", what, c.Total, got, total, want)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// unread fails tb unless user's counts are want.
func unread(tb testing.TB, s reddot.Store, user string, want map[string]int64) {
	tb.Helper()
	c, err := s.Unread(context.Background(), user)
	if err != nil {
		tb.Fatalf("Unread(%q): %v", user, err)
	}
	wantCounts(tb, "Unread("+user+")", c, want)
}

func markRead(tb testing.TB, s reddot.Store, user string, r reddot.ReadRequest) (reddot.Counts, bool) {
	tb.Helper()
	c, changed, err := s.MarkRead(context.Background(), user, r)
	if err != nil {
		tb.Fatalf("MarkRead(%q, %+v): %v", user, r, err)
	}
	return c, changed
}

func wantCode(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := reddot.ErrorCode(err); got != code {
		tb.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

func wantReset(tb testing.TB, s reddot.Store, topic string, after uint64) {
	tb.Helper()
	evs, err := s.ReadTopic(context.Background(), topic, after, 100)
	if !errors.Is(err, reddot.ErrReset) {
		tb.Errorf("ReadTopic(%q, %d) = %d events, %v; want ErrReset", topic, after, len(evs), err)
	}
}

// wantSeqs fails tb unless evs have exactly the seqs from..to in order.
func wantSeqs(tb testing.TB, what string, evs []*reddot.Event, from, to uint64) {
	tb.Helper()
	got := make([]uint64, len(evs))
	for i, e := range evs {
		got[i] = e.Seq
	}
	var want []uint64
	for s := from; s <= to && to > 0; s++ {
		want = append(want, s)
	}
	if !slices.Equal(got, want) {
		tb.Errorf("%s: seqs %v, want %d..%d", what, got, from, to)
	}
}
