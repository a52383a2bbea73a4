package auth_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reddot-dev/reddot"
	"github.com/reddot-dev/reddot/auth"
)

var (
	now    = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	secret = []byte("0123456789abcdef0123456789abcdef")
)

// MustNew returns an Authenticator for o whose clock reads now.
func MustNew(tb testing.TB, o auth.Options) *auth.Authenticator {
	tb.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	a, err := auth.New(o)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return a
}

// Sign returns a token for claims signed with method and key, with a "kid"
// header when kid is not empty.
func Sign(tb testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(method, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return s
}

// unix returns now+d as a NumericDate claim value.
func unix(d time.Duration) int64 { return now.Add(d).Unix() }

// noneToken is an unsigned token with alg "none".
func noneToken(tb testing.TB, claims jwt.MapClaims) string {
	return Sign(tb, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims)
}

// wantUnauthorized fails unless err is EUNAUTHORIZED with a message that
// contains want and does not repeat token.
func wantUnauthorized(tb testing.TB, err error, token, want string) {
	tb.Helper()
	if code := reddot.ErrorCode(err); code != reddot.EUNAUTHORIZED {
		tb.Fatalf("error = %v, want code %s", err, reddot.EUNAUTHORIZED)
	}
	msg := reddot.ErrorMessage(err)
	if !strings.Contains(msg, want) {
		tb.Errorf("message = %q, want it to contain %q", msg, want)
	}
	if token != "" && strings.Contains(msg, token) {
		tb.Errorf("message %q repeats the token", msg)
	}
}

func TestSubscriberHS256(t *testing.T) {
	a := MustNew(t, auth.Options{Secret: secret})
	hs := func(c jwt.MapClaims) string { return Sign(t, jwt.SigningMethodHS256, secret, "", c) }
	tests := []struct {
		name    string
		token   string
		want    *reddot.Principal
		wantErr string
	}{
		{"grants", hs(jwt.MapClaims{"sub": "42", "exp": unix(time.Hour), "topics": []string{"private:a", "team:*"}, "publish": []string{"chat"}}),
			&reddot.Principal{User: "42", Topics: []string{"private:a", "team:*"}, Publish: []string{"chat"}, Expires: now.Add(time.Hour)}, ""},
		{"no exp", hs(jwt.MapClaims{"sub": "alice@example.com"}), &reddot.Principal{User: "alice@example.com"}, ""},
		{"comma grants", hs(jwt.MapClaims{"sub": "7", "topics": "private:a, private:b*,", "publish": "chat"}),
			&reddot.Principal{User: "7", Topics: []string{"private:a", "private:b*"}, Publish: []string{"chat"}}, ""},
		{"star grant", hs(jwt.MapClaims{"sub": "7", "topics": []string{"*"}}), &reddot.Principal{User: "7", Topics: []string{"*"}}, ""},
		{"expired within leeway", hs(jwt.MapClaims{"sub": "7", "exp": unix(-10 * time.Second)}),
			&reddot.Principal{User: "7", Expires: now.Add(-10 * time.Second)}, ""},
		{"nbf and iat within leeway", hs(jwt.MapClaims{"sub": "7", "nbf": unix(10 * time.Second), "iat": unix(10 * time.Second)}),
			&reddot.Principal{User: "7"}, ""},
		{"expired", hs(jwt.MapClaims{"sub": "7", "exp": unix(-time.Minute)}), nil, "token expired"},
		{"not yet valid", hs(jwt.MapClaims{"sub": "7", "nbf": unix(time.Minute)}), nil, "not valid yet"},
		{"issued in the future", hs(jwt.MapClaims{"sub": "7", "iat": unix(time.Hour)}), nil, "issued in the future"},
		{"exp not a number", hs(jwt.MapClaims{"sub": "7", "exp": "tomorrow"}), nil, "not a number"},
		{"wrong secret", Sign(t, jwt.SigningMethodHS256, []byte("another secret, just as long...."), "", jwt.MapClaims{"sub": "7"}), nil, "signature is invalid"},
		{"tampered", hs(jwt.MapClaims{"sub": "7"}) + "x", nil, "token"},
		{"missing sub", hs(jwt.MapClaims{"topics": []string{"a"}}), nil, "token has no valid sub"},
		{"empty sub", hs(jwt.MapClaims{"sub": ""}), nil, "token has no valid sub"},
		{"invalid sub", hs(jwt.MapClaims{"sub": "a b"}), nil, "token has no valid sub"},
		{"numeric sub", hs(jwt.MapClaims{"sub": 42}), nil, "token has no valid sub"},
		{"topics not strings", hs(jwt.MapClaims{"sub": "7", "topics": []any{"a", 1}}), nil, "invalid topics"},
		{"topics object", hs(jwt.MapClaims{"sub": "7", "topics": map[string]any{"a": true}}), nil, "invalid topics"},
		{"bad topic pattern", hs(jwt.MapClaims{"sub": "7", "topics": []string{"a b"}}), nil, "invalid topics"},
		{"bad publish pattern", hs(jwt.MapClaims{"sub": "7", "publish": "ok,**"}), nil, "invalid publish"},
		{"alg none", noneToken(t, jwt.MapClaims{"sub": "7"}), nil, "algorithm none is not accepted"},
		{"HS512", Sign(t, jwt.SigningMethodHS512, secret, "", jwt.MapClaims{"sub": "7"}), nil, "algorithm HS512 is not accepted"},
		{"unknown alg", "eyJhbGciOiJYWVoiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiI3In0.c2ln", nil, "not supported"},
		{"malformed", "not.a.jwt", nil, "malformed"},
		{"one segment", "abc", nil, "malformed"},
		{"too long", strings.Repeat("a", 20000), nil, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Subscriber(context.Background(), tt.token)
			if tt.wantErr != "" {
				wantUnauthorized(t, err, tt.token, tt.wantErr)
				if p != nil {
					t.Errorf("principal = %+v with an error", p)
				}
				return
			}
			if err != nil {
				t.Fatalf("Subscriber: %v", err)
			}
			assertPrincipal(t, p, tt.want)
		})
	}
}

func assertPrincipal(tb testing.TB, got, want *reddot.Principal) {
	tb.Helper()
	if got.User != want.User || !slices.Equal(got.Topics, want.Topics) ||
		!slices.Equal(got.Publish, want.Publish) || !got.Expires.Equal(want.Expires) {
		tb.Errorf("principal = %+v, want %+v", got, want)
	}
}

func TestAnonymous(t *testing.T) {
	for _, allow := range []bool{true, false} {
		a := MustNew(t, auth.Options{Secret: secret, AllowAnonymous: allow})
		p, err := a.Subscriber(context.Background(), "")
		if !allow {
			wantUnauthorized(t, err, "", "a subscriber token is required")
			continue
		}
		if err != nil || !p.Anonymous() {
			t.Errorf("AllowAnonymous: Subscriber(\"\") = %+v, %v; want an anonymous principal", p, err)
		}
		// A bad token is not downgraded to anonymous.
		_, err = a.Subscriber(context.Background(), "garbage")
		wantUnauthorized(t, err, "garbage", "malformed")
	}
}

func TestPublisher(t *testing.T) {
	a := MustNew(t, auth.Options{Secret: secret, APIKeys: []string{"pk_live_0123456789abcdef", " short ", ""}})
	tests := []struct {
		key  string
		want bool
	}{
		{"pk_live_0123456789abcdef", true},
		{"short", true},
		{"pk_live_0123456789abcdeF", false},
		{"pk_live_0123456789abcde", false},
		{"pk_live_0123456789abcdef ", false},
		{"", false},
		{" ", false},
	}
	for _, tt := range tests {
		if got := a.Publisher(context.Background(), tt.key); got != tt.want {
			t.Errorf("Publisher(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
	if MustNew(t, auth.Options{Secret: secret}).Publisher(context.Background(), "") {
		t.Error("Publisher(\"\") with no keys = true")
	}
}

func TestMint(t *testing.T) {
	a := MustNew(t, auth.Options{Secret: secret})
	tests := []struct {
		name string
		c    auth.Claims
		want *reddot.Principal
	}{
		{"ttl", auth.Claims{User: "42", Topics: []string{"private:x*"}, Publish: []string{"chat"}, TTL: time.Hour},
			&reddot.Principal{User: "42", Topics: []string{"private:x*"}, Publish: []string{"chat"}, Expires: now.Add(time.Hour)}},
		{"no ttl", auth.Claims{User: "bob"}, &reddot.Principal{User: "bob"}},
		{"sub-second ttl rounds up", auth.Claims{User: "bob", TTL: time.Millisecond},
			&reddot.Principal{User: "bob", Expires: now.Add(time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := auth.Mint(secret, tt.c, now)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			p, err := a.Subscriber(context.Background(), tok)
			if err != nil {
				t.Fatalf("Subscriber(minted): %v", err)
			}
			assertPrincipal(t, p, tt.want)
		})
	}

	tok, err := auth.Mint(secret, auth.Claims{User: "42", TTL: time.Minute}, now)
	if err != nil {
		t.Fatal(err)
	}
	late := MustNew(t, auth.Options{Secret: secret, Now: func() time.Time { return now.Add(2 * time.Minute) }})
	_, err = late.Subscriber(context.Background(), tok)
	wantUnauthorized(t, err, tok, "token expired")
}

func TestMintErrors(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		c      auth.Claims
	}{
		{"no secret", nil, auth.Claims{User: "42"}},
		{"no user", secret, auth.Claims{}},
		{"bad user", secret, auth.Claims{User: "a/b"}},
		{"negative ttl", secret, auth.Claims{User: "42", TTL: -time.Second}},
		{"bad topic", secret, auth.Claims{User: "42", Topics: []string{""}}},
		{"bad publish", secret, auth.Claims{User: "42", Publish: []string{"a*b"}}},
	}
	for _, tt := range tests {
		if tok, err := auth.Mint(tt.secret, tt.c, now); reddot.ErrorCode(err) != reddot.EINVALID {
			t.Errorf("%s: Mint = %q, %v; want an %s error", tt.name, tok, err, reddot.EINVALID)
		}
	}
}
