package mqttbridge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/reddot-dev/reddot/auth"
	"github.com/reddot-dev/reddot/engine"
	"github.com/reddot-dev/reddot/membus"
	"github.com/reddot-dev/reddot/mqttbridge"
	"github.com/reddot-dev/reddot/sqlite"
)

// Once Start returns, /mqtt accepts WebSocket clients: mochi starts its
// listeners on goroutines of their own, and a client arriving before the
// WebSocket one ran used to get 503 "the MQTT broker is not running".
func TestWebSocketIsServedAsSoonAsStartReturns(t *testing.T) {
	// With one P a goroutine started inside Start runs only once this one
	// waits, which is what makes the gap show every time.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := context.Background()
	a, err := auth.New(auth.Options{Secret: []byte(testSecret), APIKeys: []string{testKey}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		dir := t.TempDir()
		st, err := sqlite.Open(ctx, filepath.Join(dir, "reddot.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		eng := engine.New(engine.Options{Store: st, Bus: membus.New(), Logger: testLogger(t)})
		b, err := mqttbridge.New(ctx, mqttbridge.Options{Engine: eng, Auth: a, Logger: testLogger(t), SessionsPath: filepath.Join(dir, "mqtt-sessions.db")})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/mqtt", nil)) // not an upgrade: refused by the WebSocket handshake, not by a missing broker
		_ = b.Close()
		_ = st.Close()
		if rec.Code == http.StatusServiceUnavailable {
			t.Fatalf("start %d: /mqtt answered 503 right after Start: %s", i, rec.Body)
		}
	}
}
