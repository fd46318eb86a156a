package service

import (
	"context"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// Pages of messages are bounded in bytes as well as in messages
// (Config.PageBytes), so that a short command cannot draw megabytes: a page
// of long messages stops early and says has_more, which the client follows
// as it follows any page that has more (join with since from its last
// message, history with before its first). A page holds one message at
// least, so that paging always moves on.

// pageBefore returns the newest messages of room with seq below before (no
// bound when before <= 0), at most limit of them and no more than the page
// budget holds, oldest first; HasMore reports older ones.
func (s *Service) pageBefore(ctx context.Context, room string, before int64, limit int) (chatserver.Page, error) {
	p, err := s.b.Messages.Before(ctx, room, before, limit)
	if err != nil {
		return chatserver.Page{}, err
	}
	if n, _ := fit(p.Messages, s.cfg.PageBytes, true, true); n < len(p.Messages) {
		s.m.Limited(LimitPageBytes)
		p.Messages, p.HasMore = p.Messages[len(p.Messages)-n:], true
	}
	return p, nil
}

// firstChunk is how many messages pageAfter reads first; it sizes the
// reads that follow by what the first took.
const firstChunk = chatserver.MaxHistoryLimit

// pageAfter returns the messages of room with seq above since, at most
// MaxSincePage and no more than the page budget holds, oldest first;
// HasMore reports newer ones.
func (s *Service) pageAfter(ctx context.Context, room string, since int64) (chatserver.Page, error) {
	return s.pageForward(ctx, since, func(m chatserver.Message) int64 { return m.Seq },
		func(after int64, limit int) (chatserver.Page, error) {
			return s.b.Messages.After(ctx, room, after, limit)
		})
}

// pageChanges returns the messages of room changed or added after rev
// since, in rev order, at most MaxSincePage and no more than the page budget
// holds; HasMore reports more.
func (s *Service) pageChanges(ctx context.Context, room string, since int64) (chatserver.Page, error) {
	return s.pageForward(ctx, since, func(m chatserver.Message) int64 { return m.Rev },
		func(after int64, limit int) (chatserver.Page, error) {
			return s.b.Messages.Changes(ctx, room, after, limit)
		})
}

// pageForward reads a page forward from since with read, in chunks sized to
// the budget left, so that a room of long messages is not read 500 at a time
// to send a few; key is what the page is ordered by. The page's Rev is that
// of the first read.
func (s *Service) pageForward(ctx context.Context, since int64, key func(chatserver.Message) int64, read func(after int64, limit int) (chatserver.Page, error)) (chatserver.Page, error) {
	var out chatserver.Page
	budget, chunk := s.cfg.PageBytes, min(firstChunk, chatserver.MaxSincePage)
	for first := true; ; first = false {
		p, err := read(since, chunk)
		if err != nil {
			return chatserver.Page{}, err
		}
		if first {
			out.Rev = p.Rev
		}
		n, used := fit(p.Messages, budget, false, len(out.Messages) == 0)
		out.Messages = append(out.Messages, p.Messages[:n]...)
		budget -= used
		left := chatserver.MaxSincePage - len(out.Messages)
		switch {
		case n < len(p.Messages):
			s.m.Limited(LimitPageBytes)
			out.HasMore = true
			return out, nil
		case !p.HasMore || left == 0 || n == 0:
			out.HasMore = p.HasMore
			return out, nil
		}
		since = key(out.Messages[len(out.Messages)-1])
		chunk = min(left, budget/(used/n)+1)
	}
}

// fit returns how many of msgs, taken from the start (from the end with
// fromEnd), fit in budget bytes of JSON, and the bytes they take; with
// first, the first one taken fits whatever its size.
func fit(msgs []chatserver.Message, budget int, fromEnd, first bool) (n, used int) {
	for ; n < len(msgs); n++ {
		i := n
		if fromEnd {
			i = len(msgs) - 1 - n
		}
		size := wire.MessageSize(msgs[i]) + 1 // and its comma
		if used+size > budget && (n > 0 || !first) {
			break
		}
		used += size
	}
	return n, used
}
