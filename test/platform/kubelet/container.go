package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// runner runs one container of a pod: it starts the process, runs its
// probes, restarts it as the pod's restart policy says with the kubelet's
// back-off, and keeps its ContainerStatus.
type runner struct {
	k       *Kubelet
	w       *podWorker
	sb      *sandbox
	spec    corev1.Container
	log     *slog.Logger
	logPath string

	// stopGrace is the grace period, in seconds, of the stop that
	// cancelling run's context asks for.
	stopGrace atomic.Int64

	mu     sync.Mutex
	status corev1.ContainerStatus
}

func newRunner(w *podWorker, sb *sandbox, spec corev1.Container) *runner {
	return &runner{
		k: w.k, w: w, sb: sb, spec: spec,
		log:     w.log.With("container", spec.Name),
		logPath: w.k.LogPath(sb.namespace, sb.name, sb.uid, spec.Name),
		status: corev1.ContainerStatus{
			Name: spec.Name, Image: spec.Image, Started: ptrTo(false),
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		},
	}
}

// snapshot is the container's status now.
func (r *runner) snapshot() corev1.ContainerStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return *r.status.DeepCopy()
}

func (r *runner) update(f func(s *corev1.ContainerStatus)) {
	r.mu.Lock()
	f(&r.status)
	r.mu.Unlock()
	r.w.notify()
}

// setWaiting shows the container waiting; a termination it replaces
// becomes the last state.
func (r *runner) setWaiting(reason, msg string) {
	r.update(func(s *corev1.ContainerStatus) {
		if s.State.Terminated != nil {
			s.LastTerminationState = corev1.ContainerState{Terminated: s.State.Terminated}
		}
		s.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
		s.Ready = false
	})
}

// process is one run of the container.
type process struct {
	cmd     *exec.Cmd
	env     map[string]string
	id      identity
	started time.Time
	exited  chan struct{} // closed when Wait returned; state is then set
	state   *os.ProcessState
}

// exit is how a process ended.
type exit struct {
	code     int32
	signal   int32
	reason   string
	finished time.Time
}

// run runs the container until ctx ends, then stops it within the grace
// period set in stopGrace. It returns when the process is gone.
func (r *runner) run(ctx context.Context) {
	crash := backoff{initial: r.k.backoffInitial, max: r.k.backoffMax}
	var pullDelay time.Duration
	for starts := 0; ; {
		if d := crash.wait(time.Now()); d > 0 {
			r.setWaiting("CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				d.Round(time.Second), r.spec.Name, r.sb.name, r.sb.namespace, r.sb.uid))
			r.w.event(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", r.spec.Name, r.sb.name)
			if !sleep(ctx, d) {
				return
			}
		}
		img, err := r.k.images.Lookup(r.spec.Image)
		if err != nil {
			// ErrImagePull for the failed pull, then ImagePullBackOff
			// for the back-off delay, which doubles up to the maximum.
			r.setWaiting("ErrImagePull", err.Error())
			r.w.event(corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", r.spec.Image, err)
			if !sleep(ctx, min(2*time.Second, r.k.backoffInitial)) {
				return
			}
			pullDelay = min(max(2*pullDelay, r.k.backoffInitial), r.k.backoffMax)
			r.setWaiting("ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q: %v", r.spec.Image, err))
			r.w.event(corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", r.spec.Image)
			if !sleep(ctx, pullDelay) {
				return
			}
			continue
		}
		pullDelay = 0

		p, err := r.start(ctx, img, starts == 0)
		if err != nil {
			reason := "CreateContainerError"
			var ce *configError
			if errors.As(err, &ce) {
				reason = "CreateContainerConfigError"
			}
			r.log.Warn("cannot start container", "reason", reason, "err", err)
			r.setWaiting(reason, err.Error())
			r.w.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
			if !sleep(ctx, r.k.backoffInitial) {
				return
			}
			continue
		}
		starts++
		crash.started(p.started)
		ex, stopped := r.supervise(ctx, p)
		r.update(func(s *corev1.ContainerStatus) {
			s.Ready = false
			s.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: ex.code, Signal: ex.signal, Reason: ex.reason,
				StartedAt: metav1.NewTime(p.started), FinishedAt: metav1.NewTime(ex.finished),
				ContainerID: s.ContainerID,
			}}
		})
		r.log.Info("container exited", "code", ex.code, "reason", ex.reason, "stopped", stopped)
		if stopped || !r.restarts(ex.code) {
			return
		}
	}
}

// restarts reports whether the pod's restart policy restarts a container
// that exited with code.
func (r *runner) restarts(code int32) bool {
	switch r.w.restartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

// start resolves the container's configuration and starts its process.
func (r *runner) start(ctx context.Context, img Image, first bool) (*process, error) {
	pod := r.w.current()
	env, err := containerEnv(ctx, r.k.client, pod, &r.spec, img)
	if err != nil {
		return nil, err
	}
	id, err := containerIdentity(pod, &r.spec, img)
	if err != nil {
		return nil, err
	}
	mounts, err := containerMounts(r.sb, &r.spec)
	if err != nil {
		return nil, err
	}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	command, args := expandAll(r.spec.Command, lookup), expandAll(r.spec.Args, lookup)
	argv, err := img.argv(command, args)
	if err != nil {
		return nil, err
	}
	sc := r.spec.SecurityContext
	l := launch{
		netns: r.sb.ns.name, hostname: r.sb.hostname, mounts: mounts, workDir: "/",
		id: id, argv: argv, env: env,
	}
	if r.spec.WorkingDir != "" {
		l.workDir = r.spec.WorkingDir
	}
	if sc != nil {
		l.readOnlyRoot = derefBool(sc.ReadOnlyRootFilesystem, false)
		l.noNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
		l.dropAllCaps = sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL")
	}

	logf, err := os.OpenFile(r.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==> kubelet %s: starting %s as %d:%d: %s\n",
		time.Now().UTC().Format(time.RFC3339Nano), r.spec.Name, id.uid, id.gid, strings.Join(argv, " "))
	cmd := r.k.tools.command(l)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	p := &process{cmd: cmd, env: env, id: id, started: time.Now(), exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	r.update(func(s *corev1.ContainerStatus) {
		if !first {
			s.RestartCount++
		}
		if s.State.Terminated != nil {
			s.LastTerminationState = corev1.ContainerState{Terminated: s.State.Terminated}
		}
		s.ContainerID = fmt.Sprintf("harness://%d", cmd.Process.Pid)
		s.ImageID = "harness://" + img.Program
		s.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(p.started)}}
		s.Started = ptrTo(r.spec.StartupProbe == nil)
		s.Ready = false
	})
	r.w.event(corev1.EventTypeNormal, "Started", "Started container %s", r.spec.Name)
	r.log.Info("container started", "pid", cmd.Process.Pid, "user", id.uid, "argv", argv)
	return p, nil
}

// supervise runs the probes of a running process until it exits, a
// liveness or startup probe fails (it is then stopped and restarted), or
// ctx ends (it is then stopped for good: stopped is true).
func (r *runner) supervise(ctx context.Context, p *process) (ex exit, stopped bool) {
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	unhealthy := make(chan string, 1)
	r.startProbes(pctx, &wg, p, unhealthy)
	defer func() {
		cancel()
		wg.Wait()
	}()

	grace := r.w.terminationGrace()
	select {
	case <-p.exited:
		return exitOf(p), false
	case msg := <-unhealthy:
		r.w.event(corev1.EventTypeNormal, "Killing", "Container %s %s, will be restarted", r.spec.Name, msg)
		r.log.Info("killing unhealthy container", "why", msg)
		cancel()
		return r.stop(p, grace), false
	case <-ctx.Done():
		return r.stop(p, time.Duration(r.stopGrace.Load())*time.Second), true
	}
}

// startProbes starts the container's probers: the startup probe first, and
// the liveness and readiness probes once it succeeded (at once without one).
// A container without a readiness probe is ready once started.
func (r *runner) startProbes(ctx context.Context, wg *sync.WaitGroup, p *process, unhealthy chan<- string) {
	fail := func(msg string) {
		select {
		case unhealthy <- msg:
		default:
		}
	}
	goProbe := func(kind probeKind, pr *corev1.Probe, report func(ok bool, msg string)) {
		c, fallback := r.probeCheck(pr, p.cmd.Process.Pid, p.id, p.env)
		if fallback != "" {
			r.log.Info("probe fallback", "probe", kind, "how", fallback)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			(&prober{kind: kind, probe: pr, check: c}).run(ctx, report)
		}()
	}
	afterStartup := func() {
		if pr := r.spec.LivenessProbe; pr != nil {
			goProbe(probeLiveness, pr, func(ok bool, msg string) {
				if !ok {
					r.w.event(corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed: %s", msg)
					fail("failed liveness probe")
				}
			})
		}
		if pr := r.spec.ReadinessProbe; pr != nil {
			goProbe(probeReadiness, pr, func(ok bool, msg string) {
				if !ok {
					r.w.event(corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: %s", msg)
				}
				r.update(func(s *corev1.ContainerStatus) { s.Ready = ok && s.State.Running != nil })
			})
		} else {
			r.update(func(s *corev1.ContainerStatus) { s.Ready = s.State.Running != nil })
		}
	}
	if pr := r.spec.StartupProbe; pr != nil {
		goProbe(probeStartup, pr, func(ok bool, msg string) {
			if !ok {
				r.w.event(corev1.EventTypeWarning, "Unhealthy", "Startup probe failed: %s", msg)
				fail("failed startup probe")
				return
			}
			r.update(func(s *corev1.ContainerStatus) { s.Started = ptrTo(true) })
			afterStartup()
		})
		return
	}
	afterStartup()
}

// stop sends SIGTERM to the container's processes, then SIGKILL after the
// grace period, and waits for the process to exit.
func (r *runner) stop(p *process, grace time.Duration) exit {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		r.log.Warn("container did not stop within its grace period; killing it", "grace", grace)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// Whatever the program left in its process group goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return exitOf(p)
}

// exitOf reads an exited process's status the way the runtime reports it.
func exitOf(p *process) exit {
	ex := exit{finished: time.Now(), reason: "Completed"}
	ws, _ := p.state.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		ex.signal = int32(ws.Signal())
		ex.code = 128 + ex.signal
	default:
		ex.code = int32(ws.ExitStatus())
	}
	if ex.code != 0 {
		ex.reason = "Error"
	}
	return ex
}

func expandAll(list []string, lookup func(string) (string, bool)) []string {
	if list == nil {
		return nil
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = expand(s, lookup)
	}
	return out
}
