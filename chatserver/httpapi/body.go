package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/chatcluster/chatcluster/chatserver"
)

// readBody reads a request's body whole before any handler sees it, up to
// Config.MaxBodyBytes, and within what is left of Config.ReadTimeout: no
// handler then waits on a slow client, and none reads past the limit. It
// returns the limit that refused the body and the answer, or "".
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (limit string, status int, err error) {
	if !hasBody(r) {
		return "", 0, nil
	}
	tooLarge := chatserver.Errorf(chatserver.ETooLarge, "the body is over %d bytes", s.cfg.MaxBodyBytes)
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return limitBodyBytes, http.StatusRequestEntityTooLarge, tooLarge
	}
	raw, rerr := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(rerr, &mbe):
		return limitBodyBytes, http.StatusRequestEntityTooLarge, tooLarge
	case errors.Is(rerr, os.ErrDeadlineExceeded):
		return limitRead, http.StatusRequestTimeout,
			chatserver.Errorf(chatserver.EBadRequest, "the request did not arrive within %s", s.cfg.ReadTimeout)
	case rerr != nil:
		return "", http.StatusBadRequest, chatserver.Errorf(chatserver.EBadRequest, "unreadable body")
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(raw)), int64(len(raw))
	return "", 0, nil
}
