package buswire

import (
	"fmt"
	"net/url"
)

// SplitParam removes the query parameter key from a bus URL and returns
// the URL without it and the parameter's value.
func SplitParam(raw, key string) (clean, value string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("bad URL: %v", err)
	}
	q := u.Query()
	value = q.Get(key)
	q.Del(key)
	u.RawQuery = q.Encode()
	return u.String(), value, nil
}

// Redact hides the password of a bus URL for logs and errors.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
