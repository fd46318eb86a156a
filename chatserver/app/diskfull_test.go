package app

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/sqlite/sqlitetest"
)

// A full data disk: sends answer unavailable, /readyz says unready and why,
// and once space returns the same server takes sends and sign-ins again,
// with every acknowledged message there.
func TestDiskFullIsUnavailableAndUnreadyUntilSpaceReturns(t *testing.T) {
	dir := sqlitetest.SmallDisk(t, 16<<20)
	m := startWith(t, "CHAT_DATA_DIR", dir)
	base := "http://" + m.Addr()
	c := chattest.Dial(t, base, chattest.Login(t, base, "alice", "chat-secret-1"))
	var acked []string
	send := func() chattest.Frame {
		cid := fmt.Sprintf("c%d", len(acked))
		f := c.Command(map[string]any{"type": "send", "room": "general", "text": strings.Repeat("x", 1024), "cid": cid})
		if f.OK {
			acked = append(acked, cid)
		}
		return f
	}
	for range 20 {
		if f := send(); !f.OK {
			t.Fatalf("send before the disk is full: %s", f.Raw)
		}
	}

	free := sqlitetest.Fill(t, dir)
	f := send()
	for i := 0; f.OK; i++ { // the WAL may still have room for a few
		if i == 1000 {
			t.Fatal("1,000 sends of a KiB succeeded on a full disk")
		}
		f = send()
	}
	if f.Error == nil || f.Error.Code != chatserver.EUnavailable || !strings.Contains(f.Error.Message, "disk is full") {
		t.Fatalf("send on a full disk: %s", f.Raw)
	}
	status, r := readyz(t, m.Addr())
	if status != http.StatusServiceUnavailable || r.Status != "unready" ||
		!strings.Contains(r.Backends["sqlite"], "no space left on device") || !strings.Contains(r.Backends["sqlite"], dir) {
		t.Fatalf("/readyz on a full disk: %d %+v", status, r)
	}
	body := map[string]string{"username": "bob", "password": "chat-secret-1"}
	if status, b := chattest.Do(t, http.MethodPost, base+"/api/session", "", body); status != http.StatusServiceUnavailable {
		t.Fatalf("sign-in on a full disk: %d %s", status, b)
	}

	free()
	chattest.Eventually(t, 10*time.Second, "/readyz ready once space returns", func() bool {
		status, _ := readyz(t, m.Addr())
		return status == http.StatusOK
	})
	if f := send(); !f.OK {
		t.Fatalf("send once space returned: %s", f.Raw)
	}
	c2 := chattest.Dial(t, base, chattest.Login(t, base, "bob", "chat-secret-1"))
	var p struct{ Messages []chattest.Message }
	c2.OK(map[string]any{"type": "join", "room": "general"}, &p)
	var stored []string
	for _, msg := range p.Messages {
		stored = append(stored, msg.CID)
	}
	if !slices.Equal(stored, acked) {
		t.Fatalf("stored %v, acknowledged %v", stored, acked)
	}
}
