package httpapi

// BlockedWrites is how many writes were done on a connection's own goroutine
// because the socket was full or the connection is no socket.
func BlockedWrites() int64 { return blockedWrites.Load() }

// ReadFrame decodes one server frame from the front of b.
var ReadFrame = readFrame
