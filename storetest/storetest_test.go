package storetest

import (
	"testing"
	"time"

	"github.com/reddot-dev/reddot"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewClock(t0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			c.Advance(time.Second)
		}
	}()
	for range 100 {
		_ = c.Now()
	}
	<-done
	if got := c.Now().Sub(t0); got != 100*time.Second {
		t.Errorf("clock advanced %v, want 100s", got)
	}
}

func TestMessages(t *testing.T) {
	for _, m := range []reddot.Message{Topic("t", `1`), Notify("c", "x", "u1", "u2"), Broadcast("c", "x")} {
		if err := m.Validate(reddot.Limits{}); err != nil {
			t.Errorf("%+v: %v", m, err)
		}
	}
	if k := Broadcast("c", "x"); k.Kind() != reddot.KindBroadcast {
		t.Errorf("Broadcast kind %q", k.Kind())
	}
}
