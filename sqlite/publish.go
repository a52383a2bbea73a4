package sqlite

import (
	"context"
	"encoding/json"
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
// event, with the user's new counts, to each user's inbox stream.
func (w *wtx) notifyUsers(users []string, in *reddot.NotificationInput) (reddot.Published, error) {
	p := reddot.Published{IDs: make([]string, 0, len(users)), Events: make([]*reddot.Event, 0, len(users))}
	for _, u := range users {
		n := w.newNotification(in)
		if err := w.insertNotification(u, &n); err != nil {
			return p, err
		}
		if _, err := w.exec(`INSERT INTO counts (user_id, category, n) VALUES (?, ?, 1)
			ON CONFLICT (user_id, category) DO UPDATE SET n = n + 1`, u, n.Category); err != nil {
			return p, err
		}
		c, err := w.counts(u)
		if err != nil {
			return p, err
		}
		data, err := json.Marshal(n)
		if err != nil {
			return p, err
		}
		e, err := w.appendEvent(reddot.InboxTopic(u), reddot.EventNotification, n.ID, data)
		if err != nil {
			return p, err
		}
		e.Unread = &c
		p.IDs = append(p.IDs, n.ID)
		p.Events = append(p.Events, e)
	}
	return p, nil
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
