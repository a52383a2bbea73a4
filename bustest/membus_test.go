package bustest_test

import (
	"testing"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/bustest"
	"github.com/reddot-dev/reddot/membus"
)

func TestMembus(t *testing.T) {
	bustest.Run(t, bustest.Harness{
		New: func(tb testing.TB, ns string, o bustest.Options) reddot.Bus {
			b := membus.New()
			tb.Cleanup(func() { _ = b.Close() })
			return b
		},
	})
}
