package sqlite

import (
	"context"
	"database/sql"

	"github.com/reddot-dev/reddot"
)

// Broadcast states per user in bstate; no row means unread.
const (
	stateRead    = 1
	stateDeleted = 2
)

// MarkRead marks user's notifications read and returns the new counts and
// whether they changed. r.All marks everything; otherwise r.Category marks
// that category and r.IDs those items (both may be given). Ids that are
// unknown or belong to another user are ignored.
func (s *Store) MarkRead(ctx context.Context, user string, r reddot.ReadRequest) (reddot.Counts, bool, error) {
	var out reddot.Counts
	var changed bool
	err := s.do(ctx, func(w *wtx) error {
		before, err := w.counts(user)
		if err != nil {
			return err
		}
		switch {
		case r.All:
			err = w.readAll(user, "")
		case r.Category != "":
			err = w.readAll(user, r.Category)
		}
		if err != nil {
			return err
		}
		if !r.All {
			for _, id := range r.IDs {
				if err := w.readOne(user, id); err != nil {
					return err
				}
			}
		}
		if out, err = w.counts(user); err != nil {
			return err
		}
		changed = !sameCounts(before, out)
		return nil
	})
	if err != nil {
		return reddot.Counts{}, false, err
	}
	return out, changed, nil
}

// readAll marks read all of user's items, of category cat unless it is "".
func (w *wtx) readAll(user, cat string) error {
	var personal int64
	if err := w.scan(`SELECT COALESCE(SUM(n), 0) FROM counts WHERE user_id = ?1 AND (?2 = '' OR category = ?2)`,
		[]any{user, cat}, &personal); err != nil {
		return err
	}
	if personal > 0 {
		if _, err := w.exec(`UPDATE notifications SET read_at = ?3
			WHERE user_id = ?1 AND read_at IS NULL AND (?2 = '' OR category = ?2)`,
			user, cat, w.now.UnixNano()); err != nil {
			return err
		}
		if _, err := w.exec(`UPDATE counts SET n = 0 WHERE user_id = ?1 AND (?2 = '' OR category = ?2)`,
			user, cat); err != nil {
			return err
		}
	}
	// Categories with broadcasts the user has neither read nor deleted.
	rows, err := w.query(`SELECT b.category FROM bcounts b
		LEFT JOIN bseen s ON s.user_id = ?1 AND s.category = b.category
		WHERE (?2 = '' OR b.category = ?2) AND b.n > COALESCE(s.n, 0)`, user, cat)
	if err != nil {
		return err
	}
	var cats []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return err
		}
		cats = append(cats, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cats {
		if _, err := w.exec(`INSERT OR IGNORE INTO bstate (user_id, nid, state)
			SELECT ?1, id, 1 FROM notifications WHERE user_id IS NULL AND category = ?2`, user, c); err != nil {
			return err
		}
		// Every broadcast of c now has a state row for user.
		if _, err := w.exec(`INSERT INTO bseen (user_id, category, n)
			SELECT ?1, category, n FROM bcounts WHERE category = ?2
			ON CONFLICT (user_id, category) DO UPDATE SET n = excluded.n`, user, c); err != nil {
			return err
		}
	}
	return nil
}

// lookup returns the owner ("" for a broadcast), category and read state of
// a notification; found is false for an unknown id.
func (w *wtx) lookup(id string) (owner sql.NullString, cat string, unread, found bool, err error) {
	err = w.scan(`SELECT user_id, category, read_at IS NULL FROM notifications WHERE id = ?`,
		[]any{id}, &owner, &cat, &unread)
	if isNoRows(err) {
		return owner, "", false, false, nil
	}
	return owner, cat, unread, err == nil, err
}

// readOne marks one item read if it is user's own or a broadcast.
func (w *wtx) readOne(user, id string) error {
	owner, cat, unread, found, err := w.lookup(id)
	switch {
	case err != nil || !found:
		return err
	case owner.Valid && owner.String == user && unread:
		if _, err := w.exec(`UPDATE notifications SET read_at = ? WHERE id = ?`, w.now.UnixNano(), id); err != nil {
			return err
		}
		_, err := w.exec(`UPDATE counts SET n = n - 1 WHERE user_id = ? AND category = ?`, user, cat)
		return err
	case !owner.Valid:
		n, err := w.changed(`INSERT OR IGNORE INTO bstate (user_id, nid, state) VALUES (?, ?, 1)`, user, id)
		if err != nil || n == 0 {
			return err
		}
		return w.bseen(user, cat)
	}
	return nil
}

// bseen records one more broadcast of cat read or deleted by user.
func (w *wtx) bseen(user, cat string) error {
	_, err := w.exec(`INSERT INTO bseen (user_id, category, n) VALUES (?, ?, 1)
		ON CONFLICT (user_id, category) DO UPDATE SET n = n + 1`, user, cat)
	return err
}

// Delete removes notification id from user's inbox and returns the new
// counts. A broadcast is removed for user only. It returns an ENOTFOUND
// error when id is unknown, another user's, or already deleted.
func (s *Store) Delete(ctx context.Context, user, id string) (reddot.Counts, error) {
	var out reddot.Counts
	err := s.do(ctx, func(w *wtx) error {
		if err := w.delete(user, id); err != nil {
			return err
		}
		var err error
		out, err = w.counts(user)
		return err
	})
	if err != nil {
		return reddot.Counts{}, err
	}
	return out, nil
}

func (w *wtx) delete(user, id string) error {
	notFound := reddot.Errorf(reddot.ENOTFOUND, "notification %q not found", id)
	owner, cat, unread, found, err := w.lookup(id)
	switch {
	case err != nil:
		return err
	case !found || (owner.Valid && owner.String != user):
		return notFound
	case owner.Valid:
		if _, err := w.exec(`DELETE FROM notifications WHERE id = ?`, id); err != nil || !unread {
			return err
		}
		_, err := w.exec(`UPDATE counts SET n = n - 1 WHERE user_id = ? AND category = ?`, user, cat)
		return err
	}
	var state int
	err = w.scan(`SELECT state FROM bstate WHERE user_id = ? AND nid = ?`, []any{user, id}, &state)
	switch {
	case isNoRows(err):
		if _, err := w.exec(`INSERT INTO bstate (user_id, nid, state) VALUES (?, ?, 2)`, user, id); err != nil {
			return err
		}
		return w.bseen(user, cat)
	case err != nil:
		return err
	case state == stateDeleted:
		return notFound
	}
	_, err = w.exec(`UPDATE bstate SET state = 2 WHERE user_id = ? AND nid = ?`, user, id)
	return err
}
