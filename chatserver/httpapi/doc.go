// Package httpapi is the chat server's transport: the REST API, the WebSocket
// endpoint and the probes. It maps the service's errors to HTTP statuses,
// reply error codes and WebSocket close codes in one place (errors.go) and
// knows nothing of the backends.
//
// The probes, /metrics and /debug/pprof are served by the chat handler, or,
// with Config.SeparateManagement, only by Management() (the chat handler
// then answers 404 there). /readyz is 503 only when the service says the
// instance cannot serve chat or it is shutting down; a degraded instance is
// 200. In proxy mode the user header counts only on connections whose TCP
// peer is one of Config.TrustedProxies, and only when it is given once.
//
// # WebSocket connections
//
// A connection (wsConn, ws.go) is the socket and its goroutines; the rules
// see it as a service.Conn, and the hub as a hub.Subscriber whose Sink is
// its queue. It ties together three parts with one job each:
//
//   - its reader (reader.go), one goroutine that runs the client's commands
//     in order; sends are started in order and finished in order by the
//     acker (acker.go), a goroutine that exists while sends are in flight
//     (up to 256);
//   - its queue (queue.go), which collects outgoing objects, pings, pongs
//     and the close frame, cuts off a client that falls behind by more than
//     Config.SendQueue bytes with 1008, and hands out the turn to write;
//   - its writer (writer.go), which writes the queue to the socket in turns:
//     on the server's pool of writers (pool.go), one per CPU but one, which
//     coalesce the objects into frames of up to 16 KiB, one object per
//     line, and write without blocking; a connection whose socket is full
//     gets its own goroutine until it drains, which writes whole frames
//     at a time so that a close that drops the queue follows the frames in
//     progress.
//
// Under the rate limit every object a client sends costs a command, and
// every reply costs its bytes (budget.go): a client that keeps sending
// while refused is closed with 1008. Once the server has closed a
// connection its reader runs nothing more.
//
// An idle connection costs one goroutine and no write buffer. One goroutine
// per server queues pings. The one frame gorilla/websocket writes itself,
// the close of a read protocol error (1009), becomes the same close through
// the queue (conn.go); the socket is then closed lingering, so that the
// client's unread bytes do not turn the close into a reset that destroys
// the close frame. Shutdown closes every connection with 1001 after its
// queue is written and waits for their goroutines and the writers.
//
// # Locks
//
// The package's mutexes, each guarding only its own type's fields:
//
//   - connShard.mu: a shard of the server's set of connections.
//   - sendQueue.mu: one connection's queue, its close and its turn.
//   - writers.mu: the pool's ready list and its count of workers.
//   - acker.mu: whether the acker's goroutine runs.
//   - budget.mu: one connection's allowance under the rate limit (budget.go),
//     taken by its reader and spent by its reader and acker.
//
// None of them is held while another is taken, or while anything outside
// the package is called: each is held only to read or update its own
// fields (the pool's wake channel, sent on under writers.mu, has room for
// every idle worker and never blocks). The only order is thus the callers'
// locks before sendQueue.mu: the hub sends to and closes connections while
// it holds its room and user locks. So Send and Close never call back into
// the hub; they only count the close in the service's metrics and start the
// writer, after the queue's lock is released.
//
// Atomic fields: Server.draining (stored under every shard's lock, so that
// track, which reads it under its shard's, adds no connection after
// Shutdown's snapshot), upgradedConn.c (set once, before the reader starts)
// and the blockedWrites counter.
//
// Owned without a lock: what is taken from a queue is written only by the
// writer that has the turn, which alone sets the write deadline; the
// gorilla/websocket connection is read only by the reader, whose goroutine
// also runs its ping, pong and close handlers; reader.acks is touched only
// by the reader. The read deadline is set by the reader and, after the
// close frame, by the writer (net.Conn deadlines are safe for that).
//
// Waits: sendQueue.turn while a writer has a connection's turn (wsConn.wait,
// after the close, so no turn starts again), acker.wg while its goroutine
// runs, writers.wg for the pool's workers, and Server.wg for the
// connections and the pinger.
package httpapi
