package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Limits of activity queries.
const (
	DefaultSearchSize = 50
	MaxSearchSize     = 1000
	MaxStatsBuckets   = 10000
	TopRooms          = 10
)

const (
	insertActivitySQL = `INSERT INTO activity (id, type, ts, user_id, room_id, message_id) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`
	activityCols     = `id, type, ts, user_id, room_id, message_id`
	lastActivitySQL  = `SELECT COALESCE(MAX(n), 0) FROM activity`
	indexActivitySQL = `INSERT INTO activity_fts (rowid, user_id, room_id, type, message_id)
		SELECT n, user_id, room_id, type, message_id FROM activity WHERE n > ?`
	statsBucketSQL = `SELECT (ts - ?1) / ?2, type, COUNT(*) FROM activity
		WHERE ts >= ?1 AND ts < ?3 GROUP BY 1, 2`
	topRoomsSQL = `SELECT room_id, COUNT(*) FROM activity
		WHERE type = ?1 AND ts >= ?2 AND ts < ?3 AND room_id <> ''
		GROUP BY room_id ORDER BY 2 DESC, room_id LIMIT ?4`
	activeUsersSQL = `SELECT COUNT(DISTINCT user_id) FROM activity
		WHERE ts >= ?1 AND ts < ?2 AND user_id <> ''`
)

// Record stores events in the writer's next batch and returns once that batch
// is on disk. Recording an event id again stores nothing.
func (db *DB) Record(ctx context.Context, events ...chatserver.ActivityEvent) error {
	if len(events) == 0 {
		return nil
	}
	for _, e := range events {
		if e.ID == "" {
			return chatserver.Errorf(chatserver.EBadRequest, "activity event without id")
		}
	}
	// The writer reads them after a canceled caller may have moved on.
	events = slices.Clone(events)
	return db.submit(ctx, func(w *writer) error {
		return w.record(events...)
	})
}

// record adds events to the open transaction.
func (w *writer) record(events ...chatserver.ActivityEvent) error {
	if err := w.indexActivity(); err != nil {
		return err
	}
	for _, e := range events {
		if _, err := w.exec(insertActivitySQL, e.ID, e.Type, nanos(e.TS), e.User, e.Room, e.MessageID); err != nil {
			return err
		}
	}
	return nil
}

// indexActivity makes sure the open transaction indexes the activity rows
// it adds when it commits.
func (w *writer) indexActivity() error {
	if w.indexFrom >= 0 {
		return nil
	}
	return w.queryRow(lastActivitySQL).Scan(&w.indexFrom)
}

// finishActivity indexes the activity rows the transaction added.
func (w *writer) finishActivity() error {
	if w.indexFrom < 0 {
		return nil
	}
	_, err := w.exec(indexActivitySQL, w.indexFrom)
	return err
}

// Search returns the events matching q, newest first, and how many match.
// Text matches, by word prefix, the user, room, type and message id (FTS5);
// the time window is [From, To).
func (db *DB) Search(ctx context.Context, q chatserver.ActivityQuery) (chatserver.ActivityResult, error) {
	size := q.Size
	if size <= 0 {
		size = DefaultSearchSize
	}
	size = min(size, MaxSearchSize)
	where, args := activityFilter(q)
	res := chatserver.ActivityResult{Events: []chatserver.ActivityEvent{}}
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM activity`+where, args...).Scan(&res.Total); err != nil {
			return err
		}
		return eachRow(ctx, tx, `SELECT `+activityCols+` FROM activity`+where+` ORDER BY ts DESC, n DESC LIMIT ?`,
			append(args, size), func(r rowScanner) error {
				var e chatserver.ActivityEvent
				var ts int64
				if err := r.Scan(&e.ID, &e.Type, &ts, &e.User, &e.Room, &e.MessageID); err != nil {
					return err
				}
				e.TS = fromNanos(ts)
				res.Events = append(res.Events, e)
				return nil
			})
	})
	if err != nil {
		return chatserver.ActivityResult{}, err
	}
	return res, nil
}

// activityFilter is the WHERE clause of q, and its arguments. The user and
// room filters go through the FTS index (a phrase at the start of the
// column) to find candidates, then compare exactly.
func activityFilter(q chatserver.ActivityQuery) (string, []any) {
	var conds, match []string
	var args []any
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	for _, w := range strings.Fields(q.Text) {
		if hasToken(w) {
			match = append(match, quote(w)+"*")
		}
	}
	for _, f := range []struct{ col, val string }{{"user_id", q.User}, {"room_id", q.Room}} {
		if f.val == "" {
			continue
		}
		add(f.col+` = ?`, f.val)
		if hasToken(f.val) {
			match = append(match, f.col+" : ^"+quote(f.val))
		}
	}
	if len(match) > 0 {
		add(`n IN (SELECT rowid FROM activity_fts WHERE activity_fts MATCH ?)`, strings.Join(match, " "))
	}
	if q.Type != "" {
		add(`type = ?`, q.Type)
	}
	if !q.From.IsZero() {
		add(`ts >= ?`, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		add(`ts < ?`, q.To.UnixNano())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// Free text becomes an FTS5 query in which every word must match the start
// of a token, each word taken literally (quoted), never as FTS5 syntax.
// Words without a letter or digit would match nothing and are dropped.

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func hasToken(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// Stats counts the events of [From, To) by type in buckets of Interval, every
// bucket present; From and To default to the last hour, Interval to a minute.
func (db *DB) Stats(ctx context.Context, q chatserver.StatsQuery) (chatserver.ActivityStats, error) {
	to, from, interval := q.To, q.From, q.Interval
	if to.IsZero() {
		to = time.Now()
	}
	if from.IsZero() {
		from = to.Add(-chatserver.DefaultStatsSpan)
	}
	if interval <= 0 {
		interval = time.Minute
	}
	if !from.Before(to) {
		return chatserver.ActivityStats{}, chatserver.Errorf(chatserver.EBadRequest, "from must be before to")
	}
	if !chatserver.InTimeRange(from) || !chatserver.InTimeRange(to) {
		return chatserver.ActivityStats{}, chatserver.Errorf(chatserver.EBadRequest, "from and to must lie between %s and %s",
			chatserver.EarliestTime.Format(time.RFC3339), chatserver.LatestTime.Format(time.RFC3339))
	}
	n := chatserver.Buckets(from, to, interval)
	if n > MaxStatsBuckets {
		return chatserver.ActivityStats{}, chatserver.Errorf(chatserver.EBadRequest,
			"%d buckets asked, at most %d: widen the interval", n, MaxStatsBuckets)
	}
	st := chatserver.ActivityStats{
		Buckets:  make([]chatserver.StatsBucket, n),
		TopRooms: []chatserver.RoomCount{},
	}
	for i := range st.Buckets {
		st.Buckets[i] = chatserver.StatsBucket{
			TS:          from.Add(time.Duration(i) * interval).UTC(),
			CountByType: map[string]int64{},
		}
	}
	lo, hi := from.UnixNano(), to.UnixNano()
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		if err := eachRow(ctx, tx, statsBucketSQL, []any{lo, int64(interval), hi}, func(r rowScanner) error {
			var i, count int64
			var typ string
			if err := r.Scan(&i, &typ, &count); err != nil {
				return err
			}
			st.Buckets[i].CountByType[typ] = count
			return nil
		}); err != nil {
			return err
		}
		if err := eachRow(ctx, tx, topRoomsSQL, []any{chatserver.ActivityMessage, lo, hi, TopRooms}, func(r rowScanner) error {
			var rc chatserver.RoomCount
			if err := r.Scan(&rc.Room, &rc.Count); err != nil {
				return err
			}
			st.TopRooms = append(st.TopRooms, rc)
			return nil
		}); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, activeUsersSQL, lo, hi).Scan(&st.ActiveUsers)
	})
	if err != nil {
		return chatserver.ActivityStats{}, err
	}
	return st, nil
}

// readTx runs fn in a read transaction, so that its queries see one snapshot.
func (db *DB) readTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		return db.fail(ctx, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return db.fail(ctx, err)
	}
	return nil
}
