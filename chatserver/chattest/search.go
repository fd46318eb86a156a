package chattest

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Search asks GET /api/search with params as the holder of token and
// returns the status and, for 200, the answer.
func Search(t testing.TB, base, token string, params url.Values) (int, chatserver.SearchResult) {
	t.Helper()
	st, body := Do(t, "GET", base+"/api/search?"+params.Encode(), token, nil)
	var res chatserver.SearchResult
	if st == 200 {
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatalf("search answer %s: %v", body, err)
		}
		if res.Messages == nil {
			t.Fatalf("search answer without messages: %s", body)
		}
	}
	return st, res
}

// SearchFor asks GET /api/search?q=q as the holder of token until done
// accepts the answer, for up to wait (an index may take seconds to show a
// message), and returns the last answer.
func SearchFor(t testing.TB, base, token, q string, wait time.Duration, done func(chatserver.SearchResult) bool) chatserver.SearchResult {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st, res := Search(t, base, token, url.Values{"q": {q}})
		if st != 200 {
			t.Fatalf("search %q: status %d", q, st)
		}
		if done(res) || time.Now().After(deadline) {
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
}
