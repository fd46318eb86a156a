// Package e2e holds what the platform test (test/platform) drives: the
// simulated cluster started by hack/sim/sim-up.sh, the platform kubelet,
// the operator's manager and other processes it starts and stops, waits
// for conditions, and a chat client that speaks the protocol of
// docs/protocol.md over REST and WebSocket.
//
// Every process is started with its output in a log file and stopped with
// SIGTERM, then SIGKILL after a grace period; Stop is safe to call twice.
package e2e
