package httpapi

import (
	"mime"
	"net/http"

	"github.com/chatcluster/chatcluster/chatserver"
)

// crossSiteRefusal refuses a state-changing request (any method but GET,
// HEAD, OPTIONS and TRACE) that a page of another site could have sent in
// the user's name: one whose Origin is not allowed (checkOrigin, as on the
// WebSocket upgrade), or whose body is declared as anything but JSON (the
// types an HTML form can send without the browser asking first). A body
// without a Content-Type, which no browser sends with a foreign Origin, is
// read as JSON. It returns the limit that refused it and the answer, or "".
func (s *Server) crossSiteRefusal(r *http.Request) (limit string, status int, err error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return "", 0, nil
	}
	if !s.checkOrigin(r) {
		return limitOrigin, http.StatusForbidden, chatserver.Errorf(chatserver.EForbidden, "origin %s is not allowed", r.Header.Get("Origin"))
	}
	if ct := r.Header.Get("Content-Type"); hasBody(r) && ct != "" {
		if mt, _, perr := mime.ParseMediaType(ct); perr != nil || mt != "application/json" {
			return limitContentType, http.StatusUnsupportedMediaType,
				chatserver.Errorf(chatserver.EBadRequest, "the body must be JSON, sent as Content-Type: application/json, not %s", ct)
		}
	}
	return "", 0, nil
}

// hasBody reports whether a request comes with a body.
func hasBody(r *http.Request) bool { return r.Body != nil && r.Body != http.NoBody }
