package backends

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// esBinary builds the Elasticsearch 8 stand-in of the platform test
// (test/platform/standins/es: the HTTP API over an engine that really
// indexes and searches) once per test binary.
var esBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(chatBinary), "standin-elasticsearch")
	build := exec.Command("go", "build", "-o", bin, "./standins/cmd/standin-elasticsearch")
	build.Dir = filepath.Join("..", "platform")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the Elasticsearch stand-in: %v\n%s", err, out)
	}
	return bin, nil
})

// startStandinES starts the Elasticsearch stand-in on a free port and
// returns its URL once it answers. It is stopped when the test ends.
func startStandinES(t *testing.T) string {
	t.Helper()
	bin, err := esBinary()
	if err != nil {
		t.Fatal(err)
	}
	port := chattest.FreePort(t)
	logf, err := os.Create(filepath.Join(t.TempDir(), "es.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-E", "discovery.type=single-node", "-E", "xpack.security.enabled=false",
		"-E", "http.host=127.0.0.1", "-E", fmt.Sprint("http.port=", port), "-E", "path.data="+t.TempDir())
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("Elasticsearch stand-in log:\n%s", b)
		}
	})
	url := fmt.Sprint("http://127.0.0.1:", port)
	chattest.Eventually(t, 30*time.Second, "the Elasticsearch stand-in answers", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return url
}

// Two instances on MongoDB (FerretDB), Redis and Kafka (kfake), with the
// indexer writing into the Elasticsearch stand-in: a DM sent on one
// instance is found by a word prefix on the other within 5 s of its ack, by
// its members only; edits and deletes follow; and a burst sent while the
// indexer restarts is all found, each message once.
func TestMessageSearch_FerretDB_kfake_StandinES_TwoInstancesAndAnIndexerRestart(t *testing.T) {
	be := startBackends(t)
	be.elasticURL = startStandinES(t)
	a, b := startChat(t, be, "a"), startChat(t, be, "b")
	indexer := func() *chatProc {
		addr := localAddr(t)
		return startProc(t, "indexer", []string{"index"}, append(be.env(),
			"CHAT_ADDR="+addr,
			"CHAT_INDEXER_GROUP=indexer", "CHAT_INDEXER_FLUSH_INTERVAL=100ms", "CHAT_SHUTDOWN_TIMEOUT=5s",
		), "http://"+addr, "http://"+addr)
	}
	ix := indexer()

	aliceTok := chattest.Login(t, a.base, "alice", mpPassword)
	bobTok := chattest.Login(t, b.base, "bob", mpPassword)
	carolTok := chattest.Login(t, b.base, "carol", mpPassword)
	alice := chattest.Dial(t, a.base, aliceTok)

	var sent struct{ Message chatserver.Message }
	alice.OK(map[string]any{"type": "send", "room": "dm:alice_bob", "text": "The deployment finished at noon", "cid": "d1"}, &sent)
	acked := time.Now()
	found := chattest.SearchFor(t, b.base, bobTok, "deplo", 10*time.Second, func(r chatserver.SearchResult) bool { return r.Total > 0 })
	took := time.Since(acked)
	if found.Total != 1 || found.Messages[0].ID != sent.Message.ID || found.Messages[0].Text != sent.Message.Text {
		t.Fatalf("bob's search on the other instance: %+v", found)
	}
	t.Logf("from ack to searchable on the other instance: %v", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("searchable %v after the ack, want within 5s", took)
	}
	if st, r := chattest.Search(t, a.base, carolTok, url.Values{"q": {"deplo"}}); st != http.StatusOK || r.Total != 0 || len(r.Messages) != 0 {
		t.Fatalf("carol's search: status %d, %+v; want 200 and nothing of the DM of alice and bob", st, r)
	}

	alice.OK(map[string]any{"type": "edit", "room": "dm:alice_bob", "seq": sent.Message.Seq, "text": "rollout done"}, nil)
	chattest.SearchFor(t, b.base, bobTok, "rollo", 10*time.Second, func(r chatserver.SearchResult) bool { return r.Total == 1 })
	if r := chattest.SearchFor(t, b.base, bobTok, "deplo", 10*time.Second, func(r chatserver.SearchResult) bool { return r.Total == 0 }); r.Total != 0 {
		t.Fatalf("the old text of an edited message is still found: %+v", r)
	}
	alice.OK(map[string]any{"type": "delete", "room": "dm:alice_bob", "seq": sent.Message.Seq}, nil)
	if r := chattest.SearchFor(t, b.base, bobTok, "rollo", 10*time.Second, func(r chatserver.SearchResult) bool { return r.Total == 0 }); r.Total != 0 {
		t.Fatalf("a deleted message is still found: %+v", r)
	}

	// Ack to searchable on the other instance, a few times, for the figures
	// (docs/bench.md: make bench-search-index).
	var lags []time.Duration
	for i := range 10 {
		word := fmt.Sprintf("probe%03dx", i)
		alice.OK(map[string]any{"type": "send", "room": "dm:alice_bob", "text": "lag " + word, "cid": "lag" + word}, nil)
		acked := time.Now()
		chattest.SearchFor(t, b.base, bobTok, word, 10*time.Second, func(r chatserver.SearchResult) bool { return r.Total == 1 })
		lags = append(lags, time.Since(acked))
	}
	slices.Sort(lags)
	t.Logf("ack to searchable on the other instance over %d messages: median %v, max %v",
		len(lags), lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	if lags[len(lags)-1] > 5*time.Second {
		t.Errorf("a message was searchable %v after its ack, want within 5s", lags[len(lags)-1])
	}

	// A burst on both instances; the indexer is killed in the middle of it
	// and started again.
	const burst = 200
	bob := chattest.Dial(t, b.base, bobTok)
	for i := range burst {
		c := alice
		if i%2 == 1 {
			c = bob
		}
		c.OK(map[string]any{"type": "send", "room": "general", "text": fmt.Sprintf("burstword number %d", i), "cid": fmt.Sprint("b", i)}, nil)
		if i == burst/2 {
			ix.kill()
			ix = indexer()
		}
	}
	r := chattest.SearchFor(t, a.base, carolTok, "burstw", 30*time.Second, func(r chatserver.SearchResult) bool { return r.Total >= burst })
	if r.Total != burst {
		t.Fatalf("after the burst and the indexer's restart: %d messages found, want %d, each once", r.Total, burst)
	}
}
