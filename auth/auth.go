// Package auth verifies subscriber JWTs (HS256, RS256, ES256) and publisher
// API keys, turning them into reddot principals.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reddot-dev/reddot"
)

// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// maxTokenLen bounds the work spent on a token before it is rejected.
const maxTokenLen = 16 << 10

// Options configure an Authenticator.
type Options struct {
	Secret         []byte   // HS256 secret; may be empty if a public key is configured
	PublicKeyPEM   []byte   // PEM public key(s): RSA → RS256, EC P-256 → ES256
	JWKS           []byte   // JSON Web Key Set of RSA and EC P-256 keys, selected by "kid"
	APIKeys        []string // publisher keys; surrounding spaces are trimmed, empty ones ignored
	AllowAnonymous bool     // an empty subscriber token yields an anonymous principal

	Now    func() time.Time // default time.Now
	Leeway time.Duration    // clock skew allowance; 0 means DefaultLeeway, negative means none
}

// Authenticator verifies subscriber tokens and publisher API keys. It is
// safe for concurrent use.
type Authenticator struct {
	secret  []byte
	keys    []publicKey
	apiKeys [][sha256.Size]byte
	anon    bool
	methods []string
	parser  *jwt.Parser
}

var _ reddot.Authenticator = (*Authenticator)(nil)

// New returns an Authenticator for o. It fails when PublicKeyPEM or JWKS
// cannot be parsed, or when no token verification key is configured.
func New(o Options) (*Authenticator, error) {
	a := &Authenticator{secret: slices.Clone(o.Secret), anon: o.AllowAnonymous}
	if len(o.PublicKeyPEM) > 0 {
		keys, err := parsePEM(o.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("auth: public key: %w", err)
		}
		a.keys = append(a.keys, keys...)
	}
	if len(o.JWKS) > 0 {
		keys, err := parseJWKS(o.JWKS)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		a.keys = append(a.keys, keys...)
	}
	if len(a.secret) > 0 {
		a.methods = append(a.methods, "HS256")
	}
	for _, alg := range []string{"RS256", "ES256"} {
		if slices.ContainsFunc(a.keys, func(k publicKey) bool { return k.alg == alg }) {
			a.methods = append(a.methods, alg)
		}
	}
	if len(a.methods) == 0 {
		return nil, errors.New("auth: no token verification key: configure a JWT secret, a public key or a JWKS")
	}
	for _, k := range o.APIKeys {
		if k = strings.TrimSpace(k); k != "" {
			a.apiKeys = append(a.apiKeys, sha256.Sum256([]byte(k)))
		}
	}
	leeway := o.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	a.parser = jwt.NewParser(
		jwt.WithValidMethods(a.methods),
		jwt.WithLeeway(max(leeway, 0)),
		jwt.WithTimeFunc(now),
		jwt.WithIssuedAt(),
	)
	return a, nil
}

// Subscriber verifies a subscriber token. An empty token yields an anonymous
// principal when anonymous access is on; every failure is EUNAUTHORIZED.
func (a *Authenticator) Subscriber(ctx context.Context, token string) (*reddot.Principal, error) {
	token = strings.TrimSpace(token)
	switch {
	case token == "" && a.anon:
		return &reddot.Principal{}, nil
	case token == "":
		return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "a subscriber token is required")
	case len(token) > maxTokenLen:
		return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "token is too long")
	}
	claims := jwt.MapClaims{}
	t, err := a.parser.ParseWithClaims(token, claims, a.key)
	if err != nil {
		return nil, a.tokenError(t, err)
	}
	return principal(claims)
}

// Publisher reports whether key is one of the configured API keys. The
// comparison takes the same time whichever key, if any, matches.
func (a *Authenticator) Publisher(ctx context.Context, key string) bool {
	if key == "" {
		return false
	}
	sum := sha256.Sum256([]byte(key))
	ok := 0
	for _, k := range a.apiKeys {
		ok |= subtle.ConstantTimeCompare(sum[:], k[:])
	}
	return ok == 1
}

// key is the jwt.Keyfunc: the secret for HS256, else a public key chosen
// by algorithm and "kid". The parser has already checked the algorithm.
func (a *Authenticator) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if alg == "HS256" {
		return a.secret, nil
	}
	kid := ""
	if v, ok := t.Header["kid"]; ok {
		if kid, ok = v.(string); !ok {
			return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "token kid is not a string")
		}
	}
	return find(a.keys, alg, kid)
}

// tokenError turns a jwt parse error into a short EUNAUTHORIZED error that
// never repeats the token.
func (a *Authenticator) tokenError(t *jwt.Token, err error) error {
	var re *reddot.Error
	msg := "token is invalid"
	switch {
	case errors.As(err, &re):
		return re
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "token is malformed"
	case t != nil && t.Method != nil && !slices.Contains(a.methods, t.Method.Alg()):
		msg = fmt.Sprintf("token algorithm %s is not accepted (want %s)", t.Method.Alg(), strings.Join(a.methods, ", "))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		msg = "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		msg = "token algorithm is missing or not supported"
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		msg = "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "token is issued in the future"
	case errors.Is(err, jwt.ErrInvalidType):
		msg = "token has a time claim that is not a number"
	}
	return reddot.Errorf(reddot.EUNAUTHORIZED, "%s", msg)
}

// principal reads the reddot claims of a verified token.
func principal(c jwt.MapClaims) (*reddot.Principal, error) {
	sub, _ := c["sub"].(string)
	if !reddot.ValidUser(sub) {
		return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "token has no valid sub")
	}
	p := &reddot.Principal{User: sub}
	var ok bool
	if p.Topics, ok = grants(c["topics"]); !ok {
		return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "token has invalid topics grants")
	}
	if p.Publish, ok = grants(c["publish"]); !ok {
		return nil, reddot.Errorf(reddot.EUNAUTHORIZED, "token has invalid publish grants")
	}
	if exp, err := c.GetExpirationTime(); err == nil && exp != nil {
		p.Expires = exp.Time
	}
	return p, nil
}

// grants reads a topics or publish claim: an array of patterns or one
// comma-separated string. Each pattern is a topic name, optionally ending
// in "*", or "*" alone.
func grants(v any) ([]string, bool) {
	var out []string
	switch v := v.(type) {
	case nil:
		return nil, true
	case string:
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	case []any:
		for _, e := range v {
			p, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, p)
		}
	default:
		return nil, false
	}
	return out, validGrants(out)
}

func validGrants(patterns []string) bool {
	for _, p := range patterns {
		prefix, wild := strings.CutSuffix(p, "*")
		if !reddot.ValidTopic(prefix) && !(wild && prefix == "") {
			return false
		}
	}
	return true
}
