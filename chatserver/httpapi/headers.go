package httpapi

import (
	"net/http"
	"strings"
)

// contentSecurityPolicy lets a page load scripts, styles, images and fonts
// only from the server itself (no inline script or style, no eval), images
// also as data: URLs (the icon), connect only to the server itself, its
// WebSocket included; and lets no page frame it.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the security headers on every answer of h: pages,
// API calls, errors and probes alike.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy+"; connect-src "+connectSources(r.Host))
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// connectSources are where a page may connect: the server itself, and its
// WebSocket by name (browsers that predate CSP level 3 do not count ws: and
// wss: as 'self'). A Host that is not a plain host[:port] gets 'self' only,
// so that it cannot add to the policy.
func connectSources(host string) string {
	if host == "" || strings.ContainsFunc(host, func(c rune) bool { return !hostChar(c) }) {
		return "'self'"
	}
	return "'self' ws://" + host + " wss://" + host
}

// hostChar reports whether c may be part of a host name or address and port.
func hostChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)
}
