package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/sqlite"
	"github.com/reddot-dev/reddot/storetest"
)

// MustOpen opens a store at path and closes it when tb ends.
func MustOpen(tb testing.TB, path string, o sqlite.Options) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func options(o storetest.Options) sqlite.Options {
	return sqlite.Options{Retention: o.Retention, Now: o.Now}
}

func TestStore(t *testing.T) {
	var paths sync.Map // reddot.Store → path
	storetest.Run(t, storetest.Harness{
		New: func(tb testing.TB, o storetest.Options) reddot.Store {
			tb.Helper()
			path := filepath.Join(tb.TempDir(), "reddot.db")
			s := MustOpen(tb, path, options(o))
			paths.Store(reddot.Store(s), path)
			return s
		},
		Reopen: func(tb testing.TB, s reddot.Store, o storetest.Options) reddot.Store {
			tb.Helper()
			path, ok := paths.Load(s)
			if !ok {
				tb.Fatal("Reopen: unknown store")
			}
			if err := s.Close(); err != nil {
				tb.Fatalf("Close: %v", err)
			}
			s2 := MustOpen(tb, path.(string), options(o))
			paths.Store(reddot.Store(s2), path)
			return s2
		},
	})
}
