// Package app is the chatserver program, importable: the wiring from the
// configuration to the backends, the service and the HTTP transport
// (Server), and the activity indexer (Indexer). cmd/chatserver is a thin
// main over Main; end-to-end tests run a Server in their own process, on
// listeners they pass in.
//
// Which backend serves each role (users, sessions, messages, activity log,
// activity index, presence, fan-out) follows from the configuration alone
// (RolesFor), and the server opens only the backends that serve a role: the
// embedded SQLite database only when a role is left to it.
//
// Open and Close of one Server or Indexer are not to be called at once;
// the other methods are safe for concurrent use once Open returned.
package app
