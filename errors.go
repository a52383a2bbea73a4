// Package reddot holds the domain of the reddot push server: events, topics,
// notifications, cursors and errors, plus the interfaces the outer packages
// implement. It depends on the standard library only.
package reddot

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: clients and the HTTP layer rely on them.
const (
	ECONFLICT     = "conflict"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ETOOLARGE     = "too_large"
	ERATELIMITED  = "rate_limited"
	EGONE         = "gone"
	EUNAVAILABLE  = "unavailable"
)

// Error is an error a client may see. Anything that is not an *Error is an
// internal failure and is shown to clients as "internal error".
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("reddot: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrReset is returned when a cursor points before what is still retained
// (or belongs to another store); the client must re-read state over REST.
var ErrReset = &Error{Code: EGONE, Message: "cursor is past retention; re-read state and subscribe without since"}
