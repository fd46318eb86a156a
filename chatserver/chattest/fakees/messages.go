package fakees

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
)

// Message is a document of the message index: its source's fields the
// tests look at, and its version.
type Message struct {
	Version int64
	ID      string `json:"id"`
	Text    string `json:"text"`
	Rev     int64  `json:"rev"`
	Deleted bool   `json:"deleted"`
}

// Messages returns the message index's documents by document id.
func (f *Server) Messages() map[string]Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.messages)
}

// indexMessage is the index operation of a message's document at an
// external version: written when the version is newer than the document's,
// a version conflict (409) when not; refused with status when that is not 0.
// It returns the bulk item and whether it was written or already there.
func (f *Server) indexMessage(index, id string, version int64, source []byte, status int) (map[string]any, bool) {
	item := func(status int, more map[string]any) map[string]any {
		fields := map[string]any{"_index": index, "_id": id, "status": status}
		maps.Copy(fields, more)
		return map[string]any{"index": fields}
	}
	var m Message
	switch cur, exists := f.messages[id]; {
	case status != 0:
		return item(status, map[string]any{"error": itemError(status)}), false
	case json.Unmarshal(source, &m) != nil:
		return item(http.StatusBadRequest, map[string]any{"error": map[string]string{"type": "document_parsing_exception", "reason": "not a JSON object"}}), false
	case exists && version <= cur.Version:
		return item(http.StatusConflict, map[string]any{"error": map[string]string{"type": "version_conflict_engine_exception",
			"reason": fmt.Sprintf("[%s]: version conflict, current version [%d] is higher or equal to the one provided [%d]", id, cur.Version, version)}}), true
	default:
		m.Version = version
		f.messages[id] = m
		result, status := "created", http.StatusCreated
		if exists {
			result, status = "updated", http.StatusOK
		}
		return item(status, map[string]any{"_version": version, "result": result}), true
	}
}

// createIndex answers the creation of an index as Elasticsearch does for
// one the template makes.
func createIndex(w http.ResponseWriter, name string) {
	_, _ = io.WriteString(w, fmt.Sprintf(`{"acknowledged":true,"shards_acknowledged":true,"index":%q}`, name))
}
