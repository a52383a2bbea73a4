package sqlite

import (
	"context"
	"database/sql"
	"strings"

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
func (s *Store) Inbox(ctx context.Context, user string, q reddot.InboxQuery) ([]reddot.Notification, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultInboxLimit
	}
	limit = min(limit, MaxInboxLimit)
	var personalCond, broadcastCond string
	switch q.Status {
	case "", "all":
	case "unread":
		personalCond, broadcastCond = " AND read_at IS NULL", " AND b.state IS NULL"
	case "read":
		personalCond, broadcastCond = " AND read_at IS NOT NULL", " AND b.state = 1"
	default:
		return nil, "", reddot.Errorf(reddot.EINVALID, "invalid status %q: want unread, read or all", q.Status)
	}

	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = tx.Rollback() }()

	var filter strings.Builder
	var fargs []any
	if q.Before != "" {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM notifications
			WHERE id = ?1 AND (user_id = ?2 OR user_id IS NULL)`, q.Before, user).Scan(&one)
		if isNoRows(err) {
			return nil, "", reddot.Errorf(reddot.EINVALID, "unknown before id %q", q.Before)
		} else if err != nil {
			return nil, "", err
		}
		filter.WriteString(" AND n.id < ?")
		fargs = append(fargs, q.Before)
	}
	if q.Category != "" {
		filter.WriteString(" AND n.category = ?")
		fargs = append(fargs, q.Category)
	}

	// Each side is read newest first through its index and cut at limit+1;
	// the merge keeps the newest limit+1 to know whether more follow.
	const cols = `n.id, n.category, n.title, n.body, n.url, n.data, n.time`
	query := `SELECT * FROM (SELECT ` + cols + `, read_at IS NOT NULL, 0 FROM notifications n
			WHERE n.user_id = ?` + filter.String() + personalCond + ` ORDER BY n.id DESC LIMIT ?)
		UNION ALL
		SELECT * FROM (SELECT ` + cols + `, b.state IS NOT NULL, 1 FROM notifications n
			LEFT JOIN bstate b ON b.user_id = ? AND b.nid = n.id
			WHERE n.user_id IS NULL AND (b.state IS NULL OR b.state = 1)` + filter.String() + broadcastCond + `
			ORDER BY n.id DESC LIMIT ?)
		ORDER BY 1 DESC LIMIT ?`
	args := make([]any, 0, 2*len(fargs)+5)
	args = append(args, user)
	args = append(args, fargs...)
	args = append(args, limit+1, user)
	args = append(args, fargs...)
	args = append(args, limit+1, limit+1)

	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	return inboxpage.Scan(rows, user, limit)
}
