package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reddot-dev/reddot"
)

// minRSABits is the smallest RSA modulus accepted for RS256.
const minRSABits = 2048

// publicKey is one configured asymmetric verification key.
type publicKey struct {
	kid string // empty for PEM keys and JWKS entries without "kid"
	alg string // "RS256" or "ES256"
	key any    // *rsa.PublicKey or *ecdsa.PublicKey
}

// newPublicKey checks that k is an RSA key of at least minRSABits or a
// P-256 EC key, and returns it tagged with the algorithm it verifies.
func newPublicKey(kid string, k any) (publicKey, error) {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return publicKey{}, fmt.Errorf("RSA key has %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return publicKey{kid: kid, alg: "RS256", key: k}, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return publicKey{}, fmt.Errorf("EC key is on curve %s, want P-256", k.Curve.Params().Name)
		}
		return publicKey{kid: kid, alg: "ES256", key: k}, nil
	}
	return publicKey{}, fmt.Errorf("unsupported key type %T, want RSA or EC P-256", k)
}

// parsePEM returns the public keys in every PEM block of data: PKIX
// "PUBLIC KEY", PKCS #1 "RSA PUBLIC KEY" or the key of a "CERTIFICATE".
func parsePEM(data []byte) ([]publicKey, error) {
	var keys []publicKey
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		data = rest
		var k any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				k = c.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE") {
				return nil, fmt.Errorf("PEM block %q is a private key; configure the public key", block.Type)
			}
			return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %q: %w", block.Type, err)
		}
		pk, err := newPublicKey("", k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, pk)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return keys, nil
}

// jwk is one JSON Web Key (RFC 7517) with the fields RSA and EC keys use.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS returns the RSA and P-256 EC signature keys of a JWK Set
// document (or of a single JWK). Keys of other types, curves, uses or
// algorithms are skipped; a malformed RSA or EC key is an error.
func parseJWKS(data []byte) ([]publicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
		jwk
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS is not valid JSON: %w", err)
	}
	if set.Keys == nil && set.Kty != "" {
		set.Keys = []jwk{set.jwk}
	}
	var keys []publicKey
	for i, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		var k any
		var err error
		switch {
		case j.Kty == "RSA" && (j.Alg == "" || j.Alg == "RS256"):
			k, err = j.rsaKey()
		case j.Kty == "EC" && j.Crv == "P-256" && (j.Alg == "" || j.Alg == "ES256"):
			k, err = j.ecKey()
		default:
			continue
		}
		if err == nil {
			var pk publicKey
			if pk, err = newPublicKey(j.Kid, k); err == nil {
				keys = append(keys, pk)
				continue
			}
		}
		return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, j.Kid, err)
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no RS256 or ES256 signature key")
	}
	return keys, nil
}

func (j jwk) rsaKey() (*rsa.PublicKey, error) {
	n, err := b64(j.N, "n")
	if err != nil {
		return nil, err
	}
	e, err := b64(j.E, "e")
	if err != nil {
		return nil, err
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New(`invalid "e"`)
	}
	exp := new(big.Int).SetBytes(e).Int64()
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New(`invalid "e"`)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}, nil
}

func (j jwk) ecKey() (*ecdsa.PublicKey, error) {
	x, err := b64(j.X, "x")
	if err != nil {
		return nil, err
	}
	y, err := b64(j.Y, "y")
	if err != nil {
		return nil, err
	}
	const size = 32
	if len(x) > size || len(y) > size {
		return nil, errors.New("coordinates are too long for P-256")
	}
	point := make([]byte, 1+2*size)
	point[0] = 4 // uncompressed
	copy(point[1+size-len(x):1+size], x)
	copy(point[1+2*size-len(y):], y)
	return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
}

// b64 decodes a base64url member, with or without padding.
func b64(s, name string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("member %q is not base64url", name)
	}
	return b, nil
}

// find returns the key (or key set) that should verify a token signed with
// alg: those with the token's kid, else the configured keys without a kid.
// A token without a kid may only be verified when exactly one key fits.
func find(keys []publicKey, alg, kid string) (any, error) {
	var byKid, noKid, typed []jwt.VerificationKey
	for _, k := range keys {
		if k.alg != alg {
			continue
		}
		typed = append(typed, k.key)
		switch {
		case kid != "" && k.kid == kid:
			byKid = append(byKid, k.key)
		case k.kid == "":
			noKid = append(noKid, k.key)
		}
	}
	m := byKid
	switch {
	case kid == "":
		m = typed
		if len(m) > 1 {
			return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "token has no kid to choose among several keys")
		}
	case len(m) == 0:
		m = noKid
	}
	switch {
	case len(m) == 0 && kid != "":
		return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "token key id is unknown")
	case len(m) == 0:
		return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "no key verifies %s tokens", alg)
	case len(m) == 1:
		return m[0], nil
	}
	return jwt.VerificationKeySet{Keys: m}, nil
}
