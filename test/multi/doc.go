// Package multi holds the multi-instance end-to-end tests: two chat-server
// instances (each a whole app.Server, as the binary runs it) in one test
// process, on one real redis-server (presence, fan-out, sessions) and one
// shared SQLite store, each client on either instance.
//
// Both instances run in this process because the embedded SQLite store
// belongs to one process (it caches each room's last seq); passing one *DB
// to both instances (app.Options.SQLite) gives them the single message store
// that two processes would share through MongoDB. Everything between an
// instance and Redis goes through a TCP proxy of its own, and every client
// connection through a listener that can drop them all: cutting both is how
// a test kills an instance abruptly, as Redis and the clients see a crash.
package multi
