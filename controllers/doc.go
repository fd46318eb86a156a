// Package controllers reconciles a ChatCluster into a running chat platform:
// the chat server and its indexer, their configuration and, for each backend
// the operator manages, a single-node StatefulSet.
//
// Reconcile is a list of ordered steps (chatcluster_controller.go); each
// owned object is built by one function (chatcluster_chatserver.go,
// chatcluster_backends.go) and written by ensure (chatcluster_ensure.go) with
// server-side apply, which sends nothing when the fields the operator owns
// already hold what the spec asks for. The status is computed from what the
// steps observed (chatcluster_status.go) and written only when it changed.
//
// A backend here is one of the systems the chat server runs on (Redis,
// MongoDB, Kafka, Elasticsearch), managed in the cluster or external.
package controllers
