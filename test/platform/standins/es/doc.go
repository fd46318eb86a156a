// Package es is a one-node Elasticsearch 8 stand-in: the HTTP API (wire
// format, errors, headers) over an in-memory engine that really indexes and
// searches, with its state in a write-ahead log under path.data.
//
// Documents are indexed under mappings (explicit, from composable index
// templates, or dynamic) into typed values: keyword (exact, whole values),
// text (an approximation of the standard analyzer), date (milliseconds,
// Elasticsearch's date formats and date math), numbers, boolean, ip. Queries
// and aggregations run over the documents of the last refresh: writes become
// searchable after index.refresh_interval (1s by default), on _refresh or
// with ?refresh; a get by id is real time. Scores follow BM25 without
// Lucene's lossy length encoding, so they are close to, not equal to,
// Elasticsearch's.
//
// Every write request is appended to the log and fsync'd before it is
// answered, as Elasticsearch's translog does by default; a start replays the
// log (cutting off a record torn by a crash) and rewrites it compacted.
//
// What Elasticsearch has and the stand-in does not answers 400 with a reason
// that says so; an unknown endpoint answers as Elasticsearch does ("no
// handler found"); both are logged.
package es
