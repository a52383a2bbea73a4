package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/reddot-dev/reddot"
)

// countsSQL reads a user's unread counts from the counter tables: personal
// unread plus broadcasts sent minus broadcasts the user has read or deleted.
// Its cost depends on the number of categories, not of notifications.
const countsSQL = `SELECT category, SUM(n)::bigint FROM (
		SELECT category, n FROM counts WHERE user_id = $1
		UNION ALL SELECT category, n FROM bcounts
		UNION ALL SELECT category, -n FROM bseen WHERE user_id = $1) x
	GROUP BY category HAVING SUM(n) > 0`

func scanCounts(rows pgx.Rows) (reddot.Counts, error) {
	defer rows.Close()
	c := reddot.Counts{Categories: map[string]int64{}}
	for rows.Next() {
		var cat string
		var n int64
		if err := rows.Scan(&cat, &n); err != nil {
			return reddot.Counts{}, err
		}
		c.Categories[cat] = n
	}
	if err := rows.Err(); err != nil {
		return reddot.Counts{}, err
	}
	return c.Normalize(), nil
}

// Unread returns user's unread counts, personal and broadcast.
func (s *Store) Unread(ctx context.Context, user string) (c reddot.Counts, err error) {
	err = s.read(ctx, func() error {
		rows, err := s.pool.Query(ctx, countsSQL, user)
		if err != nil {
			return err
		}
		c, err = scanCounts(rows)
		return err
	})
	return c, err
}

// counts queues a read of user's counts as the transaction sees them at
// that point into dst.
func (w *wtx) counts(user string, dst *reddot.Counts) {
	w.queue(countsSQL, user).Query(func(rows pgx.Rows) error {
		c, err := scanCounts(rows)
		*dst = c
		return err
	})
}
