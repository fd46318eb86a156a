//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
)

// maxTermBytes is the longest term Lucene indexes: Elasticsearch refuses a
// document with a longer keyword value, with a 400, however often it is
// sent.
const maxTermBytes = 32766

// keywordFields are the fields of an activity event the index template maps
// as keyword.
var keywordFields = []string{"id", "type", "user", "room", "message_id"}

// poisonFront stands before the fake Elasticsearch at target and refuses,
// as a real one would, every bulk item whose document holds a keyword
// longer than maxTermBytes; it passes everything else through.
func poisonFront(target string) http.Handler {
	u, err := url.Parse(target)
	if err != nil {
		panic(err) // an httptest server's URL
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a client that gave up is no news
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/_bulk" {
			rp.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		keep, refused := splitPoison(body)
		if len(refused) == 0 {
			r.Body = io.NopCloser(bytes.NewReader(body))
			rp.ServeHTTP(w, r)
			return
		}
		writeBulk(w, r, target, keep, refused)
	})
}

// splitPoison returns the action and document pairs of a bulk body that
// Elasticsearch takes, and the items it refuses by their place.
func splitPoison(body []byte) (keep []byte, refused map[int]any) {
	lines := bytes.Split(bytes.TrimRight(body, "\n"), []byte("\n"))
	if len(lines)%2 != 0 {
		return body, nil // malformed: the fake answers for itself
	}
	refused = map[int]any{}
	var buf bytes.Buffer
	for i := 0; i < len(lines); i += 2 {
		if field := immenseTerm(lines[i+1]); field != "" {
			var a struct {
				Index struct {
					Index string `json:"_index"`
					ID    string `json:"_id"`
				} `json:"index"`
			}
			_ = json.Unmarshal(lines[i], &a) // an unreadable action keeps empty names
			refused[i/2] = map[string]any{"index": map[string]any{
				"_index": a.Index.Index, "_id": a.Index.ID, "status": http.StatusBadRequest,
				"error": map[string]string{"type": "illegal_argument_exception", "reason": fmt.Sprintf(
					"Document contains at least one immense term in field=%q (whose UTF8 encoding is longer than the max length %d), all of which were skipped.",
					field, maxTermBytes)},
			}}
			continue
		}
		buf.Write(lines[i])
		buf.WriteByte('\n')
		buf.Write(lines[i+1])
		buf.WriteByte('\n')
	}
	return buf.Bytes(), refused
}

// immenseTerm returns the keyword field of doc that is too long, if any.
func immenseTerm(doc []byte) string {
	var m map[string]any
	if json.Unmarshal(doc, &m) != nil {
		return ""
	}
	for _, f := range keywordFields {
		if s, ok := m[f].(string); ok && len(s) > maxTermBytes {
			return f
		}
	}
	return ""
}

// writeBulk sends the pairs Elasticsearch takes to target and answers with
// its items and the refused ones, in the request's order.
func writeBulk(w http.ResponseWriter, r *http.Request, target string, keep []byte, refused map[int]any) {
	var up struct {
		Took  int               `json:"took"`
		Items []json.RawMessage `json:"items"`
	}
	if len(keep) > 0 {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target+"/_bulk?"+r.URL.RawQuery, bytes.NewReader(keep))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &up) != nil {
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(b)
			return
		}
	}
	items := make([]any, 0, len(up.Items)+len(refused))
	for i, k := 0, 0; i < len(up.Items)+len(refused); i++ {
		if it, ok := refused[i]; ok {
			items = append(items, it)
			continue
		}
		if k < len(up.Items) {
			items = append(items, up.Items[k])
			k++
		}
	}
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
	_ = json.NewEncoder(w).Encode(map[string]any{"took": up.Took, "errors": true, "items": items})
}

// injectPoison writes an event Elasticsearch always refuses into the
// activity topic, keyed by user so that it lands in that user's partition,
// before that user's later events.
func (r *rig) injectPoison(user string) error {
	ev := chatserver.ActivityEvent{
		ID: "poison-" + standin.RandomName(), Type: chatserver.ActivityJoin, TS: time.Now().UTC(),
		User: user, Room: strings.Repeat("p", maxTermBytes+1),
	}
	value, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	w := &kafkago.Writer{
		Addr: kafkago.TCP(strings.Split(r.brokers, ",")...), Topic: r.topic,
		Balancer: &kafkago.Murmur2Balancer{}, RequiredAcks: kafkago.RequireAll,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.WriteMessages(ctx, kafkago.Message{Key: []byte(user), Value: value})
}
