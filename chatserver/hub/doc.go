// Package hub fans events out to the connections of one chat-server instance.
//
// Every instance receives every event from the Broker. The hub puts the
// message and update events of each room back into rev order (instances
// publish concurrently, so rev 7 can arrive before rev 6), waits a moment for
// a missing rev and then reads the room's changes after it from the
// MessageStore, so each room's stream is gap-free and in order. A message read
// so is a message event for a connection that has not seen its seq yet, an
// update event for one that has. The store holds each message in its current
// state only: a missed change that a later change of the same message
// replaced cannot be read back, and the stream passes over it. New messages'
// revs grow with their seqs, so the stream also has the message events in seq
// order.
//
// Each connection then gets, per room, exactly the changes after the last one
// it has seen, and the message events after the last seq it has seen: a
// connection that cannot keep up, or that would see a gap, is closed (1008)
// and resumes with join + since_rev, never silently skipped.
//
// A connection follows a public room by joining it, and a DM or group DM room
// of its user without a join, from the first change the hub fans out after
// it registered. Read events reach the connections of their user, and in a
// private room those of the other members; mention events those of the
// mentioned user; neither is ordered.
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
