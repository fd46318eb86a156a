// Package controllers reconciles a ChatCluster into a running chat platform:
// the chat server and its indexer, their configuration and, for each backend
// the operator manages, a single-node StatefulSet.
//
// Reconcile is a list of ordered steps (reconciler.go); each owned object is
// built by one function (chatserver.go, indexer.go, backends.go) and written
// by ensure (ensure.go), which creates it when missing and patches only the
// fields that differ. The status is computed from what the steps observed
// (status.go) and written only when it changed.
package controllers
