package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reddot-dev/reddot/auth"
)

// Keys are generated once: RSA generation is slow under -race.
var keys = sync.OnceValue(func() (k struct {
	rsa1, rsa2 *rsa.PrivateKey
	ec1, ec2   *ecdsa.PrivateKey
}) {
	var err error
	for _, p := range []**rsa.PrivateKey{&k.rsa1, &k.rsa2} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	}
	for _, p := range []**ecdsa.PrivateKey{&k.ec1, &k.ec2} {
		if *p, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	}
	return k
})

func pemKey(tb testing.TB, typ string, pub any) []byte {
	tb.Helper()
	var der []byte
	var err error
	if typ == "RSA PUBLIC KEY" {
		der = x509.MarshalPKCS1PublicKey(pub.(*rsa.PublicKey))
	} else if der, err = x509.MarshalPKIXPublicKey(pub); err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwkOf(tb testing.TB, kid string, pub any) map[string]string {
	tb.Helper()
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	case *ecdsa.PublicKey:
		raw, err := pub.Bytes()
		if err != nil {
			tb.Fatal(err)
		}
		return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
	}
	tb.Fatalf("jwkOf(%T)", pub)
	return nil
}

func jwks(tb testing.TB, ks ...map[string]string) []byte {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"keys": ks})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestRS256PEM(t *testing.T) {
	k := keys()
	claims := jwt.MapClaims{"sub": "42", "exp": unix(time.Hour), "topics": []string{"private:a"}}
	for _, typ := range []string{"PUBLIC KEY", "RSA PUBLIC KEY"} {
		a := MustNew(t, auth.Options{PublicKeyPEM: pemKey(t, typ, &k.rsa1.PublicKey)})
		p, err := a.Subscriber(context.Background(), Sign(t, jwt.SigningMethodRS256, k.rsa1, "", claims))
		if err != nil || p.User != "42" || len(p.Topics) != 1 {
			t.Errorf("%s: Subscriber = %+v, %v", typ, p, err)
		}
		// A PEM key has no kid, so a token's kid does not matter.
		if _, err := a.Subscriber(context.Background(), Sign(t, jwt.SigningMethodRS256, k.rsa1, "any", claims)); err != nil {
			t.Errorf("%s: token with kid: %v", typ, err)
		}
		tok := Sign(t, jwt.SigningMethodRS256, k.rsa2, "", claims)
		_, err = a.Subscriber(context.Background(), tok)
		wantUnauthorized(t, err, tok, "signature is invalid")
		tok = Sign(t, jwt.SigningMethodES256, k.ec1, "", claims)
		_, err = a.Subscriber(context.Background(), tok)
		wantUnauthorized(t, err, tok, "algorithm ES256 is not accepted")
	}
}

func TestAlgorithmConfusion(t *testing.T) {
	k := keys()
	pubPEM := pemKey(t, "PUBLIC KEY", &k.rsa1.PublicKey)
	forged := Sign(t, jwt.SigningMethodHS256, pubPEM, "", jwt.MapClaims{"sub": "admin"})

	a := MustNew(t, auth.Options{PublicKeyPEM: pubPEM})
	_, err := a.Subscriber(context.Background(), forged)
	wantUnauthorized(t, err, forged, "algorithm HS256 is not accepted")

	both := MustNew(t, auth.Options{Secret: secret, PublicKeyPEM: pubPEM})
	_, err = both.Subscriber(context.Background(), forged)
	wantUnauthorized(t, err, forged, "signature is invalid")

	hsOnly := MustNew(t, auth.Options{Secret: secret})
	rs := Sign(t, jwt.SigningMethodRS256, k.rsa1, "", jwt.MapClaims{"sub": "admin"})
	_, err = hsOnly.Subscriber(context.Background(), rs)
	wantUnauthorized(t, err, rs, "algorithm RS256 is not accepted")
}

func TestES256JWKS(t *testing.T) {
	k := keys()
	a := MustNew(t, auth.Options{JWKS: jwks(t,
		jwkOf(t, "ec-1", &k.ec1.PublicKey),
		jwkOf(t, "ec-2", &k.ec2.PublicKey),
		jwkOf(t, "rsa-1", &k.rsa1.PublicKey),
		map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "AAAA"}, // skipped
		map[string]string{"kty": "EC", "crv": "P-384", "kid": "p384"},               // skipped
	)})
	claims := jwt.MapClaims{"sub": "42"}
	tests := []struct {
		name    string
		token   string
		wantErr string
	}{
		{"kid ec-1", Sign(t, jwt.SigningMethodES256, k.ec1, "ec-1", claims), ""},
		{"kid ec-2", Sign(t, jwt.SigningMethodES256, k.ec2, "ec-2", claims), ""},
		{"kid rsa-1", Sign(t, jwt.SigningMethodRS256, k.rsa1, "rsa-1", claims), ""},
		{"only RSA key, no kid", Sign(t, jwt.SigningMethodRS256, k.rsa1, "", claims), ""},
		{"kid of another key", Sign(t, jwt.SigningMethodES256, k.ec1, "ec-2", claims), "signature is invalid"},
		{"kid of an RSA key", Sign(t, jwt.SigningMethodES256, k.ec1, "rsa-1", claims), "key id is unknown"},
		{"unknown kid", Sign(t, jwt.SigningMethodES256, k.ec1, "nope", claims), "key id is unknown"},
		{"no kid, two EC keys", Sign(t, jwt.SigningMethodES256, k.ec1, "", claims), "no kid"},
		{"kid not a string", signWithHeader(t, k.ec1, 7), "kid is not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Subscriber(context.Background(), tt.token)
			if tt.wantErr != "" {
				wantUnauthorized(t, err, tt.token, tt.wantErr)
				return
			}
			if err != nil || p.User != "42" {
				t.Fatalf("Subscriber = %+v, %v", p, err)
			}
		})
	}

	single := MustNew(t, auth.Options{JWKS: jwks(t, jwkOf(t, "", &k.ec2.PublicKey))})
	if _, err := single.Subscriber(context.Background(), Sign(t, jwt.SigningMethodES256, k.ec2, "", claims)); err != nil {
		t.Errorf("single JWK, no kid: %v", err)
	}
}

func signWithHeader(tb testing.TB, key *ecdsa.PrivateKey, kid any) string {
	tb.Helper()
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "42"})
	t.Header["kid"] = kid
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestNewErrors(t *testing.T) {
	k := keys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.ec1)
	badX := jwkOf(t, "x", &k.ec1.PublicKey)
	badX["x"] = "!!"
	offCurve := jwkOf(t, "c", &k.ec1.PublicKey)
	offCurve["y"] = offCurve["x"]
	tests := []struct {
		name string
		o    auth.Options
		want string
	}{
		{"no key", auth.Options{APIKeys: []string{"k"}, AllowAnonymous: true}, "no token verification key"},
		{"not PEM", auth.Options{PublicKeyPEM: []byte("hello")}, "no PEM block"},
		{"private key", auth.Options{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})}, "private key"},
		{"garbage DER", auth.Options{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")})}, "PUBLIC KEY"},
		{"small RSA", auth.Options{PublicKeyPEM: pemKey(t, "PUBLIC KEY", &small.PublicKey)}, "at least 2048"},
		{"P-384 PEM", auth.Options{PublicKeyPEM: pemKey(t, "PUBLIC KEY", &p384.PublicKey)}, "P-256"},
		{"JWKS not JSON", auth.Options{JWKS: []byte("{")}, "not valid JSON"},
		{"JWKS empty", auth.Options{JWKS: []byte(`{"keys":[]}`)}, "no RS256 or ES256"},
		{"JWKS bad x", auth.Options{JWKS: jwks(t, badX)}, "not base64url"},
		{"JWKS off curve", auth.Options{JWKS: jwks(t, offCurve)}, `kid "c"`},
		{"JWKS small RSA", auth.Options{Secret: secret, JWKS: jwks(t, jwkOf(t, "s", &small.PublicKey))}, "at least 2048"},
	}
	for _, tt := range tests {
		a, err := auth.New(tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, %v; want an error containing %q", tt.name, a, err, tt.want)
		}
	}
	// A single JWK object (not a set) is accepted too.
	one, _ := json.Marshal(jwkOf(t, "one", &k.ec1.PublicKey))
	if _, err := auth.New(auth.Options{JWKS: one}); err != nil {
		t.Errorf("New(single JWK) = %v", err)
	}
}
