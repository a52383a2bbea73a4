package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// migrateLock is the first key of the advisory lock that serializes nodes
// migrating the same schema; the second is a hash of the schema name.
const migrateLock = 0x7265_6464 // "redd"

// migrate brings the schema first on search_path to the latest version and
// returns its epoch, creating one on first use. Concurrent openers (several
// nodes starting at once) serialize on an advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool) (epoch uint32, err error) {
	scripts, err := migrations()
	if err != nil {
		return 0, err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("cannot connect: %w", err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	var schema *string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return 0, err
	}
	if schema == nil {
		return 0, errors.New("no schema to create tables in: create the schema named in search_path first")
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, migrateLock, *schema); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS meta (
		key   text PRIMARY KEY,
		value bigint NOT NULL
	)`); err != nil {
		return 0, fmt.Errorf("schema %s: %w", *schema, err)
	}
	var version int
	err = tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&version)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	if version > len(scripts) {
		return 0, fmt.Errorf("schema version %d is newer than this build knows (%d)", version, len(scripts))
	}
	for v := version; v < len(scripts); v++ {
		if _, err := tx.Exec(ctx, scripts[v]); err != nil {
			return 0, fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ('schema_version', $1)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, len(scripts)); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ('epoch', $1)
		ON CONFLICT (key) DO NOTHING`, int64(newEpoch())); err != nil {
		return 0, err
	}
	var e int64
	if err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'epoch'`).Scan(&e); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
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
