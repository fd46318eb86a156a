package httpapi

// BlockedWrites is how many writes the pool handed to a connection's own
// goroutine because the socket was full.
func BlockedWrites() int64 { return blockedWrites.Load() }
