// Package inmem holds the in-process presence registry and broker used when the
// chat server runs as a single instance (no Redis configured). Both are safe for
// concurrent use.
package inmem
