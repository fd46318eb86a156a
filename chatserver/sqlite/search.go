package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/chatcluster/chatcluster/chatserver"
)

// searchHitsSQL is the FROM and WHERE of a message search: the FTS5 match
// (?1) drives it, and each match's row in messages is read by rowid for
// the filters. A room is readable when it is public (no DM or group
// prefix) or the reader (?2) is among its room_members, the rows Rooms
// lists private rooms by. ?3 room, ?4 sender and ?5 the Unix nanoseconds
// to stay before narrow it when set. Deleted messages are not in the
// index; the store checks anyway.
const searchHitsSQL = `
FROM messages_fts f JOIN messages m ON m.rowid = f.rowid
WHERE messages_fts MATCH ?1
	AND m.deleted = 0
	AND (NOT (m.room >= '` + chatserver.DMPrefix + `' AND m.room < '` + dmPrefixEnd + `')
		AND NOT (m.room >= '` + chatserver.GroupPrefix + `' AND m.room < '` + groupPrefixEnd + `')
		OR m.room IN (SELECT room FROM room_members WHERE user_id = ?2))
	AND (?3 = '' OR m.room = ?3)
	AND (?4 = '' OR m.from_user = ?4)
	AND (?5 = 0 OR m.ts < ?5)`

// A search reads each match's row once, and sorts and reads in whole only
// about a page of them, in three steps:
//
//  1. searchFloorSQL: the ts of the last of the first ?6 matches in rowid
//     order, newest rowid first, which the index gives without sorting.
//     Rows go in about in ts order, so this floor is about the ts of the
//     page's last message; and since ?6 matches have a ts at or above it,
//     so does every message of the page, whatever the order of the rows.
//  2. searchCountSQL: every match counted, and the rowids of those at or
//     above the floor (?6) collected: about a page, as a JSON array.
//  3. searchPageSQL: those rows, sorted, the first ?2 of them read in whole.
const (
	// The ids after every id with the DM and group prefixes: a range
	// comparison is many times cheaper than a GLOB or substr per match.
	dmPrefixEnd    = "dm;"
	groupPrefixEnd = "gdm;"

	searchFloorSQL = `SELECT MIN(ts) FROM (SELECT m.ts AS ts` + searchHitsSQL + `
	ORDER BY f.rowid DESC LIMIT ?6)`
	searchCountSQL = `SELECT COUNT(*), json_group_array(m.rowid) FILTER (WHERE m.ts >= ?6)` + searchHitsSQL
	searchPageSQL  = `SELECT ` + messageCols + ` FROM messages
	WHERE rowid IN (SELECT value FROM json_each(?1))
	ORDER BY ts DESC, seq DESC, room LIMIT ?2`
)

// SearchMessages returns the messages q.Reader may read whose current text
// has, for each of q.Words, a word that equals it or begins with it,
// ignoring case: how many there are, and the newest q.Limit of them, newest
// first (ties by seq, higher first, as the Elasticsearch index sorts them,
// then by room).
func (db *DB) SearchMessages(ctx context.Context, q chatserver.SearchQuery) (chatserver.SearchResult, error) {
	switch {
	case len(q.Words) == 0:
		return chatserver.SearchResult{}, chatserver.Errorf(chatserver.EBadRequest, "a search needs at least one word")
	case q.Limit < 1 || q.Limit > chatserver.MaxSearchLimit:
		return chatserver.SearchResult{}, chatserver.Errorf(chatserver.EBadRequest, "invalid search limit %d: want 1 to %d", q.Limit, chatserver.MaxSearchLimit)
	}
	res := chatserver.SearchResult{Messages: []chatserver.Message{}}
	match, ok := matchExpr(q.Words)
	if !ok {
		return res, nil
	}
	var before int64
	if !q.Before.IsZero() {
		before = nanos(q.Before)
	}
	args := []any{match, q.Reader, q.Room, q.From, before, q.Limit}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		var floor sql.NullInt64
		if err := tx.QueryRowContext(ctx, searchFloorSQL, args...).Scan(&floor); err != nil || !floor.Valid {
			return err // no match
		}
		var page string
		args[5] = floor.Int64
		if err := tx.QueryRowContext(ctx, searchCountSQL, args...).Scan(&res.Total, &page); err != nil {
			return err
		}
		return eachRow(ctx, tx, searchPageSQL, []any{page, q.Limit}, func(r rowScanner) error {
			m, err := scanMessage(r)
			res.Messages = append(res.Messages, m)
			return err
		})
	})
	if err != nil {
		return chatserver.SearchResult{}, err
	}
	return res, nil
}

// matchExpr is the FTS5 query of words, ANDed: each word quoted as an
// FTS5 string, so that it is text whatever characters it holds, and a
// prefix ("deploy"* finds deployment); the tokenizer folds case. A word
// without a letter or digit can begin no token, so the query can match
// nothing: ok is false.
func matchExpr(words []string) (expr string, ok bool) {
	terms := make([]string, len(words))
	for i, w := range words {
		if !hasToken(w) {
			return "", false
		}
		terms[i] = quote(w) + "*"
	}
	return strings.Join(terms, " "), true
}
