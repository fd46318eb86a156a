package app

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

// startWith runs the whole server in-process with extra environment on top
// of a data directory of the test's, an admin and a short shutdown: the chat
// on a listener of the test's, the management listener (when
// CHAT_MANAGEMENT_ADDR is set) where the configuration says.
func startWith(t *testing.T, kv ...string) *Server {
	t.Helper()
	base := []string{"CHAT_DATA_DIR", t.TempDir(),
		"CHAT_ADMINS", "admin", "CHAT_ADMIN_PASSWORD", "adminpass1", "CHAT_SHUTDOWN_TIMEOUT", "5s"}
	cfg, err := config.Parse("chatserver", nil, env(append(base, kv...)...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Listener: ln})
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if m.Addr() != ln.Addr().String() {
		t.Fatalf("serving on %s, not on the listener given, %s", m.Addr(), ln.Addr())
	}
	return m
}

// freeAddr returns a local address nothing listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type readiness struct {
	Status   string            `json:"status"`
	Backends map[string]string `json:"backends"`
}

func readyz(t *testing.T, addr string) (int, readiness) {
	t.Helper()
	status, body := chattest.Do(t, http.MethodGet, "http://"+addr+"/readyz", "", nil)
	var r readiness
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/readyz %d %s: %v", status, body, err)
	}
	return status, r
}

func TestProbesOnTheChatAddressByDefault(t *testing.T) {
	m := startWith(t, "CHAT_PPROF", "true")
	if m.ManagementAddr() != m.Addr() {
		t.Fatalf("management address %s, chat address %s", m.ManagementAddr(), m.Addr())
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/"} {
		if status, body := chattest.Do(t, http.MethodGet, "http://"+m.Addr()+path, "", nil); status != http.StatusOK {
			t.Errorf("%s: %d %.100s", path, status, body)
		}
	}
}

func TestManagementAddressServesTheProbesAlone(t *testing.T) {
	m := startWith(t, "CHAT_MANAGEMENT_ADDR", "127.0.0.1:0", "CHAT_PPROF", "true")
	if m.ManagementAddr() == m.Addr() {
		t.Fatalf("one address for both: %s", m.Addr())
	}
	chat, mgmt := "http://"+m.Addr(), "http://"+m.ManagementAddr()
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		if status, body := chattest.Do(t, http.MethodGet, chat+path, "", nil); status != http.StatusNotFound {
			t.Errorf("chat address %s: %d %.100s", path, status, body)
		}
		if status, body := chattest.Do(t, http.MethodGet, mgmt+path, "", nil); status != http.StatusOK {
			t.Errorf("management address %s: %d %.100s", path, status, body)
		}
	}
	// The chat and its web UI stay on the chat address, and only there.
	tok := chattest.Login(t, chat, "alice", "chat-secret-1")
	if status, body := chattest.Do(t, http.MethodGet, chat+"/api/me", tok, nil); status != http.StatusOK {
		t.Errorf("/api/me: %d %s", status, body)
	}
	if status, _ := chattest.Do(t, http.MethodGet, chat+"/", "", nil); status != http.StatusOK {
		t.Errorf("web UI: %d", status)
	}
	if status, _ := chattest.Do(t, http.MethodGet, mgmt+"/api/me", tok, nil); status != http.StatusNotFound {
		t.Errorf("the management address serves the API: %d", status)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(mgmt, "http://"), time.Second); err == nil {
		t.Error("the management listener is still open after Close")
	}
}

// Kafka away only degrades the server: sends and sign-ins go on (the spool
// keeps the events); a broken user and message store makes it unready.
func TestReadinessKafkaAwayDegradesBrokenStoreIsUnready(t *testing.T) {
	m := startWith(t, "CHAT_KAFKA_BROKERS", freeAddr(t), "CHAT_MANAGEMENT_ADDR", "127.0.0.1:0")
	status, r := readyz(t, m.ManagementAddr())
	if status != http.StatusOK || r.Status != "degraded" || r.Backends["sqlite"] != "ok" || r.Backends["kafka"] == "ok" || r.Backends["kafka"] == "" {
		t.Fatalf("Kafka away: %d %+v", status, r)
	}
	base := "http://" + m.Addr()
	c := chattest.Dial(t, base, chattest.Login(t, base, "alice", "chat-secret-1"))
	if f := c.Command(map[string]any{"type": "send", "room": "general", "text": "hi", "cid": "c1"}); !f.OK {
		t.Fatalf("send while Kafka is away: %s", f.Raw)
	}
	_, metrics := chattest.Do(t, http.MethodGet, "http://"+m.ManagementAddr()+"/metrics", "", nil)
	for _, want := range []string{`chat_backend_up{backend="kafka"} 0`, `chat_backend_up{backend="sqlite"} 1`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !bytes.Contains(metrics, []byte("chat_activity_spool_events ")) || bytes.Contains(metrics, []byte("chat_activity_spool_events 0\n")) {
		t.Errorf("/metrics does not show the spooled events:\n%s", grepLines(metrics, "chat_activity_spool_events"))
	}

	if err := m.backends.Users.(*sqlite.DB).Close(); err != nil {
		t.Fatal(err)
	}
	status, r = readyz(t, m.ManagementAddr())
	if status != http.StatusServiceUnavailable || r.Status != "unready" || r.Backends["sqlite"] == "ok" {
		t.Fatalf("store closed: %d %+v", status, r)
	}
}

func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestIndexerManagementAddress(t *testing.T) {
	addr, mgmtAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, []string{"index"}, env("CHAT_ADDR", addr, "CHAT_MANAGEMENT_ADDR", mgmtAddr,
			"CHAT_KAFKA_BROKERS", freeAddr(t), "CHAT_ELASTICSEARCH_URL", "http://"+freeAddr(t),
			"CHAT_SHUTDOWN_TIMEOUT", "5s", "CHAT_LOG_LEVEL", "error"), io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("indexer: %v", err)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + mgmtAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the indexer's /healthz did not answer within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// It serves nothing but its probes: CHAT_ADDR is not even listened on.
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("the indexer listens on CHAT_ADDR %s besides its management address", addr)
	}
	// Neither Kafka nor Elasticsearch answers: the indexer is unready, and says why.
	status, r := readyz(t, mgmtAddr)
	if status != http.StatusServiceUnavailable || r.Status != "unready" || r.Backends["kafka"] == "ok" || r.Backends["elasticsearch"] == "ok" {
		t.Fatalf("%d %+v", status, r)
	}
	if _, metrics := chattest.Do(t, http.MethodGet, "http://"+mgmtAddr+"/metrics", "", nil); !bytes.Contains(metrics, []byte(`chat_backend_up{backend="elasticsearch"} 0`)) {
		t.Errorf("/metrics lacks chat_backend_up of elasticsearch")
	}
}

// writeCA writes the certificate of a throwaway TLS server as a PEM file.
func writeCA(t *testing.T) string {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Each backend's CA file turns TLS on for that backend only.
func TestKafkaTLSIsItsOwn(t *testing.T) {
	ca := writeCA(t)
	tests := []struct {
		env       []string
		tls, pool bool
	}{
		{env: []string{"CHAT_ELASTICSEARCH_CA_FILE", ca, "CHAT_MONGODB_CA_FILE", ca, "CHAT_REDIS_CA_FILE", ca}},
		{env: []string{"CHAT_KAFKA_TLS", "true"}, tls: true},
		{env: []string{"CHAT_KAFKA_CA_FILE", ca}, tls: true, pool: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env[0]), func(t *testing.T) {
			cfg, err := config.Parse("chatserver", nil, env(append([]string{"CHAT_KAFKA_BROKERS", "kafka:9092",
				"CHAT_ELASTICSEARCH_URL", "https://es:9200"}, tt.env...)...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := kafkaConn(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if (conn.TLS != nil) != tt.tls || (conn.TLS != nil && (conn.TLS.RootCAs != nil) != tt.pool) {
				t.Fatalf("with %v: Kafka TLS on %v, its own CAs %v; want %v, %v", tt.env, conn.TLS != nil, conn.TLS != nil && conn.TLS.RootCAs != nil, tt.tls, tt.pool)
			}
			if _, err := elasticClient(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
}
