package chatserver

import (
	"errors"
	"fmt"
	"time"
)

// Error codes of the wire contract. Every failure the server reports to a client
// carries exactly one of them; the transport maps each to an HTTP status, a reply
// error and, where a connection must end, a WebSocket close code.
const (
	EBadRequest   = "bad_request"
	EUnauthorized = "unauthorized"
	EForbidden    = "forbidden"
	ENotFound     = "not_found"
	ETooLarge     = "too_large"
	ERateLimited  = "rate_limited"
	EUnavailable  = "unavailable"
	EInternal     = "internal"

	// EConflict never reaches a client: stores return it when a unique key
	// (user id, room seq) is taken, and the service resolves it.
	EConflict = "conflict"
)

// Error is the one error type of the chat server. Its Message is safe to show to
// the client; anything else (a driver error, a stack) stays in the logs.
type Error struct {
	Code    string
	Message string
	// RetryAfter, on an ERateLimited error, is how long the client should
	// wait before it tries again (HTTP answers carry it as Retry-After).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: its own if it is (or wraps) an *Error,
// EInternal for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EInternal
	}
}

// ErrorMessage returns the client-safe message of err; errors that are not an
// *Error get a generic text so that internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}
