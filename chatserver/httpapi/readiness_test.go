package httpapi_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/app"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

type readiness struct {
	Status   string            `json:"status"`
	Backends map[string]string `json:"backends"`
}

func getReadyz(t *testing.T, url string) (int, readiness) {
	t.Helper()
	status, body := chattest.Do(t, http.MethodGet, url+"/readyz", "", nil)
	var r readiness
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/readyz body %s: %v", body, err)
	}
	return status, r
}

// kafkaDown is the CHAT_KAFKA_BROKERS of a Kafka that is away: an address
// nothing listens on.
func kafkaDown(t *testing.T) []string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return []string{"CHAT_KAFKA_BROKERS", ln.Addr().String()}
}

// elasticsearchUp is the CHAT_ELASTICSEARCH_URL of an Elasticsearch that
// answers the readiness check.
func elasticsearchUp(t *testing.T) []string {
	t.Helper()
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}))
	t.Cleanup(es.Close)
	return []string{"CHAT_ELASTICSEARCH_URL", es.URL}
}

func TestReadyz(t *testing.T) {
	t.Run("AllBackendsAnswerIsReady", func(t *testing.T) {
		s := newServer(t)
		status, r := getReadyz(t, s.URL)
		if status != http.StatusOK || r.Status != "ready" || r.Backends["sqlite"] != "ok" {
			t.Fatalf("%d %+v", status, r)
		}
	})
	t.Run("KafkaDownOnlyDegrades", func(t *testing.T) {
		s := newServer(t, append(kafkaDown(t), elasticsearchUp(t)...)...)
		status, r := getReadyz(t, s.URL)
		if status != http.StatusOK || r.Status != "degraded" || r.Backends["sqlite"] != "ok" || r.Backends["elasticsearch"] != "ok" ||
			!strings.Contains(r.Backends["kafka"], "connection refused") {
			t.Fatalf("%d %+v", status, r)
		}
		// Chat goes on meanwhile.
		c, _ := s.user(t, "alice")
		c.OK(map[string]any{"type": "send", "room": "general", "text": "still here", "cid": "c1"}, nil)
		_, metrics := chattest.Do(t, http.MethodGet, s.URL+"/metrics", "", nil)
		for _, want := range []string{`chat_backend_up{backend="kafka"} 0`, `chat_backend_up{backend="sqlite"} 1`, `chat_backend_up{backend="elasticsearch"} 1`} {
			if !strings.Contains(string(metrics), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
	t.Run("BrokenStoreIsUnready", func(t *testing.T) {
		store, err := sqlite.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() }) // after the server's
		s := newServerWith(t, serverOpts{env: kafkaDown(t), opts: app.Options{SQLite: store}})
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		status, r := getReadyz(t, s.URL)
		if status != http.StatusServiceUnavailable || r.Status != "unready" || r.Backends["sqlite"] == "ok" || r.Backends["kafka"] == "ok" {
			t.Fatalf("%d %+v", status, r)
		}
		if _, metrics := chattest.Do(t, http.MethodGet, s.URL+"/metrics", "", nil); !strings.Contains(string(metrics), `chat_backend_up{backend="sqlite"} 0`) {
			t.Errorf("/metrics does not show the store down")
		}
	})
	t.Run("DrainingIsUnready", func(t *testing.T) {
		s := newServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.API().Shutdown(ctx)
		status, r := getReadyz(t, s.URL)
		if status != http.StatusServiceUnavailable || r.Status != "unready" || r.Backends["server"] != "shutting down" {
			t.Fatalf("%d %+v", status, r)
		}
	})
}

func TestSeparateManagement(t *testing.T) {
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("the web UI")) })
	s := newServerWith(t, serverOpts{env: []string{"CHAT_MANAGEMENT_ADDR", "127.0.0.1:0", "CHAT_PPROF", "true"}, opts: app.Options{Web: web}})
	mgmt := "http://" + s.ManagementAddr()
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/", "/debug/pprof/goroutine"} {
		status, body := chattest.Do(t, http.MethodGet, s.URL+path, "", nil)
		if status != http.StatusNotFound || !strings.Contains(string(body), `"not_found"`) {
			t.Errorf("chat listener %s: %d %.100s", path, status, body)
		}
		if status, body := chattest.Do(t, http.MethodGet, mgmt+path, "", nil); status != http.StatusOK {
			t.Errorf("management listener %s: %d %.100s", path, status, body)
		}
	}
	// The chat itself stays where it was.
	if status, body := chattest.Do(t, http.MethodGet, s.URL+"/", "", nil); status != http.StatusOK || string(body) != "the web UI" {
		t.Errorf("web UI: %d %s", status, body)
	}
	tok := chattest.Login(t, s.URL, "alice", pw)
	if status, body := chattest.Do(t, http.MethodGet, s.URL+"/api/me", tok, nil); status != http.StatusOK {
		t.Errorf("/api/me: %d %s", status, body)
	}
	if status, _ := chattest.Do(t, http.MethodGet, mgmt+"/api/me", tok, nil); status != http.StatusNotFound {
		t.Errorf("the management listener serves the API: %d", status)
	}
}

// proxyServer runs a server in proxy mode that trusts the user header from trusted.
func proxyServer(t *testing.T, trusted string) *testServer {
	t.Helper()
	return newServer(t, "CHAT_AUTH_MODE", "proxy", "CHAT_TRUSTED_PROXIES", trusted)
}

// proxiedLogin signs in with the given values of X-Forwarded-User and any
// extra headers, and returns the status and the decoded answer.
func proxiedLogin(t *testing.T, url string, users []string, extra map[string]string) (int, map[string]json.RawMessage) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/api/session", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		req.Header.Add("X-Forwarded-User", u)
	}
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func wantError(t *testing.T, body map[string]json.RawMessage, code string) {
	t.Helper()
	var e struct{ Code, Message string }
	if err := json.Unmarshal(body["error"], &e); err != nil || e.Code != code || e.Message == "" {
		t.Fatalf("error %s, want code %s with a message", body["error"], code)
	}
}

func TestProxyModeTrustsOnlyTrustedProxies(t *testing.T) {
	t.Run("HeaderFromAnUntrustedPeerIsUnauthenticated", func(t *testing.T) {
		s := proxyServer(t, "10.0.0.0/8") // the test connects from 127.0.0.1
		status, body := proxiedLogin(t, s.URL, []string{"alice"}, nil)
		if status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401: %s", status, body)
		}
		wantError(t, body, chatserver.EUnauthorized)
		// Forwarding headers do not make a peer trusted.
		status, body = proxiedLogin(t, s.URL, []string{"alice"}, map[string]string{"X-Forwarded-For": "10.1.2.3", "X-Real-Ip": "10.1.2.3"})
		if status != http.StatusUnauthorized {
			t.Fatalf("with X-Forwarded-For: status %d, want 401: %s", status, body)
		}
	})
	t.Run("HeaderFromATrustedProxySignsIn", func(t *testing.T) {
		s := proxyServer(t, "127.0.0.0/8")
		status, body := proxiedLogin(t, s.URL, []string{"Alice"}, nil)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		var tok string
		_ = json.Unmarshal(body["token"], &tok)
		status, me := chattest.Do(t, http.MethodGet, s.URL+"/api/me", tok, nil)
		if status != http.StatusOK || !strings.Contains(string(me), `"id":"alice"`) {
			t.Fatalf("/api/me: %d %s", status, me)
		}
		status, body = proxiedLogin(t, s.URL, nil, nil)
		if status != http.StatusUnauthorized {
			t.Fatalf("no header from the proxy: status %d, want 401", status)
		}
		wantError(t, body, chatserver.EUnauthorized)
	})
	t.Run("HeaderTwiceIsRefused", func(t *testing.T) {
		s := proxyServer(t, "127.0.0.0/8")
		status, body := proxiedLogin(t, s.URL, []string{"alice", "admin"}, nil)
		if status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400: %s", status, body)
		}
		wantError(t, body, chatserver.EBadRequest)
	})
}
