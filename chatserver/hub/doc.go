// Package hub fans events out to the connections of one chat-server instance.
//
// Every instance receives every event from the Broker. The hub puts the message
// events of each room back into seq order (instances publish concurrently, so
// seq 7 can arrive before seq 6), waits a moment for a missing seq and then reads
// it from the MessageStore, so each room's stream is gap-free and in order.
// Each connection then gets, per room, exactly the messages after the last one
// it has seen: a connection that cannot keep up, or that would see a gap, is
// closed (1008) and resumes with join + since, never silently skipped.
//
// A connection registers as a Subscriber, with a Sink that queues its
// frames; the service knows the same connection as a service.Conn and the
// transport as the socket it writes.
//
// Locks: rooms and users live in sharded maps; each room has its own mutex, held
// while its events are handed to connections (Sink.Send only queues). There is
// no lock shared by all rooms. The count of the rooms each user has joined
// (Config.MaxRooms) is sharded by user, and its lock is taken only under a
// room's, never the other way. All methods are safe for concurrent use. Close
// stops the gap-fill timers and waits for the ones running.
package hub
