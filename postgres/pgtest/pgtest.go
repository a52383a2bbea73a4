// Package pgtest gives tests a PostgreSQL schema of their own.
//
// The server comes from REDDOT_TEST_POSTGRES (for example
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable). When it is unset
// the test is skipped, or fails when CI=true.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable that names the test server.
const Env = "REDDOT_TEST_POSTGRES"

// URL returns the server URL from Env, skipping tb (failing it on CI) when
// it is unset.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set: PostgreSQL tests cannot run on CI", Env)
		}
		tb.Skipf("PostgreSQL tests skipped: %s is not set", Env)
	}
	return u
}

// Schema creates an empty schema, drops it when tb ends, and returns a URL
// whose connections use it (search_path).
func Schema(tb testing.TB) string {
	tb.Helper()
	base := URL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "rd_test_" + hex.EncodeToString(b[:])
	exec(tb, base, `CREATE SCHEMA `+name)
	tb.Cleanup(func() { exec(tb, base, `DROP SCHEMA `+name+` CASCADE`) })
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", Env, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs one statement on its own connection to url.
func Exec(tb testing.TB, url, sql string, args ...any) {
	tb.Helper()
	exec(tb, url, sql, args...)
}

func exec(tb testing.TB, url, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("connect to %s: %v", Env, err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}
