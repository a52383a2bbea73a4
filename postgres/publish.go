package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reddot-dev/reddot"
)

// Publish stores msgs in one transaction and returns once it has committed.
// Results are in the order of msgs. Messages must be validated
// (reddot.Message.Validate).
func (s *Store) Publish(ctx context.Context, msgs []reddot.Message) ([]reddot.Published, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var out []reddot.Published
	err := s.do(ctx, publishLocks(msgs), func(w *wtx) func() error {
		out = make([]reddot.Published, len(msgs))
		for i := range msgs {
			out[i] = w.publish(&msgs[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// publishLocks returns the topics msgs append to.
func publishLocks(msgs []reddot.Message) []string {
	var out []string
	for i := range msgs {
		m := &msgs[i]
		switch m.Kind() {
		case reddot.KindUsers:
			for _, u := range m.Users {
				out = append(out, reddot.InboxTopic(u))
			}
		case reddot.KindBroadcast:
			out = append(out, reddot.BroadcastTopic)
		default:
			out = append(out, m.Topic)
		}
	}
	return out
}

// publish queues the statements of one message. The events' seqs and
// counts are filled in when the results are read.
func (w *wtx) publish(m *reddot.Message) reddot.Published {
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
	e := w.appendEvent(m.Topic, name, id, m.Data)
	return reddot.Published{IDs: []string{id}, Events: []*reddot.Event{e}}
}

// appendSQL allocates the next seq of topic $1 and stores the event under
// it. The topic row is already locked by the transaction (lockTopicsSQL),
// so no other transaction can take a seq of this topic until this one ends.
const appendSQL = `WITH h AS (
		INSERT INTO topics AS tp (topic, last_seq) VALUES ($1, 1)
		ON CONFLICT (topic) DO UPDATE SET last_seq = tp.last_seq + 1
		RETURNING last_seq)
	INSERT INTO events (topic, seq, id, event, data, time)
	SELECT $1, last_seq, $2, $3, $4, $5 FROM h RETURNING seq`

// appendEvent queues one event at the head of topic and returns it; its Seq
// is set when the batch results are read.
func (w *wtx) appendEvent(topic, name, id string, data []byte) *reddot.Event {
	if len(data) == 0 {
		data = []byte("null")
	}
	ns := w.now.UnixNano()
	e := &reddot.Event{ID: id, Topic: topic, Event: name, Data: json.RawMessage(data), Time: time.Unix(0, ns).UTC()}
	w.queue(appendSQL, topic, id, name, []byte(data), ns).QueryRow(func(row pgx.Row) error {
		var seq int64
		if err := row.Scan(&seq); err != nil {
			return err
		}
		e.Seq = uint64(seq)
		return nil
	})
	return e
}

const notifySQL = `WITH n AS (
		INSERT INTO notifications (id, user_id, category, title, body, url, data, time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING category)
	INSERT INTO counts (user_id, category, n) SELECT $2, category, 1 FROM n
	ON CONFLICT (user_id, category) DO UPDATE SET n = counts.n + 1`

// notifyUsers stores one inbox item per user and appends a notification
// event, with the user's new counts, to each user's inbox stream.
func (w *wtx) notifyUsers(users []string, in *reddot.NotificationInput) reddot.Published {
	p := reddot.Published{IDs: make([]string, 0, len(users)), Events: make([]*reddot.Event, 0, len(users))}
	for _, u := range users {
		n := w.newNotification(in)
		n.User = u
		w.queue(notifySQL, n.ID, u, n.Category, n.Title, n.Body, n.URL, nullBytes(n.Data), n.Time.UnixNano())
		c := new(reddot.Counts)
		w.counts(u, c)
		data, _ := json.Marshal(n) // cannot fail: plain fields and validated JSON data
		e := w.appendEvent(reddot.InboxTopic(u), reddot.EventNotification, n.ID, data)
		e.Unread = c
		p.IDs = append(p.IDs, n.ID)
		p.Events = append(p.Events, e)
	}
	return p
}

const broadcastSQL = `WITH n AS (
		INSERT INTO notifications (id, user_id, category, title, body, url, data, time)
		VALUES ($1, NULL, $2, $3, $4, $5, $6, $7) RETURNING category)
	INSERT INTO bcounts (category, n) SELECT category, 1 FROM n
	ON CONFLICT (category) DO UPDATE SET n = bcounts.n + 1`

// broadcast stores one item for every user and appends it to the broadcast
// stream. The event carries no counts: they differ per user.
func (w *wtx) broadcast(in *reddot.NotificationInput) reddot.Published {
	n := w.newNotification(in)
	n.Broadcast = true
	w.queue(broadcastSQL, n.ID, n.Category, n.Title, n.Body, n.URL, nullBytes(n.Data), n.Time.UnixNano())
	data, _ := json.Marshal(n)
	e := w.appendEvent(reddot.BroadcastTopic, reddot.EventNotification, n.ID, data)
	return reddot.Published{IDs: []string{n.ID}, Events: []*reddot.Event{e}}
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

// nullBytes is b as a bytea parameter, NULL when empty.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}
