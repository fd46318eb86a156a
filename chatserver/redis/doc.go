// Package redis shares presence, fan-out and sessions between chat-server
// instances through Redis.
//
//   - Presence (presence.go) counts every user's connections across instances.
//     Each instance records its connections under its own id and keeps a
//     heartbeat key alive; when an instance dies, its heartbeat expires and the
//     next Reap of any instance removes its connections. Connect, Disconnect
//     and Reap are Lua scripts, so each online or offline transition is
//     reported by exactly one call on one instance.
//   - Broker (broker.go) fans events out over one Pub/Sub channel. It orders
//     nothing: the hub of each instance puts a room's messages in seq order and
//     fills gaps from the message store.
//   - Sessions (sessions.go) keeps signed-in sessions, each expiring with it.
//
// Keys live under Config.Prefix ("chat" by default): presence keys share the
// hash tag {<prefix>} so that the scripts touch a single Redis Cluster slot;
// sessions are spread by token hash.
//
// A Client and everything it returns are safe for concurrent use. Open starts
// one goroutine, the heartbeat, which Close stops; Broker.Subscribe runs in
// its caller's goroutine until its context ends. Every error is a
// *chatserver.Error: EUnavailable when Redis cannot be reached, refuses
// service (loading, read-only) or does not answer within Config.Timeout
// (each command's bound, 4s by default, retries included), EInternal for
// anything else.
package redis
