package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// WebSocket close codes the server uses.
const (
	CloseGoingAway     = 1001 // shutdown: reconnect
	ClosePolicy        = 1008 // too slow or out of sync: reconnect and resume with join + since
	CloseTooBig        = 1009 // a frame over 16 KiB
	CloseInternal      = 1011
	CloseTryAgainLater = 1013 // a backend is unavailable
)

// statusOf maps an error code to its HTTP status: the one place that does.
// Only the front door answers a bad_request with a status of its own (see
// writeErrorStatus): 408 for a request that did not arrive in time, 415 for
// a body that is not JSON.
func statusOf(code string) int {
	switch code {
	case chatserver.EBadRequest:
		return http.StatusBadRequest
	case chatserver.EUnauthorized:
		return http.StatusUnauthorized
	case chatserver.EForbidden:
		return http.StatusForbidden
	case chatserver.ENotFound:
		return http.StatusNotFound
	case chatserver.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case chatserver.ERateLimited:
		return http.StatusTooManyRequests
	case chatserver.EUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// closeCodeOf is the WebSocket close code for an error that ends a connection.
func closeCodeOf(err error) int {
	if chatserver.ErrorCode(err) == chatserver.EUnavailable {
		return CloseTryAgainLater
	}
	return CloseInternal
}

// publicError turns codes that must not leave the server into internal ones.
func publicError(err error) error {
	switch chatserver.ErrorCode(err) {
	case chatserver.EConflict:
		return chatserver.Errorf(chatserver.EInternal, "internal error")
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	// The status is sent: a write error means the client went away, and there
	// is no one left to tell.
	_ = enc.Encode(v)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, call string, err error) {
	s.writeErrorStatus(w, r, call, 0, err)
}

// writeErrorStatus answers err with status, or with its code's status when
// status is 0; an error that says when to retry tells it in Retry-After.
func (s *Server) writeErrorStatus(w http.ResponseWriter, r *http.Request, call string, status int, err error) {
	err = publicError(err)
	code := chatserver.ErrorCode(err)
	if code == chatserver.EInternal || code == chatserver.EUnavailable {
		s.log.Error("request failed", "call", call, "path", r.URL.Path, "err", err)
	}
	s.svc.Metrics().Error(call, code)
	if status == 0 {
		status = statusOf(code)
	}
	var e *chatserver.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(e.RetryAfter.Seconds())), 10))
	}
	writeJSON(w, status, map[string]wire.ErrorBody{"error": wire.NewErrorBody(err)})
}
