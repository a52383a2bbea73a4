package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/internal/inboxpage"
)

// Inbox page sizes.
const (
	DefaultInboxLimit = 20
	MaxInboxLimit     = 100
)

// Inbox lists user's personal items and the broadcasts user has not deleted,
// newest first. q.Limit <= 0 means DefaultInboxLimit and is capped at
// MaxInboxLimit. q.Before must be the id of an item of this inbox (EINVALID
// otherwise); q.Status is "unread", "read", "all" or "". next is the id to
// pass as Before for the following page, "" when there is none.
func (s *Store) Inbox(ctx context.Context, user string, q reddot.InboxQuery) (items []reddot.Notification, next string, err error) {
	err = s.read(ctx, func() error {
		items, next, err = s.inbox(ctx, user, q)
		return err
	})
	return items, next, err
}

func (s *Store) inbox(ctx context.Context, user string, q reddot.InboxQuery) ([]reddot.Notification, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultInboxLimit
	}
	limit = min(limit, MaxInboxLimit)
	var personalCond, broadcastCond string
	switch q.Status {
	case "", "all":
	case "unread":
		personalCond, broadcastCond = " AND n.read_at IS NULL", " AND b.state IS NULL"
	case "read":
		personalCond, broadcastCond = " AND n.read_at IS NOT NULL", " AND b.state = 1"
	default:
		return nil, "", reddot.Errorf(reddot.EINVALID, "invalid status %q: want unread, read or all", q.Status)
	}
	args := []any{user, limit + 1}
	var filter strings.Builder
	if q.Before != "" {
		var one int
		err := s.pool.QueryRow(ctx, `SELECT 1 FROM notifications
			WHERE id = $1 AND (user_id = $2 OR user_id IS NULL)`, q.Before, user).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, "", reddot.Errorf(reddot.EINVALID, "unknown before id %q", q.Before)
		} else if err != nil {
			return nil, "", err
		}
		args = append(args, q.Before)
		filter.WriteString(" AND n.id < $" + strconv.Itoa(len(args)))
	}
	if q.Category != "" {
		args = append(args, q.Category)
		filter.WriteString(" AND n.category = $" + strconv.Itoa(len(args)))
	}

	// Each side is read newest first through its index and cut at limit+1;
	// the merge keeps the newest limit+1 to know whether more follow. One
	// statement, so one snapshot.
	const cols = `n.id, n.category, n.title, n.body, n.url, n.data, n.time`
	query := `(SELECT ` + cols + `, n.read_at IS NOT NULL, false FROM notifications n
			WHERE n.user_id = $1` + filter.String() + personalCond + ` ORDER BY n.id DESC LIMIT $2)
		UNION ALL
		(SELECT ` + cols + `, b.state IS NOT NULL, true FROM notifications n
			LEFT JOIN bstate b ON b.user_id = $1 AND b.nid = n.id
			WHERE n.user_id IS NULL AND (b.state IS NULL OR b.state = 1)` + filter.String() + broadcastCond + `
			ORDER BY n.id DESC LIMIT $2)
		ORDER BY 1 DESC LIMIT $2`
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	return inboxpage.Scan(rows, user, limit)
}
