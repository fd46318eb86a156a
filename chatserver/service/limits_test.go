package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

func TestAUserMayJoinAtMostMaxRooms(t *testing.T) {
	e := newEnv(t, func(cfg *service.Config, _ *service.Deps) { cfg.MaxRooms = 3 })
	e.register(t, "alice", "bob")
	ctx := context.Background()
	tab1, _ := e.connect(t, "alice")
	tab2, _ := e.connect(t, "alice")
	bob, _ := e.connect(t, "bob")
	noReply := func(wire.Page) {}
	for _, r := range []string{"a", "b", "c"} {
		join(t, tab1, r, nil)
	}
	tests := []struct {
		name string
		c    *service.Conn
		act  func(c *service.Conn) error
		code string
	}{
		{"a fourth room is refused", tab1, func(c *service.Conn) error { return c.Join(ctx, "d", nil, nil, noReply) }, chatserver.EBadRequest},
		{"another connection of the user is refused it too", tab2, func(c *service.Conn) error { return c.Join(ctx, "d", nil, nil, noReply) }, chatserver.EBadRequest},
		{"another connection may join a room the user has joined", tab2, func(c *service.Conn) error { return c.Join(ctx, "a", nil, nil, noReply) }, ""},
		{"joining a room again counts it once", tab1, func(c *service.Conn) error { return c.Join(ctx, "a", seq(0), nil, noReply) }, ""},
		{"another user is not limited by her", bob, func(c *service.Conn) error { return c.Join(ctx, "d", nil, nil, noReply) }, ""},
		{"a room another connection still follows still counts", tab1, func(c *service.Conn) error {
			leave(t, c, "a")
			return c.Join(ctx, "d", nil, nil, noReply)
		}, chatserver.EBadRequest},
		{"a room nobody of hers follows frees its place", tab2, func(c *service.Conn) error {
			leave(t, c, "a")
			return c.Join(ctx, "d", nil, nil, noReply)
		}, ""},
		{"a closed connection frees its rooms", tab2, func(c *service.Conn) error {
			tab1.Close(ctx)
			next, _ := e.connect(t, "alice")
			for _, r := range []string{"e", "f"} {
				if err := next.Join(ctx, r, nil, nil, noReply); err != nil {
					return err
				}
			}
			return nil
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chattest.WantCode(t, tt.act(tt.c), tt.code)
		})
	}
}

func TestConnectionsPastTheConnectEventRateGoUnrecorded(t *testing.T) {
	e := newEnv(t, func(cfg *service.Config, _ *service.Deps) {
		cfg.ConnectEvents = 2
	})
	e.register(t, "alice", "bob")
	var conns []*service.Conn
	for range 5 {
		c, _ := e.connect(t, "alice")
		conns = append(conns, c)
		e.clock.Advance(time.Millisecond)
	}
	bob, _ := e.connect(t, "bob")
	for _, c := range append(conns, bob) {
		c.Close(context.Background())
		e.clock.Advance(time.Millisecond)
	}
	tests := []told{
		{name: "the first connections and their disconnects are recorded", of: "alice",
			want: "[ws.connect ws.connect ws.disconnect ws.disconnect]"},
		{name: "another user's are recorded", of: "bob", want: "[ws.connect ws.disconnect]"},
	}
	checkTold(t, func(_ *sink, user string) string { return fmt.Sprint(activityOf(t, e.svc, user)) }, tests)
}
