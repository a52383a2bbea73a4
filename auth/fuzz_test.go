package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/auth"
)

func FuzzSubscriber(f *testing.F) {
	hs := func(c jwt.MapClaims) string { return Sign(f, jwt.SigningMethodHS256, secret, "", c) }
	k := keys()
	for _, s := range []string{
		"",
		"abc",
		"a.b.c",
		hs(jwt.MapClaims{"sub": "42", "exp": unix(time.Hour), "topics": []string{"private:*"}, "publish": "a,b"}),
		hs(jwt.MapClaims{"sub": "42", "exp": unix(-time.Hour)}),
		hs(jwt.MapClaims{"sub": "a b"}),
		hs(jwt.MapClaims{"sub": "42", "exp": 1e300, "nbf": -1e300, "topics": []any{1}}),
		noneToken(f, jwt.MapClaims{"sub": "42"}),
		Sign(f, jwt.SigningMethodES256, k.ec1, "ec-1", jwt.MapClaims{"sub": "42"}),
		Sign(f, jwt.SigningMethodRS256, k.rsa1, "", jwt.MapClaims{"sub": "42"}),
	} {
		f.Add(s)
	}
	a := MustNew(f, auth.Options{
		Secret: secret,
		JWKS:   jwks(f, jwkOf(f, "ec-1", &k.ec1.PublicKey), jwkOf(f, "rsa-1", &k.rsa1.PublicKey)),
	})
	f.Fuzz(func(t *testing.T, token string) {
		p, err := a.Subscriber(context.Background(), token)
		if err != nil {
			if p != nil {
				t.Fatalf("principal %+v with error %v", p, err)
			}
			if code := reddot.ErrorCode(err); code != reddot.EUNAUTHORIZED {
				t.Fatalf("error code %s, want %s: %v", code, reddot.EUNAUTHORIZED, err)
			}
			return
		}
		if !reddot.ValidUser(p.User) {
			t.Fatalf("accepted a token with user %q", p.User)
		}
	})
}
