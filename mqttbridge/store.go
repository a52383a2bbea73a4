package mqttbridge

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// record is what survives a restart of one persistent MQTT session: who
// owns it, what it subscribes to and how far it has acknowledged each
// topic. The events themselves stay in reddot's store.
type record struct {
	ID      string          // internal client id, "<owner>/<client id>"
	User    string          // owner of the cursor ("" for API keys and anonymous)
	Version byte            // MQTT protocol version of the last connection
	Expiry  uint32          // seconds the session outlives its connection
	Subs    map[string]byte // MQTT filter → granted QoS
	Cursor  string          // resume position, a reddot cursor of User
	Offline int64           // unix seconds since the session is offline, 0 while connected
}

// sessionStore keeps records. Implementations need not be safe for
// concurrent use: the broker calls them from one goroutine at a time.
type sessionStore interface {
	load(ctx context.Context) ([]record, error)
	save(ctx context.Context, put []record, del []string) error
	close() error
}

// memStore keeps nothing: sessions survive disconnects but not restarts.
type memStore struct{}

func (memStore) load(context.Context) ([]record, error)         { return nil, nil }
func (memStore) save(context.Context, []record, []string) error { return nil }
func (memStore) close() error                                   { return nil }

// sqliteStore keeps records in one SQLite file. Checkpoints are batched in
// one transaction; synchronous=NORMAL is enough because a lost checkpoint
// only means a few events are delivered again (QoS 1 is at least once).
type sqliteStore struct{ db *sql.DB }

const sessionsSchema = `CREATE TABLE IF NOT EXISTS mqtt_sessions (
	id      TEXT PRIMARY KEY,
	user    TEXT NOT NULL,
	version INTEGER NOT NULL,
	expiry  INTEGER NOT NULL,
	subs    TEXT NOT NULL,
	cursor  TEXT NOT NULL,
	offline INTEGER NOT NULL
) WITHOUT ROWID`

func openSQLiteStore(ctx context.Context, path string) (*sqliteStore, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, sessionsSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("mqtt sessions %s: %w", abs, err)
	}
	return &sqliteStore{db: db}, nil
}

func (s *sqliteStore) load(ctx context.Context) ([]record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, user, version, expiry, subs, cursor, offline FROM mqtt_sessions`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var r record
		var subs string
		if err := rows.Scan(&r.ID, &r.User, &r.Version, &r.Expiry, &subs, &r.Cursor, &r.Offline); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(subs), &r.Subs); err != nil {
			return nil, fmt.Errorf("mqtt session %q: bad subscriptions: %w", r.ID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *sqliteStore) save(ctx context.Context, put []record, del []string) error {
	if len(put) == 0 && len(del) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, id := range del {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mqtt_sessions WHERE id = ?`, id); err != nil {
			return err
		}
	}
	for _, r := range put {
		subs, _ := json.Marshal(r.Subs)
		_, err := tx.ExecContext(ctx, `INSERT INTO mqtt_sessions (id, user, version, expiry, subs, cursor, offline)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET user = excluded.user, version = excluded.version, expiry = excluded.expiry,
				subs = excluded.subs, cursor = excluded.cursor, offline = excluded.offline`,
			r.ID, r.User, r.Version, r.Expiry, string(subs), r.Cursor, r.Offline)
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *sqliteStore) close() error { return s.db.Close() }
