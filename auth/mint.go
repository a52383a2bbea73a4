package auth

import (
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/reddot-dev/reddot"
)

// Claims are what a minted subscriber token grants.
type Claims struct {
	User    string        // the "sub" claim; must satisfy reddot.ValidUser
	Topics  []string      // private topic read grants, "*" suffix wildcards
	Publish []string      // publish grants, "*" suffix wildcards
	TTL     time.Duration // lifetime from now; 0 means the token never expires
}

// Mint returns an HS256 subscriber token for c, issued at now (time.Now
// when zero), that an Authenticator with the same secret accepts.
func Mint(secret []byte, c Claims, now time.Time) (string, error) {
	switch {
	case len(secret) == 0:
		return "", reddot.Errorf(reddot.EINVALID, "minting a token needs a JWT secret")
	case !reddot.ValidUser(c.User):
		return "", reddot.Errorf(reddot.EINVALID, "invalid user %q: want 1-128 of A-Z a-z 0-9 _ . @ -", c.User)
	case c.TTL < 0:
		return "", reddot.Errorf(reddot.EINVALID, "token TTL must not be negative")
	case !validGrants(c.Topics):
		return "", reddot.Errorf(reddot.EINVALID, "invalid topic grant: want topic names, optionally ending in *")
	case !validGrants(c.Publish):
		return "", reddot.Errorf(reddot.EINVALID, "invalid publish grant: want topic names, optionally ending in *")
	}
	if now.IsZero() {
		now = time.Now()
	}
	m := jwt.MapClaims{"sub": c.User, "iat": now.Unix()}
	if c.TTL > 0 {
		exp := now.Add(c.TTL)
		m["exp"] = exp.Add(time.Second - 1).Unix() // round up to whole seconds
	}
	if len(c.Topics) > 0 {
		m["topics"] = c.Topics
	}
	if len(c.Publish) > 0 {
		m["publish"] = c.Publish
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, m).SignedString(secret)
}
