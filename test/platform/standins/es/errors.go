package es

import (
	"fmt"
	"net/http"
)

// esError is an error in Elasticsearch's shape: a type, a reason, extra
// fields and an optional cause, answered with an HTTP status.
type esError struct {
	Status   int
	Type     string
	Reason   string
	Extra    map[string]any
	CausedBy *esError
	// shard, when set, wraps the error as a shard failure of a search
	// (search_phase_execution_exception, "all shards failed").
	shardIndex string
}

func (e *esError) Error() string { return e.Type + ": " + e.Reason }

func errf(status int, typ, format string, args ...any) *esError {
	return &esError{Status: status, Type: typ, Reason: fmt.Sprintf(format, args...)}
}

// badRequest is the most common refusal: illegal_argument_exception, 400.
func badRequest(format string, args ...any) *esError {
	return errf(http.StatusBadRequest, "illegal_argument_exception", format, args...)
}

// parsingError is how Elasticsearch refuses a request body it cannot parse.
func parsingError(format string, args ...any) *esError {
	return errf(http.StatusBadRequest, "parsing_exception", format, args...)
}

// unsupported refuses a feature Elasticsearch has and the stand-in does not
// reproduce, saying so.
func unsupported(format string, args ...any) *esError {
	e := badRequest(format, args...)
	e.Reason += " is not supported by this Elasticsearch stand-in"
	return e
}

func indexNotFound(name string) *esError {
	e := errf(http.StatusNotFound, "index_not_found_exception", "no such index [%s]", name)
	e.Extra = map[string]any{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name}
	return e
}

func (e *esError) with(k string, v any) *esError {
	if e.Extra == nil {
		e.Extra = map[string]any{}
	}
	e.Extra[k] = v
	return e
}

// inShard marks a query-time error as the failure of the index's shard.
func (e *esError) inShard(index string) *esError {
	c := *e
	c.shardIndex = index
	return &c
}

func (e *esError) object() map[string]any {
	m := map[string]any{"type": e.Type, "reason": e.Reason}
	for k, v := range e.Extra {
		m[k] = v
	}
	if e.CausedBy != nil {
		m["caused_by"] = e.CausedBy.object()
	}
	return m
}

// body is the whole error response.
func (e *esError) body() map[string]any {
	if e.shardIndex != "" {
		shard := e.object()
		return map[string]any{
			"error": map[string]any{
				"root_cause": []any{shard},
				"type":       "search_phase_execution_exception",
				"reason":     "all shards failed",
				"phase":      "query",
				"grouped":    true,
				"failed_shards": []any{map[string]any{
					"shard": 0, "index": e.shardIndex, "node": nodeID, "reason": shard,
				}},
			},
			"status": e.Status,
		}
	}
	root := map[string]any{"type": e.Type, "reason": e.Reason}
	for k, v := range e.Extra {
		root[k] = v
	}
	obj := e.object()
	obj["root_cause"] = []any{root}
	return map[string]any{"error": obj, "status": e.Status}
}

// asESError turns any error into one to answer with.
func asESError(err error) *esError {
	if e, ok := err.(*esError); ok {
		return e
	}
	return errf(http.StatusInternalServerError, "exception", "%v", err)
}
