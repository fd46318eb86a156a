// Package httpapi is the chat server's transport: the REST API, the WebSocket
// endpoint and the probes. It maps the service's errors to HTTP statuses,
// reply error codes and WebSocket close codes in one place (errors.go) and
// knows nothing of the backends.
//
// Each WebSocket connection has one reader goroutine that runs its commands in
// order (sends are started in order and finish concurrently, up to 64 at a
// time), and a writer goroutine that exists only while the connection has
// frames queued (and lingers 100 ms for more, so that a busy connection keeps
// it), so an idle connection costs one goroutine and no write buffer.
// Queued events are coalesced into frames of up to 16 KiB, one object per line.
// One goroutine per server sends pings. Shutdown closes every connection with
// 1001 after its queue is written and waits for their goroutines.
package httpapi
