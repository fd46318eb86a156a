package service

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/chatcluster/chatcluster/chatserver"
)

// SearchParams is a message search as a user asks for it.
type SearchParams struct {
	Q      string
	Room   string    // "": every room the user may read
	From   string    // "": every sender
	Before time.Time // zero: no bound
	Limit  int       // 0: the default
}

// Search finds the messages user may read whose text has every word of
// p.Q as a word or the start of one. What user may read is decided here,
// never by the client: public rooms and user's own DMs and group DMs.
func (s *Service) Search(ctx context.Context, user string, p SearchParams) (chatserver.SearchResult, error) {
	q, err := s.searchQuery(user, p)
	if err != nil {
		return chatserver.SearchResult{}, err
	}
	if s.b.Search == nil {
		return chatserver.SearchResult{}, chatserver.Errorf(chatserver.EUnavailable,
			"message search needs the embedded store or Elasticsearch (with Kafka and the indexer) to keep the messages' words")
	}
	res, err := s.b.Search.SearchMessages(ctx, q)
	if err != nil {
		return chatserver.SearchResult{}, err
	}
	if res.Messages == nil {
		res.Messages = []chatserver.Message{}
	}
	return res, nil
}

// searchQuery checks p and makes the query of it for user.
func (s *Service) searchQuery(user string, p SearchParams) (chatserver.SearchQuery, error) {
	if err := chatserver.CheckText("q", p.Q, false); err != nil {
		return chatserver.SearchQuery{}, err
	}
	if n := utf8.RuneCountInString(p.Q); n == 0 || n > chatserver.MaxSearchQueryLen {
		return chatserver.SearchQuery{}, chatserver.Errorf(chatserver.EBadRequest,
			"invalid q: want 1 to %d characters", chatserver.MaxSearchQueryLen)
	}
	q := chatserver.SearchQuery{Reader: user, Words: chatserver.SearchWords(p.Q), From: p.From, Before: p.Before, Limit: p.Limit}
	if len(q.Words) == 0 {
		return q, chatserver.Errorf(chatserver.EBadRequest, "invalid q: it has no word to search for (letters or digits)")
	}
	if q.Limit == 0 {
		q.Limit = chatserver.DefaultSearchLimit
	}
	if q.Limit < 1 || q.Limit > chatserver.MaxSearchLimit {
		return q, chatserver.Errorf(chatserver.EBadRequest, "invalid limit: want an integer in 1-%d", chatserver.MaxSearchLimit)
	}
	if p.From != "" && !chatserver.ValidUserID(p.From) {
		return q, chatserver.Errorf(chatserver.EBadRequest, "invalid from: %q is not a user id", p.From)
	}
	if p.Room != "" {
		r, err := s.access(user, p.Room)
		if err != nil {
			return q, err
		}
		q.Room = r.ID
	}
	return q, nil
}
