package httpapi_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// wantRefused waits until s counted n refusals by limit (the count of a
// connection's close may follow what its client sees).
func wantRefused(t *testing.T, s *testServer, limit string, n float64) {
	t.Helper()
	chattest.Eventually(t, chattest.Timeout, fmt.Sprintf("%g refusals by %s", n, limit), func() bool { return limited(t, s, limit) == n })
}

// rawConn is a TCP connection to the chat listener of s, with a deadline on
// everything it does.
func rawConn(t *testing.T, s *testServer) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(2 * chattest.Timeout)); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// answer is an HTTP answer read whole.
type answer struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// roundTrip writes req on c and reads the answer.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) answer {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return readAnswer(t, br)
}

// call sends req with the default client and reads the answer.
func call(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readWhole(t, resp)
}

// readWhole reads resp's body and closes it.
func readWhole(t *testing.T, resp *http.Response) answer {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func readAnswer(t *testing.T, br *bufio.Reader) answer {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return readWhole(t, resp)
}

// wantClosed fails unless the server closes c, with nothing more to read.
func wantClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if b, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("read %q, %v; want the server to close the connection", b, err)
	}
}

// wantErrorBody fails unless b is the contract's error with code.
func wantErrorBody(t *testing.T, b []byte, code string) {
	t.Helper()
	var e struct{ Error wireError }
	if json.Unmarshal(b, &e) != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("body %.200s, want the error %s with a message", b, code)
	}
}

const healthz = "GET /healthz HTTP/1.1\r\nHost: chat\r\n\r\n"

func TestAKeepAliveConnectionIdlePastTheIdleTimeoutIsClosed(t *testing.T) {
	s := newServer(t, "CHAT_IDLE_TIMEOUT", "300ms")
	c, br := rawConn(t, s)
	if a := roundTrip(t, c, br, healthz); a.StatusCode != http.StatusOK {
		t.Fatalf("status %d", a.StatusCode)
	}
	wantClosed(t, br)
	wantRefused(t, s, "idle_timeout", 1)
}

func TestTrickledHeadersAreCutOff(t *testing.T) {
	s := newServer(t, "CHAT_READ_HEADER_TIMEOUT", "500ms")
	for name, head := range map[string]string{
		"Request": "GET /api/me HTTP/1.1\r\nHost: chat\r\nX-Slow: ",
		"Upgrade": "GET /ws HTTP/1.1\r\nHost: chat\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nX-Slow: ",
	} {
		t.Run(name, func(t *testing.T) {
			before := limited(t, s, "read_header_timeout")
			c, _ := rawConn(t, s)
			closed := make(chan struct{})
			go func() {
				defer close(closed)
				_, _ = io.Copy(io.Discard, c) // until the server closes it
			}()
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
			// A byte of header every 100 ms, 20 s of them, unless cut off.
			for range 200 {
				select {
				case <-closed:
					wantRefused(t, s, "read_header_timeout", before+1)
					return
				case <-time.After(100 * time.Millisecond):
				}
				_, _ = io.WriteString(c, "x") // fails once the server closed it
			}
			t.Fatal("the server waited for the whole trickled header")
		})
	}
}

func TestATrickledBodyIsCutOff(t *testing.T) {
	s := newServer(t, "CHAT_READ_TIMEOUT", "1s")
	c, br := rawConn(t, s)
	const size = 100
	if _, err := fmt.Fprintf(c, "POST /api/session HTTP/1.1\r\nHost: chat\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size); err != nil {
		t.Fatal(err)
	}
	// A byte of body every 100 ms: 10 s for the whole of it.
	var sent atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range size {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := io.WriteString(c, " "); err != nil {
				return
			}
			sent.Add(1)
		}
	}()
	a := readAnswer(t, br)
	if a.StatusCode != http.StatusRequestTimeout || sent.Load() == size {
		t.Fatalf("status %d after %d of %d bytes: %s", a.StatusCode, sent.Load(), size, a.Body)
	}
	wantErrorBody(t, a.Body, "bad_request")
	wantClosed(t, br)
	wantRefused(t, s, "read_timeout", 1)
}

func TestConnectionsOverTheCapPerAddressAreRefused(t *testing.T) {
	s := newServer(t, "CHAT_MAX_CONNECTIONS_PER_ADDRESS", "3", "CHAT_MAX_UNAUTHENTICATED_PER_ADDRESS", "0")
	var open []net.Conn
	for range 3 {
		c, br := rawConn(t, s)
		if a := roundTrip(t, c, br, healthz); a.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: status %d", len(open)+1, a.StatusCode)
		}
		open = append(open, c)
	}
	// The fourth is answered before it says anything, and closed.
	_, br := rawConn(t, s)
	a := readAnswer(t, br)
	if a.StatusCode != http.StatusTooManyRequests || a.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q", a.StatusCode, a.Header.Get("Retry-After"))
	}
	wantErrorBody(t, a.Body, "rate_limited")
	wantClosed(t, br)
	wantRefused(t, s, "connections_per_address", 1)
	// Closing one makes room for another.
	open[0].Close()
	chattest.Eventually(t, chattest.Timeout, "a connection admitted after one closed", func() bool {
		c, br := rawConn(t, s)
		defer c.Close()
		if _, err := io.WriteString(c, healthz); err != nil {
			return false
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func TestUnauthenticatedConnectionsOverTheCapPerAddressAreRefused(t *testing.T) {
	s := newServer(t, "CHAT_MAX_UNAUTHENTICATED_PER_ADDRESS", "2")
	tok := chattest.Login(t, s.URL, "alice", pw) // its connection signed in: it does not count
	a, bra := rawConn(t, s)
	b, brb := rawConn(t, s)
	for _, c := range []struct {
		net.Conn
		br *bufio.Reader
	}{{a, bra}, {b, brb}} {
		if a := roundTrip(t, c, c.br, healthz); a.StatusCode != http.StatusOK {
			t.Fatalf("status %d", a.StatusCode)
		}
	}
	_, br := rawConn(t, s)
	if a := readAnswer(t, br); a.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third unauthenticated connection: status %d %s", a.StatusCode, a.Body)
	}
	wantRefused(t, s, "unauthenticated_per_address", 1)
	// A call with a session on one of them makes room.
	if me := roundTrip(t, a, bra, "GET /api/me HTTP/1.1\r\nHost: chat\r\nAuthorization: Bearer "+tok+"\r\n\r\n"); me.StatusCode != http.StatusOK {
		t.Fatalf("me: %d %s", me.StatusCode, me.Body)
	}
	c, br := rawConn(t, s)
	if h := roundTrip(t, c, br, healthz); h.StatusCode != http.StatusOK {
		t.Fatalf("after a sign-in: status %d %s", h.StatusCode, h.Body)
	}
}

// dialStatus asks for a WebSocket as the holder of tok with header; it
// returns the status of the answer and its body, closing what it opened.
func dialStatus(t *testing.T, base, tok string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	c, resp, _ := chattest.DialErr(base, tok, header)
	if c != nil {
		t.Cleanup(c.Close)
	}
	if resp == nil {
		t.Fatal("no answer to the upgrade")
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestWebSocketsOverTheCapOfAUserAreRefused(t *testing.T) {
	s := newServer(t, "CHAT_MAX_SOCKETS_PER_USER", "2")
	alice, bob := chattest.Login(t, s.URL, "alice", pw), chattest.Login(t, s.URL, "bob", pw)
	first := chattest.Dial(t, s.URL, alice)
	chattest.Dial(t, s.URL, alice)
	status, h, body := dialStatus(t, s.URL, alice, nil)
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("third socket: status %d, Retry-After %q", status, h.Get("Retry-After"))
	}
	wantErrorBody(t, body, "rate_limited")
	wantRefused(t, s, "sockets_per_user", 1)
	chattest.Dial(t, s.URL, bob) // others are not held back
	first.Close()
	chattest.Eventually(t, chattest.Timeout, "a socket once one closed", func() bool {
		status, _, _ := dialStatus(t, s.URL, alice, nil)
		return status == http.StatusSwitchingProtocols
	})
}

func TestWebSocketsOverTheCapPerClientAddressAreRefused(t *testing.T) {
	from := func(xff string) http.Header { return http.Header{"X-Forwarded-For": {xff}} }
	tests := map[string]struct {
		env             []string
		first, sameAddr string // X-Forwarded-For of two sockets counted as one address
		otherAddr       string // of a socket counted apart
	}{
		"BehindATrustedProxyTheLastUntrustedHopCounts": {
			env:   []string{"CHAT_TRUSTED_PROXIES", "127.0.0.1"},
			first: "203.0.113.5", sameAddr: "198.51.100.1, 203.0.113.5", otherAddr: "203.0.113.6",
		},
		"BehindTrustedProxiesEveryTrustedHopIsSkipped": {
			env:   []string{"CHAT_TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8"},
			first: "203.0.113.5, 10.1.1.1", sameAddr: "203.0.113.5,10.2.2.2", otherAddr: "10.1.1.1, 10.1.1.2",
		},
		"AnIPv6ClientCountsByItsPrefix": {
			env:   []string{"CHAT_TRUSTED_PROXIES", "127.0.0.1"},
			first: "2001:db8::1", sameAddr: "2001:db8::2", otherAddr: "2001:db8:0:1::1",
		},
		"WithoutTrustedProxiesTheHeaderIsIgnored": {
			first: "203.0.113.5", sameAddr: "203.0.113.6", otherAddr: "",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, append([]string{"CHAT_MAX_SOCKETS_PER_ADDRESS", "2"}, tt.env...)...)
			tok := chattest.Login(t, s.URL, "alice", pw)
			for _, xff := range []string{tt.first, tt.sameAddr} {
				if status, _, body := dialStatus(t, s.URL, tok, from(xff)); status != http.StatusSwitchingProtocols {
					t.Fatalf("from %s: status %d %s", xff, status, body)
				}
			}
			status, _, body := dialStatus(t, s.URL, tok, from(tt.first))
			if status != http.StatusTooManyRequests {
				t.Fatalf("a third from %s: status %d", tt.first, status)
			}
			wantErrorBody(t, body, "rate_limited")
			wantRefused(t, s, "sockets_per_address", 1)
			if tt.otherAddr != "" {
				if status, _, body := dialStatus(t, s.URL, tok, from(tt.otherAddr)); status != http.StatusSwitchingProtocols {
					t.Fatalf("from %s: status %d %s", tt.otherAddr, status, body)
				}
			}
		})
	}
}

func TestStateChangingCallsFromAnotherSiteAreRefused(t *testing.T) {
	s := newServer(t, "CHAT_ALLOWED_ORIGINS", "https://chat.example.com")
	same := s.URL
	signIn := `{"username":"alice","password":"` + pw + `"}`
	tests := map[string]struct {
		origin, contentType string
		want                int
		code                string
	}{
		"TextPlainFromAnotherSiteIsForbidden":       {"https://evil.example", "text/plain", 403, "forbidden"},
		"FormFromAnotherSiteIsForbidden":            {"https://evil.example", "application/x-www-form-urlencoded", 403, "forbidden"},
		"JSONFromAnotherSiteIsForbidden":            {"https://evil.example", "application/json", 403, "forbidden"},
		"JSONFromAnOpaqueOriginIsForbidden":         {"null", "application/json", 403, "forbidden"},
		"TextPlainFromTheSameOriginIsUnsupported":   {same, "text/plain", 415, "bad_request"},
		"FormWithoutAnOriginIsUnsupported":          {"", "application/x-www-form-urlencoded", 415, "bad_request"},
		"JSONFromTheSameOriginSignsIn":              {same, "application/json", 200, ""},
		"JSONWithItsCharsetSignsIn":                 {same, "application/json; charset=utf-8", 200, ""},
		"JSONFromAnAllowedOriginSignsIn":            {"https://chat.example.com", "application/json", 200, ""},
		"NoOriginAndNoContentTypeSignsIn":           {"", "", 200, ""},
		"TextPlainWithoutAnyOriginIsUnsupportedToo": {"", "text/plain", 415, "bad_request"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/session", strings.NewReader(signIn))
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			a := call(t, req)
			if a.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", a.StatusCode, tt.want, a.Body)
			}
			if tt.code != "" {
				wantErrorBody(t, a.Body, tt.code)
				if c := a.Header.Values("Set-Cookie"); len(c) != 0 {
					t.Fatalf("a refused sign-in set %v", c)
				}
			}
		})
	}
	t.Run("SignOutFromAnotherSiteIsForbiddenAndEndsNothing", func(t *testing.T) {
		tok := chattest.Login(t, s.URL, "bob", pw)
		req, _ := http.NewRequest(http.MethodDelete, s.URL+"/api/session", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Origin", "https://evil.example")
		if st := statusOf(t, req); st != http.StatusForbidden {
			t.Fatalf("status %d", st)
		}
		if st, body := chattest.Do(t, http.MethodGet, s.URL+"/api/me", tok, nil); st != http.StatusOK {
			t.Fatalf("the session after a cross-site sign-out: %d %s", st, body)
		}
	})
	if limited(t, s, "origin") == 0 || limited(t, s, "content_type") == 0 {
		t.Error("the refusals were not counted")
	}
}

func TestTheSessionCookieIsHttpOnlyStrictAndSecureOverTLS(t *testing.T) {
	for name, tlsOn := range map[string]bool{"PlainHTTP": false, "TLS": true} {
		t.Run(name, func(t *testing.T) {
			s := newServerWith(t, serverOpts{tls: tlsOn})
			resp, err := s.Client.Post(s.URL+"/api/session", "application/json", strings.NewReader(`{"username":"alice","password":"`+pw+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cookies := resp.Cookies()
			if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Secure != tlsOn {
				t.Fatalf("cookies %+v", cookies)
			}
		})
	}
}

func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	s := newServer(t, "CHAT_MANAGEMENT_ADDR", "127.0.0.1:0")
	mgmt := "http://" + s.ManagementAddr()
	host := strings.TrimPrefix(s.URL, "http://")
	tests := map[string]struct {
		method, url, origin string
	}{
		"TheUI":                   {"GET", s.URL + "/", ""},
		"AnyPageOfTheUI":          {"GET", s.URL + "/rooms/general", ""},
		"AMissingFile":            {"GET", s.URL + "/assets/missing.js", ""},
		"ACallWithoutASession":    {"GET", s.URL + "/api/me", ""},
		"AnUnknownCall":           {"GET", s.URL + "/api/nope", ""},
		"ACrossSiteRefusal":       {"POST", s.URL + "/api/session", "https://evil.example"},
		"AProbeOnTheChatListener": {"GET", s.URL + "/healthz", ""},
		"TheMetrics":              {"GET", mgmt + "/metrics", ""},
		"AProbe":                  {"GET", mgmt + "/readyz", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.url, nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			h := call(t, req).Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'self';", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.HasPrefix(tt.url, s.URL+"/") && !strings.Contains(csp, "connect-src 'self' ws://"+host+" wss://"+host) {
				t.Errorf("Content-Security-Policy %q does not let the page reach its WebSocket", csp)
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("Content-Security-Policy %q allows something unsafe", csp)
			}
			for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestABodyOverTheLimitIsTooLarge(t *testing.T) {
	const limit = 1024
	s := newServer(t, "CHAT_MAX_BODY_BYTES", fmt.Sprint(limit))
	tok := chattest.Login(t, s.URL, "alice", pw)
	signIn := `{"username":"bob","password":"` + pw + `"}`
	atLimit := signIn + strings.Repeat(" ", limit-len(signIn))
	over := atLimit + " "
	tests := map[string]struct {
		method, path, body string
		unknownLength      bool
		want               int
	}{
		"ASignInOverTheLimit":                  {"POST", "/api/session", over, false, 413},
		"ASignInOfUnknownLengthOverTheLimit":   {"POST", "/api/session", over, true, 413},
		"ASignOutWithABodyOverTheLimit":        {"DELETE", "/api/session", over, false, 413},
		"AnUnknownCallWithABodyOverTheLimit":   {"POST", "/api/nope", over, false, 413},
		"AReadOnlyCallWithABodyOverTheLimit":   {"GET", "/api/me", over, false, 413},
		"ASignInAtTheLimitIsRead":              {"POST", "/api/session", atLimit, false, 200},
		"ASignInOfUnknownLengthAtTheLimitRead": {"POST", "/api/session", atLimit, true, 200},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.unknownLength {
				body = io.MultiReader(body) // a reader of unknown length: sent chunked
			}
			req, _ := http.NewRequest(tt.method, s.URL+tt.path, body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			a := call(t, req)
			if a.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", a.StatusCode, tt.want, a.Body)
			}
			if tt.want == http.StatusRequestEntityTooLarge {
				wantErrorBody(t, a.Body, "too_large")
			}
		})
	}
	if limited(t, s, "body_bytes") != 5 {
		t.Errorf("%g refusals by body_bytes, want 5", limited(t, s, "body_bytes"))
	}
}

func TestHeadersOverTheLimitAreRefused(t *testing.T) {
	s := newServer(t, "CHAT_MAX_HEADER_BYTES", "4096")
	c, br := rawConn(t, s)
	// net/http allows 4 KiB over the limit for the request line.
	a := roundTrip(t, c, br, "GET /api/me HTTP/1.1\r\nHost: chat\r\nX-Big: "+strings.Repeat("x", 3*4096)+"\r\n\r\n")
	if a.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d: %s", a.StatusCode, a.Body)
	}
	wantClosed(t, br)
	wantRefused(t, s, "bad_request_headers", 1)
}
