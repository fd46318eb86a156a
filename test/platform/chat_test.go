//go:build platform

package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatcluster/chatcluster/test/platform/e2e"
)

// users sign in on the chat-server pods, one each, in this order.
var users = []string{"alice", "bob", "carol"}

// chat proves that n chat-server pods serve one chat: a user on each pod
// (through the kubelet's forward of that pod's port), all in one room, each
// sending a message every other user receives; a direct message from the
// first user to the second; each of those two sees the other online
// through a pod that is not their own; and the admin finds the first
// user's sign-in and message in the activity search (Kafka, the indexer,
// Elasticsearch).
func (p *platform) chat(t *testing.T, n int, round string) {
	t.Helper()
	ctx := t.Context()
	bases := p.chatServers(t, n)
	room := "room-" + round

	conns := make([]*e2e.Conn, n)
	tokens := make([]string, n)
	for i := range n {
		user := users[i]
		tokens[i] = p.signIn(t, bases[i], user, "password-"+user)
		c, err := e2e.Dial(ctx, bases[i], user, tokens[i])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Command(ctx, map[string]any{"type": "join", "room": room}); err != nil {
			t.Fatalf("%s joins %s: %v", user, room, err)
		}
		conns[i] = c
	}

	var firstMessage string
	for i, c := range conns {
		text := fmt.Sprintf("%s: hello from %s on %s", round, c.User, bases[i])
		reply, err := c.Command(ctx, map[string]any{"type": "send", "room": room, "text": text, "cid": round + "-" + c.User})
		if err != nil {
			t.Fatalf("%s sends: %v", c.User, err)
		}
		if i == 0 {
			firstMessage = messageID(t, reply)
		}
		for j, other := range conns {
			if j == i {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, chatWithin)
			_, err := other.AwaitMessage(wctx, room, text)
			cancel()
			if err != nil {
				t.Fatalf("a message sent on pod %d did not reach pod %d: %v", i, j, err)
			}
		}
	}
	t.Logf("%d users on %d pods exchanged messages in %s", n, n, room)

	dm := "dm:" + users[0] + "_" + users[1]
	text := round + ": a direct message"
	if _, err := conns[0].Command(ctx, map[string]any{"type": "send", "room": dm, "text": text, "cid": round + "-dm"}); err != nil {
		t.Fatalf("direct message: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, chatWithin)
	defer cancel()
	if _, err := conns[1].AwaitMessage(wctx, dm, text); err != nil {
		t.Fatal(err)
	}
	t.Log("the direct message arrived")

	for i, j := range []int{1, 0} {
		p.waitOnline(t, bases[i], tokens[i], users[j])
	}
	t.Log("presence: each sees the other online")

	p.waitActivity(t, bases[0], users[0], firstMessage)
}

// chatServers waits for n Ready chat-server pods and returns the base URL
// of each one's forwarded http port.
func (p *platform) chatServers(t *testing.T, n int) []string {
	t.Helper()
	var bases []string
	err := e2e.WaitFor(t.Context(), rolloutWithin, fmt.Sprintf("%d Ready chat-server pods with forwards", n), func(ctx context.Context) (bool, error) {
		pods, err := p.componentPods(ctx, "chat-server")
		if err != nil {
			return false, err
		}
		pods = slices.DeleteFunc(pods, func(pod corev1.Pod) bool { return pod.DeletionTimestamp != nil || !podReady(&pod) })
		if len(pods) != n {
			return false, fmt.Errorf("%d Ready chat-server pods, want %d", len(pods), n)
		}
		bases = bases[:0]
		for _, pod := range pods {
			addr, err := p.kubelet.Forward(ctx, namespace, pod.Name, "http")
			if err != nil {
				return false, err
			}
			bases = append(bases, "http://"+addr)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bases
}

// signIn signs a user in on a pod; a pod that just turned Ready may still
// refuse for a moment, so failures are retried within a bound.
func (p *platform) signIn(t *testing.T, base, user, password string) string {
	t.Helper()
	var token string
	err := e2e.WaitFor(t.Context(), chatWithin, "sign-in of "+user+" on "+base, func(ctx context.Context) (bool, error) {
		var err error
		token, err = e2e.SignIn(ctx, base, user, password)
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// waitOnline waits until GET /api/users on base says user is online.
func (p *platform) waitOnline(t *testing.T, base, token, user string) {
	t.Helper()
	err := e2e.WaitFor(t.Context(), chatWithin, user+" online on "+base, func(ctx context.Context) (bool, error) {
		var out struct {
			Users []struct{ ID, Status string }
		}
		if err := e2e.Get(ctx, base, token, "/api/users", &out); err != nil {
			return false, err
		}
		for _, u := range out.Users {
			if u.ID == user && u.Status != "online" {
				return false, fmt.Errorf("%s is %s", user, u.Status)
			}
			if u.ID == user {
				return true, nil
			}
		}
		return false, fmt.Errorf("%s is not listed", user)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitActivity waits until the admin's activity search on base finds the
// user's sign-in and the message with messageID.
func (p *platform) waitActivity(t *testing.T, base, user, messageID string) {
	t.Helper()
	token := p.signIn(t, base, "admin", p.adminPassword(t))
	err := e2e.WaitFor(t.Context(), indexWithin, "the activity of "+user+" in the search", func(ctx context.Context) (bool, error) {
		var out struct {
			Events []struct {
				Type      string `json:"type"`
				User      string `json:"user"`
				MessageID string `json:"message_id"`
			} `json:"events"`
		}
		if err := e2e.Get(ctx, base, token, "/api/activity?size=1000&user="+user, &out); err != nil {
			return false, err
		}
		login, sent := false, false
		for _, e := range out.Events {
			login = login || e.Type == "session.login"
			sent = sent || (e.Type == "message.sent" && e.MessageID == messageID)
		}
		if !login || !sent {
			return false, fmt.Errorf("%d events of %s; sign-in found: %v, message %s found: %v", len(out.Events), user, login, messageID, sent)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("the admin found the sign-in and the message in the activity search")
}

// adminPassword is the generated admin password, from the operator's Secret.
func (p *platform) adminPassword(t *testing.T) string {
	t.Helper()
	s, err := p.cluster.Core.CoreV1().Secrets(namespace).Get(t.Context(), "demo-chat-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pw := string(s.Data["admin-password"])
	if pw == "" {
		t.Fatal("the generated Secret has no admin-password")
	}
	return pw
}

func messageID(t *testing.T, reply e2e.Event) string {
	t.Helper()
	var data struct {
		Message e2e.Message `json:"message"`
	}
	if err := json.Unmarshal(reply.Data, &data); err != nil || data.Message.ID == "" {
		t.Fatalf("send reply without a message: %s (%v)", reply.Data, err)
	}
	return data.Message.ID
}
