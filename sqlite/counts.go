package sqlite

import (
	"context"
	"database/sql"
	"maps"

	"github.com/reddot-dev/reddot"
)

// countsSQL reads a user's unread counts from the counter tables: personal
// unread plus broadcasts sent minus broadcasts the user has read or deleted.
// Its cost depends on the number of categories, not of notifications.
const countsSQL = `SELECT category, SUM(n) FROM (
	SELECT category, n FROM counts WHERE user_id = ?1
	UNION ALL SELECT category, n FROM bcounts
	UNION ALL SELECT category, -n FROM bseen WHERE user_id = ?1
) GROUP BY category HAVING SUM(n) > 0`

func scanCounts(rows *sql.Rows, err error) (reddot.Counts, error) {
	if err != nil {
		return reddot.Counts{}, err
	}
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
func (s *Store) Unread(ctx context.Context, user string) (reddot.Counts, error) {
	return scanCounts(s.rdb.QueryContext(ctx, countsSQL, user))
}

// counts returns user's counts as the open batch transaction sees them.
func (w *wtx) counts(user string) (reddot.Counts, error) {
	return scanCounts(w.query(countsSQL, user))
}

func sameCounts(a, b reddot.Counts) bool {
	return a.Total == b.Total && maps.Equal(a.Categories, b.Categories)
}
