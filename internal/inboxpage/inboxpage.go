// Package inboxpage turns the rows of an inbox query into a page; the SQL
// stores share it because their drivers' rows have the same shape.
package inboxpage

import (
	"encoding/json"
	"time"

	"github.com/reddot-dev/reddot"
)

// Rows is what database/sql and pgx result sets have in common.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Scan reads up to limit+1 rows of (id, category, title, body, url, data,
// time in unix nanos, read, broadcast) and returns at most limit items and
// the id to continue before, empty when there is nothing more.
func Scan(rows Rows, user string, limit int) ([]reddot.Notification, string, error) {
	items := make([]reddot.Notification, 0, limit+1)
	for rows.Next() {
		var n reddot.Notification
		var data []byte
		var ns int64
		if err := rows.Scan(&n.ID, &n.Category, &n.Title, &n.Body, &n.URL, &data, &ns,
			&n.Read, &n.Broadcast); err != nil {
			return nil, "", err
		}
		if len(data) > 0 {
			n.Data = json.RawMessage(data)
		}
		n.Time = time.Unix(0, ns).UTC()
		if !n.Broadcast {
			n.User = user
		}
		items = append(items, n)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = items[limit-1].ID
	}
	return items, next, nil
}
