package service

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the chat server's Prometheus metrics.
type Metrics struct {
	connections    prometheus.Gauge
	commands       *prometheus.CounterVec
	errors         *prometheus.CounterVec
	messagesStored prometheus.Counter
	fanoutLatency  prometheus.Histogram
	closes         *prometheus.CounterVec
	backendUp      *prometheus.GaugeVec
	signInLimited  *prometheus.CounterVec
	limited        *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered, as in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_connections", Help: "Open WebSocket connections on this instance.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_commands_total", Help: "WebSocket commands received, by type.",
		}, []string{"type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_errors_total", Help: "Errors answered, by command or call type and error code.",
		}, []string{"type", "code"}),
		messagesStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_messages_stored_total", Help: "Messages stored by this instance.",
		}),
		fanoutLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chat_fanout_latency_seconds",
			Help:    "Time from a message being stored to its fan-out on this instance.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_connection_closes_total", Help: "Connections closed by the server, by WebSocket close code.",
		}, []string{"code"}),
		backendUp: NewBackendUp(nil),
		signInLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_signin_limited_total",
			Help: "Sign-ins and registrations refused as rate_limited, by the limit that bit: user_failures, address_failures, address_signups or hashing.",
		}, []string{"limit"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_limited_total",
			Help: "Commands, replies and activity events held back by a limit of the command path, by the limit that bit: commands, reply_bytes, flood, page_bytes, rooms or connect_events.",
		}, []string{"limit"}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.commands, m.errors, m.messagesStored, m.fanoutLatency, m.closes, m.backendUp, m.signInLimited, m.limited)
	}
	return m
}

// Command counts a received command.
func (m *Metrics) Command(typ string) { m.commands.WithLabelValues(typ).Inc() }

// Error counts an error answered to a command or call.
func (m *Metrics) Error(typ, code string) { m.errors.WithLabelValues(typ, code).Inc() }

// Limited counts a limit of the command path biting (LimitCommands and
// the others).
func (m *Metrics) Limited(limit string) { m.limited.WithLabelValues(limit).Inc() }

// Closed counts a connection the server closed with code.
func (m *Metrics) Closed(code string) { m.closes.WithLabelValues(code).Inc() }

// Metrics returns the service's metrics, for the transport to count with.
func (s *Service) Metrics() *Metrics { return s.m }
