package sqlite

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/reddot-dev/reddot"
)

// Publish stores msgs in one transaction and returns once it is durable.
// Results are in the order of msgs. Messages must be validated
// (reddot.Message.Validate).
func (s *Store) Publish(ctx context.Context, msgs []reddot.Message) ([]reddot.Published, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	out := make([]reddot.Published, len(msgs))
	err := s.do(ctx, func(w *wtx) error {
		for i := range msgs {
			p, err := w.publish(&msgs[i])
			if err != nil {
				return err
			}
			out[i] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (w *wtx) publish(m *reddot.Message) (reddot.Published, error) {
	switch m.Kind() {
	case reddot.KindUsers:
		return w.notifyUsers(m.Users, m.Notification)
	case reddot.KindBroadcast:
		return w.broadcast(m.Notification)
	}
	name := m.Event
	if name == "" {
		name = reddot.EventMessage
	}
	id := reddot.NewID(w.now)
	e, err := w.appendEvent(m.Topic, name, id, m.Data)
	if err != nil {
		return reddot.Published{}, err
	}
	return reddot.Published{IDs: []string{id}, Events: []*reddot.Event{e}}, nil
}

// notifyUsers stores one inbox item per user and appends a notification
// event, with the user's new counts, to each user's inbox stream. Users are
// handled in chunks with multi-row statements: per-statement overhead, not
// SQLite's B-trees, dominated the one-row-at-a-time version.
func (w *wtx) notifyUsers(users []string, in *reddot.NotificationInput) (reddot.Published, error) {
	p := reddot.Published{IDs: make([]string, 0, len(users)), Events: make([]*reddot.Event, 0, len(users))}
	for len(users) > 0 {
		n := min(len(users), notifyChunk)
		if err := w.notifyChunk(users[:n], in, &p); err != nil {
			return p, err
		}
		users = users[n:]
	}
	return p, nil
}

const notifyChunk = 100

func (w *wtx) notifyChunk(users []string, in *reddot.NotificationInput, p *reddot.Published) error {
	ns := make([]reddot.Notification, len(users))
	var notifArgs, countArgs, topicArgs []any
	for i, u := range users {
		ns[i] = w.newNotification(in)
		n := &ns[i]
		n.User = u
		var data any
		if len(n.Data) > 0 {
			data = []byte(n.Data)
		}
		notifArgs = append(notifArgs, n.ID, u, n.Category, n.Title, n.Body, n.URL, data, n.Time.UnixNano())
		countArgs = append(countArgs, u, n.Category)
		topicArgs = append(topicArgs, reddot.InboxTopic(u))
	}
	k := len(users)
	if _, err := w.exec(`INSERT INTO notifications (id, user_id, category, title, body, url, data, time) VALUES `+
		rows(k, "(?, ?, ?, ?, ?, ?, ?, ?)"), notifArgs...); err != nil {
		return err
	}
	if _, err := w.exec(`INSERT INTO counts (user_id, category, n) VALUES `+rows(k, "(?, ?, 1)")+`
		ON CONFLICT (user_id, category) DO UPDATE SET n = n + 1`, countArgs...); err != nil {
		return err
	}
	heads, err := w.bumpTopics(k, topicArgs)
	if err != nil {
		return err
	}
	counts, err := w.countsOf(users)
	if err != nil {
		return err
	}
	now := w.now.UnixNano()
	evArgs := make([]any, 0, 6*k)
	for i, u := range users {
		data, err := json.Marshal(ns[i])
		if err != nil {
			return err
		}
		topic := reddot.InboxTopic(u)
		h := heads[topic]
		w.jobTopics[topic] = h
		evArgs = append(evArgs, topic, h.last, ns[i].ID, reddot.EventNotification, data, now)
		c := counts[u]
		p.IDs = append(p.IDs, ns[i].ID)
		p.Events = append(p.Events, &reddot.Event{
			ID: ns[i].ID, Topic: topic, Seq: uint64(h.last), Event: reddot.EventNotification,
			Data: json.RawMessage(data), Time: time.Unix(0, now).UTC(), Unread: &c,
		})
	}
	_, err = w.exec(`INSERT INTO events (topic, seq, id, event, data, time) VALUES `+rows(k, "(?, ?, ?, ?, ?, ?)"), evArgs...)
	return err
}

// bumpTopics allocates the next seq of each of k distinct topics.
func (w *wtx) bumpTopics(k int, topics []any) (map[string]topicHead, error) {
	r, err := w.query(`INSERT INTO topics (topic, last_seq) VALUES `+rows(k, "(?, 1)")+`
		ON CONFLICT (topic) DO UPDATE SET last_seq = last_seq + 1
		RETURNING topic, last_seq, trimmed_seq`, topics...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	heads := make(map[string]topicHead, k)
	for r.Next() {
		var t string
		var h topicHead
		if err := r.Scan(&t, &h.last, &h.trimmed); err != nil {
			return nil, err
		}
		heads[t] = h
	}
	return heads, r.Err()
}

// rows returns n copies of tuple joined by commas.
func rows(n int, tuple string) string {
	var b strings.Builder
	b.Grow(n * (len(tuple) + 2))
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
	}
	return b.String()
}

// broadcast stores one item for every user and appends it to the broadcast
// stream. The event carries no counts: they differ per user.
func (w *wtx) broadcast(in *reddot.NotificationInput) (reddot.Published, error) {
	n := w.newNotification(in)
	n.Broadcast = true
	if err := w.insertNotification("", &n); err != nil {
		return reddot.Published{}, err
	}
	if _, err := w.exec(`INSERT INTO bcounts (category, n) VALUES (?, 1)
		ON CONFLICT (category) DO UPDATE SET n = n + 1`, n.Category); err != nil {
		return reddot.Published{}, err
	}
	data, err := json.Marshal(n)
	if err != nil {
		return reddot.Published{}, err
	}
	e, err := w.appendEvent(reddot.BroadcastTopic, reddot.EventNotification, n.ID, data)
	if err != nil {
		return reddot.Published{}, err
	}
	return reddot.Published{IDs: []string{n.ID}, Events: []*reddot.Event{e}}, nil
}

func (w *wtx) newNotification(in *reddot.NotificationInput) reddot.Notification {
	cat := in.Category
	if cat == "" {
		cat = "general"
	}
	return reddot.Notification{
		ID:       reddot.NewID(w.now),
		Category: cat,
		Title:    in.Title,
		Body:     in.Body,
		URL:      in.URL,
		Data:     in.Data,
		Time:     time.Unix(0, w.now.UnixNano()).UTC(),
	}
}

// insertNotification stores n for user, or for everybody when user is "".
func (w *wtx) insertNotification(user string, n *reddot.Notification) error {
	n.User = user
	var uid any
	if user != "" {
		uid = user
	}
	var data any
	if len(n.Data) > 0 {
		data = []byte(n.Data)
	}
	_, err := w.exec(`INSERT INTO notifications (id, user_id, category, title, body, url, data, time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, uid, n.Category, n.Title, n.Body, n.URL, data, n.Time.UnixNano())
	return err
}
