package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reddot-dev/reddot/auth"
)

// BenchmarkSubscriber is the token check every connection pays: an HS256
// token with a subject, an expiry and topic grants, as reddot mint writes.
func BenchmarkSubscriber(b *testing.B) {
	a := MustNew(b, auth.Options{Secret: secret})
	tok := Sign(b, jwt.SigningMethodHS256, secret, "", jwt.MapClaims{
		"sub": "bench-3f2a9c-1234", "iat": unix(0), "exp": unix(time.Hour), "topics": []string{"news", "private:team*"},
	})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Subscriber(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
