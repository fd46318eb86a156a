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
// Each WebSocket connection has one reader goroutine that runs its commands in
// order; its sends are started in order and finished in order by one acker
// goroutine that exists while sends are in flight (up to 256). Outgoing
// objects wait in the connection's queue for the server's pool of writers,
// one per CPU but one (writer.go), which coalesce them into frames of up to 16 KiB,
// one object per line, and write without blocking; a connection whose socket
// is full gets its own goroutine until it drains. An idle connection costs
// one goroutine and no write buffer. One goroutine per server queues pings.
// The one frame gorilla/websocket writes itself, the close of a read protocol
// error (1009), becomes the same close through the queue (conn.go); the
// socket is then closed lingering, so that the client's unread bytes do not
// turn the close into a reset that destroys the close frame.
// Shutdown closes every connection with 1001 after its queue is written and
// waits for their goroutines and the writers.
package httpapi
