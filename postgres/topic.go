package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reddot-dev/reddot"
)

// DefaultReadLimit is used by ReadTopic when limit <= 0.
const DefaultReadLimit = 100

// readTopicSQL reads the head, the trim point and up to $3 events after $2
// of topic $1 in one statement, hence one snapshot: a trim cannot open an
// unreported gap between them. Because seqs of a topic commit in order, the
// events returned are contiguous from $2+1.
const readTopicSQL = `SELECT t.last_seq, t.trimmed_seq, e.seq, e.id, e.event, e.data, e.time
	FROM topics t LEFT JOIN LATERAL (
		SELECT seq, id, event, data, time FROM events
		WHERE events.topic = t.topic AND events.seq > $2 ORDER BY seq LIMIT $3) e ON true
	WHERE t.topic = $1
	ORDER BY e.seq`

// ReadTopic returns up to limit events of topic with seq > after, in order
// (DefaultReadLimit when limit <= 0). It returns reddot.ErrReset when an
// event after `after` is no longer retained or after is beyond the head.
func (s *Store) ReadTopic(ctx context.Context, topic string, after uint64, limit int) (out []*reddot.Event, err error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	err = s.read(ctx, func() error {
		out, err = s.readTopic(ctx, topic, after, limit)
		return err
	})
	return out, err
}

func (s *Store) readTopic(ctx context.Context, topic string, after uint64, limit int) ([]*reddot.Event, error) {
	rows, err := s.pool.Query(ctx, readTopicSQL, topic, int64(after), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*reddot.Event
	found := false
	for rows.Next() {
		var last, trimmed int64
		var seq, ns *int64
		var id, name *string
		var data []byte
		if err := rows.Scan(&last, &trimmed, &seq, &id, &name, &data, &ns); err != nil {
			return nil, err
		}
		if !found {
			found = true
			switch {
			case after < uint64(trimmed) || after > uint64(last):
				return nil, reddot.ErrReset
			case after == uint64(last):
				return nil, nil
			}
			out = make([]*reddot.Event, 0, min(limit, int(uint64(last)-after)))
		}
		if seq == nil {
			continue
		}
		out = append(out, &reddot.Event{
			ID: *id, Topic: topic, Seq: uint64(*seq), Event: *name,
			Data: json.RawMessage(data), Time: time.Unix(0, *ns).UTC(),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found && after > 0 {
		return nil, reddot.ErrReset
	}
	return out, nil
}

// Heads returns the last seq of each topic, 0 for a topic never written.
func (s *Store) Heads(ctx context.Context, topics []string) (out []uint64, err error) {
	err = s.read(ctx, func() error {
		out, err = s.heads(ctx, topics)
		return err
	})
	return out, err
}

func (s *Store) heads(ctx context.Context, topics []string) ([]uint64, error) {
	out := make([]uint64, len(topics))
	if len(topics) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT topic, last_seq FROM topics WHERE topic = ANY($1)`, topics)
	if err != nil {
		return nil, err
	}
	heads := make(map[string]uint64, len(topics))
	for rows.Next() {
		var t string
		var last int64
		if err := rows.Scan(&t, &last); err != nil {
			rows.Close()
			return nil, err
		}
		heads[t] = uint64(last)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, t := range topics {
		out[i] = heads[t]
	}
	return out, nil
}

// Sweep deletes the topic events older than Retention.MaxAge by the Store's
// clock, per topic up to the newest expired seq so that what remains of a
// topic is contiguous. Every node sweeps on its own every
// min(MaxAge/10, 1 minute); sweeps of several nodes do not conflict.
func (s *Store) Sweep(ctx context.Context) error {
	if s.isClosed() {
		return ErrClosed
	}
	cutoff := s.opt.Now().Add(-s.opt.Retention.MaxAge).UnixNano()
	rows, err := s.pool.Query(ctx, `SELECT topic, MAX(seq) FROM events WHERE time < $1
		GROUP BY topic ORDER BY topic COLLATE "C"`, cutoff)
	if err != nil {
		return err
	}
	type expired struct {
		topic string
		upTo  int64
	}
	var todo []expired
	for rows.Next() {
		var e expired
		if err := rows.Scan(&e.topic, &e.upTo); err != nil {
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
		if err := s.trimTopic(ctx, e.topic, e.upTo); err != nil {
			return err
		}
	}
	return nil
}

// trimTopic drops the events of topic up to seq upTo in a transaction of
// its own that first locks the topic row, as writers do.
func (s *Store) trimTopic(ctx context.Context, topic string, upTo int64) error {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(`SELECT 1 FROM topics WHERE topic = $1 FOR UPDATE`, topic)
	b.Queue(`DELETE FROM events WHERE topic = $1 AND seq <= $2
		AND seq > (SELECT trimmed_seq FROM topics WHERE topic = $1)`, topic, upTo)
	b.Queue(`UPDATE topics SET trimmed_seq = $2 WHERE topic = $1 AND trimmed_seq < $2`, topic, upTo)
	br := s.pool.SendBatch(ctx, b)
	tx := br.Tx()
	if err := br.Close(); err != nil {
		_ = tx.Rollback(context.Background())
		return err
	}
	return tx.Commit(ctx)
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
				s.opt.Logger.Error("postgres: retention sweep failed", "err", err)
			}
		}
	}
}
