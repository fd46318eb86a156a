// Package controllers reconciles a ChatCluster into a running chat platform:
// the chat server and its indexer, their configuration and, for each backend
// the operator manages, a single-node StatefulSet.
//
// Reconcile is a list of ordered steps (reconciler.go); each owned object is
// built by one function (chatserver.go, indexer.go, backends.go) and written
// by ensure (ensure.go) with server-side apply, which sends nothing when the
// fields the operator owns already hold what the spec asks for. The status is computed from what the steps observed
// (status.go) and written only when it changed.
package controllers
