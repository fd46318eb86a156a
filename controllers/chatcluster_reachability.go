package controllers

import (
	"context"
	"fmt"
	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// dialTimeout bounds each connection attempt of a reachability check.
const dialTimeout = 3 * time.Second

// Dialer opens a TCP connection; net.Dialer's DialContext is one.
type Dialer func(ctx context.Context, network, address string) (net.Conn, error)

// backendAddr is one address an external backend's Secret names.
type backendAddr struct {
	key     string // the Secret key it comes from
	address string // host:port
}

// addresses lists the addresses of an external backend, from its Secret,
// with the default port of the scheme where the value has none. A value the
// operator cannot parse gives none: validation reports it.
func (b *backend) addresses(ctx context.Context, data map[string][]byte) ([]backendAddr, error) {
	value := func(key string) string { return strings.TrimSpace(string(data[key])) }
	switch b.name {
	case "redis":
		return urlEndpoint("url", value("url"), map[string]string{"redis": "6379", "rediss": "6379"}), nil
	case "elasticsearch":
		return urlEndpoint("url", value("url"), map[string]string{"http": "80", "https": "443"}), nil
	case "kafka":
		var eps []backendAddr
		for _, b := range strings.Split(value("brokers"), ",") {
			if b = strings.TrimSpace(b); b != "" {
				eps = append(eps, backendAddr{"brokers", withPort(b, "9092")})
			}
		}
		return eps, nil
	case "mongodb":
		return mongoEndpoints(ctx, value("uri"))
	}
	return nil, nil
}

func urlEndpoint(key, v string, ports map[string]string) []backendAddr {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || ports[u.Scheme] == "" {
		return nil
	}
	return []backendAddr{{key, withPort(u.Host, ports[u.Scheme])}}
}

// mongoEndpoints reads the hosts of a MongoDB connection string; a
// mongodb+srv:// one is resolved through DNS as the driver would.
func mongoEndpoints(ctx context.Context, uri string) ([]backendAddr, error) {
	srv := strings.HasPrefix(uri, "mongodb+srv://")
	rest := strings.TrimPrefix(strings.TrimPrefix(uri, "mongodb+srv://"), "mongodb://")
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if srv {
		_, records, err := net.DefaultResolver.LookupSRV(ctx, "mongodb", "tcp", rest)
		if err != nil {
			return nil, fmt.Errorf("look up the SRV records of %s: %w", rest, err)
		}
		eps := make([]backendAddr, 0, len(records))
		for _, r := range records {
			eps = append(eps, backendAddr{"uri", net.JoinHostPort(strings.TrimSuffix(r.Target, "."), fmt.Sprint(r.Port))})
		}
		return eps, nil
	}
	var eps []backendAddr
	for _, h := range strings.Split(rest, ",") {
		if h != "" {
			eps = append(eps, backendAddr{"uri", withPort(h, "27017")})
		}
	}
	return eps, nil
}

// withPort adds port to a host that has none.
func withPort(hostport, port string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), port)
}

// checkReachable looks for the reason an unavailable chat server or indexer
// cannot start serving: an external backend it needs that nothing answers
// for. Redis and MongoDB are checked while the chat server is not
// available, Kafka and Elasticsearch while the indexer is not (the chat
// server only degrades without them). A backend is reachable when any of
// its addresses accepts a TCP connection from the operator. The checks run
// in parallel; those that fail turn the backend's state unready, naming the
// Secret, the key and the address.
//
// The operator dials only when a component is already down, so that an
// operator whose own network cannot reach a backend never marks a working
// ChatCluster as broken.
func (r *ChatClusterReconciler) checkReachable(ctx context.Context, states []backendState, chatServer, indexer *appsv1.Deployment) {
	chatUp, _ := deploymentAvailable(chatServer)
	indexerUp, _ := deploymentAvailable(indexer)
	var wg sync.WaitGroup
	for i := range states {
		s := &states[i]
		up := chatUp
		if s.backend.indexer {
			up = indexerUp
		}
		if s.managed || !s.ready || s.secret == nil || up {
			continue
		}
		wg.Go(func() {
			if msg := r.unreachable(ctx, s); msg != "" {
				s.ready = false
				s.reason = chatv1.ReasonBackendUnreachable
				s.message = msg
			}
		})
	}
	wg.Wait()
}

// unreachable dials the addresses of an external backend and returns why
// none answers, or "" when one does.
func (r *ChatClusterReconciler) unreachable(ctx context.Context, s *backendState) string {
	name := s.secret.Name
	eps, err := s.backend.addresses(ctx, s.secret.Data)
	if err != nil {
		return fmt.Sprintf("Secret %q for %s: %v; check the address in the Secret", name, s.backend.name, err)
	}
	if len(eps) == 0 {
		return "" // nothing the operator can dial: validation reports the value
	}
	dial := r.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var errs []string
	for _, ep := range eps {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		conn, err := dial(dctx, "tcp", ep.address)
		cancel()
		if err == nil {
			conn.Close()
			return ""
		}
		errs = append(errs, err.Error())
	}
	return fmt.Sprintf("%s at %s (Secret %q, key %q) does not answer: %v; check the address in the Secret, that %s runs, and that this cluster's network may reach it",
		s.backend.name, joinAddresses(eps), name, eps[0].key, strings.Join(errs, "; "), s.backend.name)
}

func joinAddresses(eps []backendAddr) string {
	a := make([]string, len(eps))
	for i, ep := range eps {
		a[i] = ep.address
	}
	return strings.Join(a, ",")
}
