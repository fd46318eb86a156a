package service

// The limits that hold the command path within bounds under abuse, as
// chat_limited_total labels them when they bite.
const (
	// LimitCommands: a command over the connection's rate of commands was
	// refused as rate_limited.
	LimitCommands = "commands"
	// LimitReplyBytes: a command was refused as rate_limited because the
	// replies of the connection's earlier commands used up its bytes.
	LimitReplyBytes = "reply_bytes"
	// LimitFlood: a connection kept sending while refused, and was closed.
	LimitFlood = "flood"
	// LimitPageBytes: a join or history page stopped at Config.PageBytes.
	LimitPageBytes = "page_bytes"
	// LimitRooms: a join was refused at Config.MaxRooms.
	LimitRooms = "rooms"
	// LimitConnectEvents: a connection went unrecorded in the activity log
	// past Config.ConnectEvents.
	LimitConnectEvents = "connect_events"
)

// maxConnectingUsers bounds the users whose recent connections the service
// counts against Config.ConnectEvents.
const maxConnectingUsers = 100_000
