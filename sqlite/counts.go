package sqlite

import (
	"context"
	"database/sql"
	"maps"
	"strings"

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

// countsOf returns the counts of several users as the open transaction
// sees them, with two queries whatever the number of users.
func (w *wtx) countsOf(users []string) (map[string]reddot.Counts, error) {
	args := make([]any, len(users))
	for i, u := range users {
		args[i] = u
	}
	in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(users)), ", ") + ")"
	r, err := w.query(`SELECT user_id, category, SUM(n) FROM (
		SELECT user_id, category, n FROM counts WHERE user_id IN `+in+`
		UNION ALL SELECT user_id, category, -n FROM bseen WHERE user_id IN `+in+`
	) GROUP BY user_id, category`, append(args, args...)...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := make(map[string]reddot.Counts, len(users))
	for _, u := range users {
		out[u] = reddot.Counts{Categories: map[string]int64{}}
	}
	for r.Next() {
		var u, cat string
		var n int64
		if err := r.Scan(&u, &cat, &n); err != nil {
			return nil, err
		}
		out[u].Categories[cat] += n
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	b, err := w.query(`SELECT category, n FROM bcounts`)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	for b.Next() {
		var cat string
		var n int64
		if err := b.Scan(&cat, &n); err != nil {
			return nil, err
		}
		for _, c := range out {
			c.Categories[cat] += n
		}
	}
	if err := b.Err(); err != nil {
		return nil, err
	}
	for u, c := range out {
		out[u] = c.Normalize()
	}
	return out, nil
}

func sameCounts(a, b reddot.Counts) bool {
	return a.Total == b.Total && maps.Equal(a.Categories, b.Categories)
}
