package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations returns the embedded migration scripts in order; script i
// brings the schema to version i+1.
func migrations() ([]string, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, n := range names {
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// migrate brings the database to the latest schema version and returns its
// epoch, creating one on first use. It runs in one IMMEDIATE transaction on
// the write connection, so concurrent openers serialize.
func migrate(ctx context.Context, c *sql.Conn) (epoch uint32, err error) {
	scripts, err := migrations()
	if err != nil {
		return 0, err
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if _, err = c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS meta (
		key   TEXT NOT NULL PRIMARY KEY,
		value ANY
	) WITHOUT ROWID`); err != nil {
		return 0, err
	}
	var version int
	err = c.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if version > len(scripts) {
		return 0, fmt.Errorf("schema version %d is newer than this build knows (%d)", version, len(scripts))
	}
	for v := version; v < len(scripts); v++ {
		if _, err = c.ExecContext(ctx, scripts[v]); err != nil {
			return 0, fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	if _, err = c.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('schema_version', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, len(scripts)); err != nil {
		return 0, err
	}
	if _, err = c.ExecContext(ctx, `INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)`,
		int64(newEpoch())); err != nil {
		return 0, err
	}
	var e int64
	if err = c.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'epoch'`).Scan(&e); err != nil {
		return 0, err
	}
	if _, err = c.ExecContext(ctx, "COMMIT"); err != nil {
		return 0, err
	}
	return uint32(e), nil
}

// newEpoch returns a random non-zero uint32.
func newEpoch() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if e := binary.BigEndian.Uint32(b[:]); e != 0 {
			return e
		}
	}
}
