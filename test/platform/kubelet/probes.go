package kubelet

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeKind is what a probe's result decides.
type probeKind string

const (
	probeStartup   probeKind = "Startup"
	probeLiveness  probeKind = "Liveness"
	probeReadiness probeKind = "Readiness"
)

// check runs one probe attempt against a running container.
type check func(ctx context.Context) error

// prober runs one probe of one running container on its period and
// reports each change of its result.
type prober struct {
	kind  probeKind
	probe *corev1.Probe
	check check
}

// run probes until ctx ends (the process exited or is being stopped).
// report is called with true after successThreshold successes in a row and
// with false after failureThreshold failures in a row, each time the
// result changes, with the last failure's message.
func (p *prober) run(ctx context.Context, report func(ok bool, msg string)) {
	pr := p.probe
	period := seconds(pr.PeriodSeconds, 10)
	timeout := seconds(pr.TimeoutSeconds, 1)
	success, failure := pr.SuccessThreshold, pr.FailureThreshold
	if success <= 0 {
		success = 1
	}
	if failure <= 0 {
		failure = 3
	}
	if !sleep(ctx, seconds(pr.InitialDelaySeconds, 0)) {
		return
	}
	var okRun, failRun int32
	var reported *bool
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := p.check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
			if okRun >= success && (reported == nil || !*reported) {
				reported = ptrTo(true)
				report(true, "")
			}
		} else {
			okRun, failRun = 0, failRun+1
			if failRun >= failure && (reported == nil || *reported) {
				reported = ptrTo(false)
				report(false, err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probeCheck builds the check of a probe for a container: HTTP and TCP
// probes connect from inside the pod's network namespace; exec probes run
// inside the container's namespaces as its user. An exec probe whose
// program is not installed on this machine (mongosh) falls back to a TCP
// probe on the container's first port, and says so in fallback.
func (r *runner) probeCheck(pr *corev1.Probe, pid int, id identity, env map[string]string) (c check, fallback string) {
	ns := r.sb.ns
	switch h := pr.ProbeHandler; {
	case h.HTTPGet != nil:
		port, err := r.resolvePort(h.HTTPGet.Port)
		if err != nil {
			return failing(err), ""
		}
		return httpCheck(ns, h.HTTPGet, port), ""
	case h.TCPSocket != nil:
		port, err := r.resolvePort(h.TCPSocket.Port)
		if err != nil {
			return failing(err), ""
		}
		return tcpCheck(ns, port), ""
	case h.Exec != nil && len(h.Exec.Command) > 0:
		if _, ok := lookPath(h.Exec.Command[0], env); ok {
			argv := h.Exec.Command
			return func(ctx context.Context) error {
				return runBounded(ctx, r.k.tools.execCommand(pid, id, env, argv))
			}, ""
		}
		if port, ok := r.firstPort(); ok {
			return tcpCheck(ns, port), fmt.Sprintf("exec probe %q: %s is not installed here; probing TCP port %d instead",
				strings.Join(h.Exec.Command, " "), h.Exec.Command[0], port)
		}
		return failing(fmt.Errorf("exec probe: %s is not installed here and the container has no port", h.Exec.Command[0])), ""
	case h.GRPC != nil:
		return tcpCheck(ns, h.GRPC.Port), fmt.Sprintf("gRPC probe on port %d: probing TCP only", h.GRPC.Port)
	}
	return failing(fmt.Errorf("probe has no handler")), ""
}

func httpCheck(ns *netNS, get *corev1.HTTPGetAction, port int32) check {
	scheme := "http"
	if get.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	target := loopback(port)
	client := &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return ns.dial(ctx, target)
			},
			// The kubelet does not verify a probe's certificate either.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
			DisableKeepAlives: true,
		},
	}
	p := get.Path
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	url := fmt.Sprintf("%s://%s%s", scheme, target, p)
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/1.37")
		for _, h := range get.HTTPHeaders {
			req.Header.Set(h.Name, h.Value)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

func tcpCheck(ns *netNS, port int32) check {
	target := loopback(port)
	return func(ctx context.Context) error {
		c, err := ns.dial(ctx, target)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func failing(err error) check { return func(context.Context) error { return err } }

// runBounded runs cmd to its end or to ctx's, killing its process group
// then, and returns its combined output in the error.
func runBounded(ctx context.Context, cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(out.String()))
		}
		return nil
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("command timed out")
	}
}

func loopback(port int32) string {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)).String()
}

// resolvePort turns a probe's port (a number or a container port's name)
// into a number.
func (r *runner) resolvePort(p intstr.IntOrString) (int32, error) {
	if p.Type == intstr.Int {
		return p.IntVal, nil
	}
	for _, cp := range r.spec.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("container has no port named %q", p.StrVal)
}

func (r *runner) firstPort() (int32, bool) {
	if len(r.spec.Ports) == 0 {
		return 0, false
	}
	return r.spec.Ports[0].ContainerPort, true
}

func seconds(s int32, def int32) time.Duration {
	if s <= 0 {
		s = def
	}
	return time.Duration(s) * time.Second
}

// sleep waits d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func ptrTo[T any](v T) *T { return &v }
