package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/postgres"
	"github.com/reddot-dev/reddot/postgres/pgtest"
	"github.com/reddot-dev/reddot/storetest"
)

// MustOpen opens a store on url and closes it when tb ends.
func MustOpen(tb testing.TB, url string, o postgres.Options) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), url, o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func options(o storetest.Options) postgres.Options {
	return postgres.Options{Retention: o.Retention, Now: o.Now}
}

func TestStore(t *testing.T) {
	pgtest.URL(t)
	var urls sync.Map // reddot.Store → URL of its schema
	storetest.Run(t, storetest.Harness{
		New: func(tb testing.TB, o storetest.Options) reddot.Store {
			tb.Helper()
			url := pgtest.Schema(tb)
			s := MustOpen(tb, url, options(o))
			urls.Store(reddot.Store(s), url)
			return s
		},
		Reopen: func(tb testing.TB, s reddot.Store, o storetest.Options) reddot.Store {
			tb.Helper()
			url, ok := urls.Load(s)
			if !ok {
				tb.Fatal("Reopen: unknown store")
			}
			if err := s.Close(); err != nil {
				tb.Fatalf("Close: %v", err)
			}
			s2 := MustOpen(tb, url.(string), options(o))
			urls.Store(reddot.Store(s2), url)
			return s2
		},
	})
}
