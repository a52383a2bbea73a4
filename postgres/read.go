package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/reddot-dev/reddot"
)

// Each statement below changes notification state and the matching counter
// together, by the number of rows it changed, so the counters stay exact
// whatever runs concurrently on other nodes. Statements of one user also
// serialize on the lock of the user's inbox topic row.

// readPersonalSQL marks read the user's ($1) unread items of category $2
// ("" for all) and returns how many changed.
const readPersonalSQL = `WITH r AS (
		UPDATE notifications SET read_at = $3
		WHERE user_id = $1 AND read_at IS NULL AND ($2 = '' OR category = $2)
		RETURNING category),
	k AS (SELECT category, count(*) AS k FROM r GROUP BY category),
	c AS (UPDATE counts SET n = counts.n - k.k FROM k
		WHERE counts.user_id = $1 AND counts.category = k.category)
	SELECT count(*) FROM r`

// readPersonalIDsSQL marks read the user's items among ids $2.
const readPersonalIDsSQL = `WITH r AS (
		UPDATE notifications SET read_at = $3
		WHERE id = ANY($2) AND user_id = $1 AND read_at IS NULL
		RETURNING category),
	k AS (SELECT category, count(*) AS k FROM r GROUP BY category),
	c AS (UPDATE counts SET n = counts.n - k.k FROM k
		WHERE counts.user_id = $1 AND counts.category = k.category)
	SELECT count(*) FROM r`

// readBroadcastsSQL marks read, for user $1, every broadcast of category $2
// ("" for all) the user has neither read nor deleted. Only categories with
// such broadcasts are visited.
const readBroadcastsSQL = `WITH cats AS (
		SELECT b.category FROM bcounts b
		LEFT JOIN bseen s ON s.user_id = $1 AND s.category = b.category
		WHERE ($2 = '' OR b.category = $2) AND b.n > COALESCE(s.n, 0)),
	ins AS (
		INSERT INTO bstate (user_id, nid, state)
		SELECT $1, n.id, 1 FROM notifications n JOIN cats ON n.category = cats.category
		WHERE n.user_id IS NULL
		ON CONFLICT (user_id, nid) DO NOTHING
		RETURNING nid),
	k AS (SELECT n.category, count(*) AS k FROM ins JOIN notifications n ON n.id = ins.nid GROUP BY n.category),
	s AS (INSERT INTO bseen (user_id, category, n) SELECT $1, category, k FROM k
		ON CONFLICT (user_id, category) DO UPDATE SET n = bseen.n + excluded.n)
	SELECT count(*) FROM ins`

// readBroadcastIDsSQL marks read, for user $1, the broadcasts among ids $2.
const readBroadcastIDsSQL = `WITH b AS (
		SELECT id, category FROM notifications WHERE id = ANY($2) AND user_id IS NULL),
	ins AS (
		INSERT INTO bstate (user_id, nid, state) SELECT $1, id, 1 FROM b
		ON CONFLICT (user_id, nid) DO NOTHING
		RETURNING nid),
	k AS (SELECT b.category, count(*) AS k FROM ins JOIN b ON b.id = ins.nid GROUP BY b.category),
	s AS (INSERT INTO bseen (user_id, category, n) SELECT $1, category, k FROM k
		ON CONFLICT (user_id, category) DO UPDATE SET n = bseen.n + excluded.n)
	SELECT count(*) FROM ins`

// MarkRead marks user's notifications read and returns the new counts and
// whether anything changed. r.All marks everything; otherwise r.Category
// marks that category and r.IDs those items (both may be given). Ids that
// are unknown or belong to another user are ignored.
func (s *Store) MarkRead(ctx context.Context, user string, r reddot.ReadRequest) (reddot.Counts, bool, error) {
	var out reddot.Counts
	var changed bool
	err := s.do(ctx, []string{reddot.InboxTopic(user)}, func(w *wtx) func() error {
		n := new(int64)
		c := new(reddot.Counts)
		now := w.now.UnixNano()
		if r.All || r.Category != "" {
			cat := r.Category
			if r.All {
				cat = ""
			}
			w.changed(n, readPersonalSQL, user, cat, now)
			w.changed(n, readBroadcastsSQL, user, cat)
		}
		if !r.All && len(r.IDs) > 0 {
			w.changed(n, readPersonalIDsSQL, user, r.IDs, now)
			w.changed(n, readBroadcastIDsSQL, user, r.IDs)
		}
		w.counts(user, c)
		return func() error {
			out, changed = *c, *n > 0
			return nil
		}
	})
	if err != nil {
		return reddot.Counts{}, false, err
	}
	return out, changed, nil
}

// changed queues a statement that returns a count of changed rows and adds
// it to *n.
func (w *wtx) changed(n *int64, sql string, args ...any) {
	w.queue(sql, args...).QueryRow(func(row pgx.Row) error {
		var k int64
		if err := row.Scan(&k); err != nil {
			return err
		}
		*n += k
		return nil
	})
}

const (
	deletePersonalSQL = `WITH d AS (
			DELETE FROM notifications WHERE id = $2 AND user_id = $1
			RETURNING category, read_at IS NULL AS unread),
		c AS (UPDATE counts SET n = counts.n - 1 FROM d
			WHERE d.unread AND counts.user_id = $1 AND counts.category = d.category)
		SELECT count(*) FROM d`
	// A read broadcast: its counts are already settled.
	deleteReadBroadcastSQL = `WITH u AS (
			UPDATE bstate SET state = 2 WHERE user_id = $1 AND nid = $2 AND state = 1 RETURNING 1)
		SELECT count(*) FROM u`
	// An unread broadcast (no state row yet): one more seen.
	deleteUnreadBroadcastSQL = `WITH b AS (
			SELECT id, category FROM notifications n
			WHERE id = $2 AND user_id IS NULL
			AND NOT EXISTS (SELECT 1 FROM bstate WHERE user_id = $1 AND nid = $2)),
		ins AS (INSERT INTO bstate (user_id, nid, state) SELECT $1, id, 2 FROM b
			ON CONFLICT (user_id, nid) DO NOTHING RETURNING nid),
		s AS (INSERT INTO bseen (user_id, category, n) SELECT $1, b.category, 1 FROM b JOIN ins ON ins.nid = b.id
			ON CONFLICT (user_id, category) DO UPDATE SET n = bseen.n + 1)
		SELECT count(*) FROM ins`
)

// Delete removes notification id from user's inbox and returns the new
// counts. A broadcast is removed for user only. It returns an ENOTFOUND
// error when id is unknown, another user's, or already deleted.
func (s *Store) Delete(ctx context.Context, user, id string) (reddot.Counts, error) {
	var out reddot.Counts
	err := s.do(ctx, []string{reddot.InboxTopic(user)}, func(w *wtx) func() error {
		n := new(int64)
		c := new(reddot.Counts)
		w.changed(n, deletePersonalSQL, user, id)
		w.changed(n, deleteReadBroadcastSQL, user, id)
		w.changed(n, deleteUnreadBroadcastSQL, user, id)
		w.counts(user, c)
		return func() error {
			if *n == 0 {
				return reddot.Errorf(reddot.ENOTFOUND, "notification %q not found", id)
			}
			out = *c
			return nil
		}
	})
	if err != nil {
		return reddot.Counts{}, err
	}
	return out, nil
}
