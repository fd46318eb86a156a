package backends

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/chattest/fakees"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
)

type readiness struct {
	Status   string            `json:"status"`
	Backends map[string]string `json:"backends"`
}

// readyz asks base+"/readyz"; status 0 when nothing answers.
func readyz(base string) (int, readiness) {
	var r readiness
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/readyz")
	if err != nil {
		return 0, r
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r
}

func localAddr(t *testing.T) string { return fmt.Sprint("127.0.0.1:", chattest.FreePort(t)) }

// A fresh cluster, as the operator starts one: a Kafka that has no topic and
// creates none by itself, and an Elasticsearch reached over TLS with a CA of
// its own while Kafka speaks plaintext. The chat server (two real processes:
// the server and `chatserver index`) creates the topic as configured, becomes
// ready, and a sign-in's activity event goes through Kafka into the index.
func TestFreshCluster_kfake_FakeES_ServerAndIndexerBecomeReady(t *testing.T) {
	topic, group := "chat.activity."+randomName(), "indexer-"+randomName()
	kc := startKafka(t, 0, "", 0)
	es, esCA := fakees.StartTLS(t)
	common := []string{
		"CHAT_KAFKA_BROKERS=" + strings.Join(kc.ListenAddrs(), ","),
		"CHAT_KAFKA_TOPIC=" + topic,
		"CHAT_KAFKA_PARTITIONS=5",
		"CHAT_KAFKA_RETENTION=48h",
		"CHAT_ELASTICSEARCH_URL=" + es.URL,
		"CHAT_ELASTICSEARCH_CA_FILE=" + esCA, // only Elasticsearch's: Kafka stays plaintext
		"CHAT_SHUTDOWN_TIMEOUT=5s",
	}

	addr, mgmt := localAddr(t), localAddr(t)
	server := startProc(t, "server", nil, append([]string{
		"CHAT_ADDR=" + addr, "CHAT_MANAGEMENT_ADDR=" + mgmt, "CHAT_DATA_DIR=" + filepath.Join(t.TempDir(), "data"),
	}, common...), "http://"+addr, "http://"+mgmt)
	chattest.Eventually(t, 60*time.Second, "the server reports every backend ok (the topic exists)", func() bool {
		status, r := readyz("http://" + mgmt)
		return status == http.StatusOK && r.Status == "ready" && r.Backends["kafka"] == "ok" && r.Backends["elasticsearch"] == "ok"
	})
	if n, ret, ok := standin.TopicInfo(t, kc.ListenAddrs(), topic); !ok || n != 5 || ret != "172800000" {
		t.Fatalf("topic: exists %v, %d partitions, retention.ms %q; want 5 and 172800000", ok, n, ret)
	}
	if status, _ := readyz(server.base); status != http.StatusNotFound {
		t.Fatalf("/readyz on the chat address: %d, want 404", status)
	}

	chattest.Login(t, server.base, "alice", mpPassword)
	recs := standin.Consume(t, kc.ListenAddrs(), topic, 1)
	login := recs[0].Event
	if login.Type != chatserver.ActivityLogin || login.User != "alice" || recs[0].Key != "alice" {
		t.Fatalf("first event in the topic: %+v", recs[0])
	}

	iaddr, imgmt := localAddr(t), localAddr(t)
	startProc(t, "indexer", []string{"index"}, append([]string{
		"CHAT_ADDR=" + iaddr, "CHAT_MANAGEMENT_ADDR=" + imgmt,
		"CHAT_INDEXER_GROUP=" + group, "CHAT_INDEXER_FLUSH_INTERVAL=100ms",
	}, common...), "http://"+iaddr, "http://"+imgmt)
	if status, r := readyz("http://" + imgmt); status != http.StatusOK || r.Status != "ready" {
		t.Fatalf("indexer /readyz: %d %+v", status, r)
	}
	chattest.Eventually(t, 60*time.Second, "the sign-in's event is indexed", func() bool {
		docs, _, installed := es.Snapshot()
		got, ok := docs[login.ID]
		return installed && ok && got.Type == chatserver.ActivityLogin && got.User == "alice"
	})
	if index, want := es.IndexOf(login.ID), "chat-activity-"+login.TS.UTC().Format("2006.01.02"); index != want {
		t.Fatalf("the sign-in's event went into %s, want %s", index, want)
	}
}
