package bustest

import (
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
)

// Service returns the address of an outside service from the environment
// variable env, skipping tb with one line when it is unset, or failing it
// when CI=true.
func Service(tb testing.TB, env, what string) string {
	tb.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set: %s tests cannot run on CI", env, what)
		}
		tb.Skipf("%s tests skipped: %s is not set", what, env)
	}
	return v
}

// WithHost returns raw with its host:port replaced by hostport (when not
// empty) and the query parameter key set to value (when key is not empty).
func WithHost(tb testing.TB, raw, hostport, key, value string) string {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("bad URL %q: %v", raw, err)
	}
	if hostport != "" {
		u.Host = hostport
	}
	if key != "" {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Host returns the host:port of a URL.
func Host(tb testing.TB, raw string) string {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatalf("bad URL %q: %v", raw, err)
	}
	return u.Host
}

// Logger returns a logger that writes to tb's log, shown when the test
// fails or runs with -v. Do not log through it after tb has ended.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
