//go:build e2ekind

// Package e2ekind checks a chat served through an Ingress, as the kind
// workflow deploys it: two users sign in, open WebSockets through the
// ingress controller and exchange a message in a public room.
package e2ekind

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestChatThroughTheIngress(t *testing.T) {
	base := os.Getenv("CHAT_E2E_URL")
	if base == "" {
		t.Fatal("CHAT_E2E_URL is not set")
	}
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	alice := dial(t, base, signIn(t, base, "alice"+suffix))
	bob := dial(t, base, signIn(t, base, "bob"+suffix))
	room := "e2e-" + suffix

	for _, c := range []*websocket.Conn{alice, bob} {
		send(t, c, map[string]any{"type": "join", "id": 1, "room": room})
		await(t, c, func(f map[string]any) bool { return f["type"] == "reply" && f["re"] == 1.0 && f["ok"] == true })
	}
	send(t, alice, map[string]any{"type": "send", "id": 2, "room": room, "text": "hello through the ingress", "cid": "c1"})
	await(t, bob, func(f map[string]any) bool {
		m, _ := f["message"].(map[string]any)
		return f["type"] == "message" && m["text"] == "hello through the ingress"
	})
}

func signIn(t *testing.T, base, user string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": "e2e-password-" + user})
	resp, err := http.Post(base+"/api/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Token == "" {
		t.Fatalf("sign in %s: status %d, %v", user, resp.StatusCode, err)
	}
	return out.Token
}

func dial(t *testing.T, base, token string) *websocket.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	wsURL := strings.Replace(base, u.Scheme, map[string]string{"http": "ws", "https": "wss"}[u.Scheme], 1) + "/ws"
	h := http.Header{"Authorization": {"Bearer " + token}, "Origin": {base}}
	c, resp, err := websocket.DefaultDialer.Dial(wsURL, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", wsURL, err, status)
	}
	t.Cleanup(func() { c.Close() })
	await(t, c, func(f map[string]any) bool { return f["type"] == "hello" })
	return c
}

func send(t *testing.T, c *websocket.Conn, cmd map[string]any) {
	t.Helper()
	if err := c.WriteJSON(cmd); err != nil {
		t.Fatal(err)
	}
}

// await reads frames until one satisfies match; the read deadline only ends
// a check that would otherwise hang.
func await(t *testing.T, c *websocket.Conn, match func(map[string]any) bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var f map[string]any
			if json.Unmarshal(line, &f) == nil && match(f) {
				return
			}
		}
	}
}
