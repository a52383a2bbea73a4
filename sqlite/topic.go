package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/reddot-dev/reddot"
)

// DefaultReadLimit is used by ReadTopic when limit <= 0.
const DefaultReadLimit = 100

// appendEvent stores one event at the head of topic and returns it. The seq
// is allocated here, in the single writer, so commit order is seq order.
func (w *wtx) appendEvent(topic, name, id string, data []byte) (*reddot.Event, error) {
	if len(data) == 0 {
		data = []byte("null")
	}
	var h topicHead
	err := w.scan(`INSERT INTO topics (topic, last_seq) VALUES (?, 1)
		ON CONFLICT (topic) DO UPDATE SET last_seq = last_seq + 1
		RETURNING last_seq, trimmed_seq`, []any{topic}, &h.last, &h.trimmed)
	if err != nil {
		return nil, err
	}
	ns := w.now.UnixNano()
	if _, err := w.exec(`INSERT INTO events (topic, seq, id, event, data, time) VALUES (?, ?, ?, ?, ?, ?)`,
		topic, h.last, id, name, data, ns); err != nil {
		return nil, err
	}
	w.jobTopics[topic] = h
	return &reddot.Event{
		ID:    id,
		Topic: topic,
		Seq:   uint64(h.last),
		Event: name,
		Data:  json.RawMessage(data),
		Time:  time.Unix(0, ns).UTC(),
	}, nil
}

// trimCount keeps at most Retention.MaxEvents events in each topic the batch
// appended to.
func (w *wtx) trimCount() error {
	for topic, h := range w.batchTopics {
		bound := h.last - int64(w.ret.MaxEvents)
		if bound <= h.trimmed {
			continue
		}
		if err := w.trimTo(topic, h.trimmed, bound); err != nil {
			return err
		}
	}
	return nil
}

// trimTo deletes the events of topic with seq in (from, to] and records to
// as trimmed.
func (w *wtx) trimTo(topic string, from, to int64) error {
	if _, err := w.exec(`DELETE FROM events WHERE topic = ? AND seq > ? AND seq <= ?`, topic, from, to); err != nil {
		return err
	}
	_, err := w.exec(`UPDATE topics SET trimmed_seq = ? WHERE topic = ? AND trimmed_seq < ?`, to, topic, to)
	return err
}

// trimAge deletes events older than Retention.MaxAge, per topic up to the
// newest expired seq, so that what remains of a topic is contiguous.
func (w *wtx) trimAge() error {
	cutoff := w.now.Add(-w.ret.MaxAge).UnixNano()
	rows, err := w.query(`SELECT e.topic, MAX(e.seq), t.trimmed_seq
		FROM events e JOIN topics t ON t.topic = e.topic
		WHERE e.time < ? GROUP BY e.topic`, cutoff)
	if err != nil {
		return err
	}
	type expired struct {
		topic      string
		from, upTo int64
	}
	var todo []expired
	for rows.Next() {
		var e expired
		if err := rows.Scan(&e.topic, &e.upTo, &e.from); err != nil {
			rows.Close()
			return err
		}
		todo = append(todo, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range todo {
		if err := w.trimTo(e.topic, min(e.from, e.upTo), e.upTo); err != nil {
			return err
		}
	}
	return nil
}

// Sweep deletes the topic events older than Retention.MaxAge by the Store's
// clock. The Store sweeps on its own every min(MaxAge/10, 1 minute); Sweep
// forces it, for tests and operators.
func (s *Store) Sweep(ctx context.Context) error {
	return s.do(ctx, func(w *wtx) error { return w.trimAge() })
}

func (s *Store) sweepLoop() {
	defer close(s.sweepDone)
	every := min(s.opt.Retention.MaxAge/10, time.Minute)
	every = max(every, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stopSweep
		cancel()
	}()
	for {
		select {
		case <-s.stopSweep:
			return
		case <-t.C:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.opt.Logger.Error("sqlite: retention sweep failed", "err", err)
			}
		}
	}
}

// ReadTopic returns up to limit events of topic with seq > after, in order
// (DefaultReadLimit when limit <= 0). It returns reddot.ErrReset when an
// event after `after` is no longer retained or after is beyond the head.
func (s *Store) ReadTopic(ctx context.Context, topic string, after uint64, limit int) ([]*reddot.Event, error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	// One snapshot for the head and the events, so a trim in between cannot
	// open an unreported gap.
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	var last, trimmed uint64
	err = tx.QueryRowContext(ctx, `SELECT last_seq, trimmed_seq FROM topics WHERE topic = ?`, topic).
		Scan(&last, &trimmed)
	switch {
	case isNoRows(err) && after == 0:
		return nil, nil
	case isNoRows(err):
		return nil, reddot.ErrReset
	case err != nil:
		return nil, err
	case after < trimmed || after > last:
		return nil, reddot.ErrReset
	case after == last:
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, id, event, data, time FROM events
		WHERE topic = ? AND seq > ? ORDER BY seq LIMIT ?`, topic, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]*reddot.Event, 0, min(limit, int(last-after)))
	for rows.Next() {
		e := &reddot.Event{Topic: topic}
		var data []byte
		var ns int64
		if err := rows.Scan(&e.Seq, &e.ID, &e.Event, &data, &ns); err != nil {
			return nil, err
		}
		e.Data = json.RawMessage(data)
		e.Time = time.Unix(0, ns).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Heads returns the last seq of each topic, 0 for a topic never written.
func (s *Store) Heads(ctx context.Context, topics []string) ([]uint64, error) {
	out := make([]uint64, len(topics))
	if len(topics) == 0 {
		return out, nil
	}
	list, err := json.Marshal(topics)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT j.key, t.last_seq
		FROM json_each(?) j JOIN topics t ON t.topic = j.value`, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var last uint64
		if err := rows.Scan(&i, &last); err != nil {
			return nil, err
		}
		out[i] = last
	}
	return out, rows.Err()
}
