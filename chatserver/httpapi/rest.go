package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

const cookieName = "chat_session"

type userRef struct {
	ID string `json:"id"`
}

func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/session", s.postSession)
	mux.HandleFunc("DELETE /api/session", s.authed("logout", s.deleteSession))
	mux.HandleFunc("GET /api/me", s.authed("me", func(w http.ResponseWriter, r *http.Request, user string) {
		writeJSON(w, http.StatusOK, map[string]any{"user": userRef{user}, "admin": s.svc.IsAdmin(user)})
	}))
	mux.HandleFunc("GET /api/users", s.authed("users", s.getUsers))
	mux.HandleFunc("GET /api/rooms", s.authed("rooms", s.getRooms))
	mux.HandleFunc("GET /api/rooms/{room}/messages", s.authed("history", s.getMessages))
	mux.HandleFunc("GET /api/search", s.authed("search", s.getSearch))
	mux.HandleFunc("GET /api/activity", s.authed("activity", s.getActivity))
	mux.HandleFunc("GET /api/activity/stats", s.authed("stats", s.getStats))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, "api", chatserver.Errorf(chatserver.ENotFound, "no such call: %s %s", r.Method, r.URL.Path))
	})
	mux.HandleFunc("GET /ws", s.serveWS)
}

// managementRoutes are the probes, the metrics and the profiles: on the chat
// handler, or only on the management one when Config.SeparateManagement.
func (s *Server) managementRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
}

// managementPaths are the patterns of managementRoutes, which the chat
// handler answers with 404 when they are served apart (rather than leaving
// them to the web UI).
var managementPaths = []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/"}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]wire.ErrorBody{
		"error": wire.NewErrorBody(chatserver.Errorf(chatserver.ENotFound, "no such page: %s", r.URL.Path)),
	})
}

// token returns the session token of a request: the bearer token, else the cookie.
func token(r *http.Request) string {
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(t)
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value
	}
	return ""
}

// authenticate returns the user whose session the request carries; its
// connection then counts as authenticated (connTracker).
func (s *Server) authenticate(r *http.Request) (string, error) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	user, err := s.svc.Authenticate(ctx, token(r))
	if err == nil {
		s.peers.authenticated(r.Context())
	}
	return user, err
}

// authed wraps a handler that needs a signed-in user.
func (s *Server) authed(call string, h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, err := s.authenticate(r)
		if err != nil {
			s.writeError(w, r, call, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		h(w, r.WithContext(ctx), user)
	}
}

func (s *Server) postSession(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	raw, err := io.ReadAll(r.Body) // read whole and bounded by the front door already
	if err != nil {
		s.writeError(w, r, "login", chatserver.Errorf(chatserver.EBadRequest, "unreadable body"))
		return
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			s.writeError(w, r, "login", chatserver.Errorf(chatserver.EBadRequest, "want a JSON body {\"username\", \"password\"}"))
			return
		}
	}
	var tok, user string
	if s.cfg.AuthMode == "proxy" {
		var proxied string
		if proxied, err = s.proxiedUser(r); err == nil {
			tok, user, err = s.svc.LoginProxy(ctx, proxied)
		}
	} else {
		tok, user, err = s.svc.LoginFrom(ctx, s.clientAddr(r), body.Username, body.Password)
	}
	if err != nil {
		s.writeError(w, r, "login", err)
		return
	}
	s.peers.authenticated(r.Context())
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // Secure follows the request's scheme: plain HTTP deployments sign in too
		Name: cookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
		MaxAge: int(s.cfg.SessionTTL / time.Second),
	})
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": userRef{user}})
}

// proxiedUser returns the user the auth proxy names in the proxy header. The
// header counts only on a connection from a trusted proxy (its TCP peer,
// whatever forwarding headers say): anyone else reaching the server directly
// is not signed in by it. A request with the header more than once is
// refused, since proxies and servers may disagree on which one counts.
func (s *Server) proxiedUser(r *http.Request) (string, error) {
	values := r.Header.Values(s.cfg.ProxyHeader)
	if len(values) > 1 {
		return "", chatserver.Errorf(chatserver.EBadRequest, "%s is given %d times; the auth proxy must set it once", s.cfg.ProxyHeader, len(values))
	}
	if peer, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || !s.trusted(peer.Addr()) {
		if len(values) > 0 {
			s.log.Warn("proxy mode: ignored the user header from a peer that is not a trusted proxy", "peer", r.RemoteAddr, "header", s.cfg.ProxyHeader)
		}
		return "", chatserver.Errorf(chatserver.EUnauthorized, "sign in through the auth proxy: this connection does not come from a trusted proxy")
	}
	if len(values) == 0 {
		return "", nil // LoginProxy answers that the proxy named no user
	}
	return values[0], nil
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.svc.Logout(r.Context(), user, token(r)); err != nil {
		s.writeError(w, r, "logout", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1}) //nolint:gosec // holds no token; must clear over plain HTTP too
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) getUsers(w http.ResponseWriter, r *http.Request, _ string) {
	users, err := s.svc.Users(r.Context())
	if err != nil {
		s.writeError(w, r, "users", err)
		return
	}
	type userJSON struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		LastSeen string `json:"last_seen"`
	}
	out := make([]userJSON, len(users))
	for i, u := range users {
		out[i] = userJSON{u.ID, u.Status, chatserver.Timestamp(u.LastSeen)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (s *Server) getRooms(w http.ResponseWriter, r *http.Request, user string) {
	rooms, err := s.svc.Rooms(r.Context(), user)
	if err != nil {
		s.writeError(w, r, "rooms", err)
		return
	}
	type roomJSON struct {
		ID       string           `json:"id"`
		Kind     string           `json:"kind"`
		Members  []string         `json:"members,omitempty"`
		LastSeq  int64            `json:"last_seq"`
		LastTS   *string          `json:"last_ts"`
		Rev      int64            `json:"rev"`
		ReadSeq  int64            `json:"read_seq"`
		Unread   int64            `json:"unread"`
		Mentions int64            `json:"mentions"`
		Reads    map[string]int64 `json:"reads,omitempty"`
	}
	out := make([]roomJSON, len(rooms))
	for i, rm := range rooms {
		out[i] = roomJSON{ID: rm.ID, Kind: rm.Kind, Members: rm.Members, LastSeq: rm.LastSeq,
			Rev: rm.Rev, ReadSeq: rm.ReadSeq, Unread: rm.Unread, Mentions: rm.Mentions, Reads: rm.Reads}
		if !rm.LastTS.IsZero() {
			ts := chatserver.Timestamp(rm.LastTS)
			out[i].LastTS = &ts
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
}

// intParam reads an optional integer query parameter within [lo, hi].
func intParam(r *http.Request, name string, lo, hi, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, chatserver.Errorf(chatserver.EBadRequest, "invalid %s: want an integer in %d-%d", name, lo, hi)
	}
	return n, nil
}

func timeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, chatserver.Errorf(chatserver.EBadRequest, "invalid %s: want an RFC 3339 time", name)
	}
	if !chatserver.InTimeRange(t) {
		return time.Time{}, chatserver.Errorf(chatserver.EBadRequest, "invalid %s: want a time between %s and %s",
			name, chatserver.EarliestTime.Format(time.RFC3339), chatserver.LatestTime.Format(time.RFC3339))
	}
	return t.UTC(), nil
}

func (s *Server) getMessages(w http.ResponseWriter, r *http.Request, user string) {
	var before *int64
	if r.URL.Query().Get("before") != "" {
		b, err := intParam(r, "before", 0, 1<<62, 0)
		if err != nil {
			s.writeError(w, r, "history", err)
			return
		}
		before = &b
	}
	limit, err := intParam(r, "limit", 1, chatserver.MaxHistoryLimit, chatserver.DefaultPage)
	if err != nil {
		s.writeError(w, r, "history", err)
		return
	}
	page, err := s.svc.History(r.Context(), user, r.PathValue("room"), before, int(limit))
	if err != nil {
		s.writeError(w, r, "history", err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) getSearch(w http.ResponseWriter, r *http.Request, user string) {
	q := r.URL.Query()
	p := service.SearchParams{Q: q.Get("q"), Room: q.Get("room"), From: q.Get("from")}
	limit, err := intParam(r, "limit", 1, chatserver.MaxSearchLimit, chatserver.DefaultSearchLimit)
	if err == nil {
		p.Limit = int(limit)
		p.Before, err = timeParam(r, "before", time.Time{})
	}
	if err != nil {
		s.writeError(w, r, "search", err)
		return
	}
	res, err := s.svc.Search(r.Context(), user, p)
	if err != nil {
		s.writeError(w, r, "search", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// admin answers 403 unless user is an admin, before anything else is checked.
func (s *Server) admin(w http.ResponseWriter, r *http.Request, call, user string) bool {
	if s.svc.IsAdmin(user) {
		return true
	}
	s.writeError(w, r, call, chatserver.Errorf(chatserver.EForbidden, "the activity log is for admins"))
	return false
}

func (s *Server) getActivity(w http.ResponseWriter, r *http.Request, user string) {
	if !s.admin(w, r, "activity", user) {
		return
	}
	q := r.URL.Query()
	aq := chatserver.ActivityQuery{Text: q.Get("q"), Type: q.Get("type"), User: q.Get("user"), Room: q.Get("room")}
	var err error
	size, err := intParam(r, "size", 1, 1000, 50)
	if err == nil {
		aq.Size = int(size)
		aq.From, err = timeParam(r, "from", time.Time{})
	}
	if err == nil {
		aq.To, err = timeParam(r, "to", time.Time{})
	}
	for _, p := range []struct{ name, v string }{{"q", aq.Text}, {"type", aq.Type}, {"user", aq.User}, {"room", aq.Room}} {
		if err == nil && (strings.ContainsRune(p.v, 0) || !utf8.ValidString(p.v)) {
			err = chatserver.Errorf(chatserver.EBadRequest, "invalid %s: want UTF-8 text without NUL", p.name)
		}
	}
	if err == nil && !aq.From.IsZero() && !aq.To.IsZero() && aq.To.Before(aq.From) {
		err = chatserver.Errorf(chatserver.EBadRequest, "invalid range: to is before from")
	}
	if err != nil {
		s.writeError(w, r, "activity", err)
		return
	}
	res, err := s.svc.Activity(r.Context(), user, aq)
	if err != nil {
		s.writeError(w, r, "activity", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// maxBuckets bounds a stats answer.
const maxBuckets = 10000

func (s *Server) getStats(w http.ResponseWriter, r *http.Request, user string) {
	if !s.admin(w, r, "stats", user) {
		return
	}
	now := time.Now().UTC()
	sq := chatserver.StatsQuery{Interval: time.Minute}
	var err error
	sq.To, err = timeParam(r, "to", now)
	if err == nil {
		sq.From, err = timeParam(r, "from", sq.To.Add(-chatserver.DefaultStatsSpan))
	}
	if v := r.URL.Query().Get("interval"); err == nil && v != "" {
		d, perr := time.ParseDuration(v)
		if perr != nil || d < time.Second {
			err = chatserver.Errorf(chatserver.EBadRequest, "invalid interval: want a Go duration of at least 1s, such as 1m")
		}
		sq.Interval = d
	}
	if err == nil && !sq.To.After(sq.From) {
		err = chatserver.Errorf(chatserver.EBadRequest, "invalid range: to must be after from")
	}
	if err == nil && chatserver.Buckets(sq.From, sq.To, sq.Interval) > maxBuckets {
		err = chatserver.Errorf(chatserver.EBadRequest, "too many buckets: at most %d per answer, widen the interval", maxBuckets)
	}
	if err != nil {
		s.writeError(w, r, "stats", err)
		return
	}
	st, err := s.svc.Stats(r.Context(), user, sq)
	if err != nil {
		s.writeError(w, r, "stats", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// readyz answers 200 while this instance can serve chat, "ready" or
// "degraded" (a backend that only part of the product needs fails), and 503
// "unready" when a critical backend fails or the instance is shutting down.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	rd := s.svc.Ready(ctx)
	if s.draining.Load() {
		rd.Status, rd.Backends["server"] = service.StatusUnready, "shutting down"
	}
	code := http.StatusOK
	if !rd.Ready() {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rd)
}
