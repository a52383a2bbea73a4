package reddot

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	idMu      sync.Mutex
	idEntropy = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a new ULID: sortable by time, unique within the process.
func NewID(t time.Time) string {
	idMu.Lock()
	id := ulid.MustNew(ulid.Timestamp(t), idEntropy)
	idMu.Unlock()
	return id.String()
}
