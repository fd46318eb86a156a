// Package standins holds what the backend stand-ins share: the ones that run
// in place of the redis, mongo, apache/kafka and elasticsearch images when
// the platform test acts as the kubelet of a simulated cluster.
//
// Each stand-in is a binary started as the image's entrypoint would be: with
// the container's args and exactly the pod's environment, in its own network
// and mount namespaces. It logs to stderr, never prints secrets, and exits
// cleanly (status 0) on SIGTERM or SIGINT. A start-up refusal exits with a
// non-zero status and a message on stderr.
package standins

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Logger returns a text logger on stderr that names the stand-in.
func Logger(name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("standin", name)
}

// QuietLogger returns a logger on stderr that lets only errors through, for
// embedded libraries that are chatty at lower levels.
func QuietLogger(name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})).With("standin", name)
}

// SignalContext is cancelled by SIGTERM or SIGINT.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

// Service is a started stand-in: it serves until its context ends.
type Service interface {
	Run(ctx context.Context) error
}

// Main is a stand-in command's main. It logs as the named stand-in, reads
// the configuration from the process's arguments and environment with
// parse, starts the stand-in with start, serves until SIGTERM or SIGINT and
// exits as Exit does for the command standin-<name>.
func Main[C any, S Service](name string, parse func([]string, Env) (C, error), start func(C, *slog.Logger) (S, error)) {
	Exit("standin-"+name, serve(Logger(name), os.Args[1:], OSEnv(), parse, start))
}

func serve[C any, S Service](log *slog.Logger, args []string, env Env, parse func([]string, Env) (C, error), start func(C, *slog.Logger) (S, error)) error {
	cfg, err := parse(args, env)
	if err != nil {
		return err
	}
	srv, err := start(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := SignalContext()
	defer stop()
	err = srv.Run(ctx)
	log.Info("stopped")
	return err
}

// ExitError is a start-up refusal with the exit status the real program
// uses for it.
type ExitError struct {
	Status int
	Err    error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Refuse returns an ExitError with the status and a formatted message.
func Refuse(status int, format string, args ...any) error {
	return &ExitError{Status: status, Err: fmt.Errorf(format, args...)}
}

// Exit ends the process: status 0 for a nil error, otherwise the message on
// stderr and the ExitError's status (1 for any other error).
func Exit(name string, err error) {
	if err == nil {
		os.Exit(0)
	}
	status := 1
	if e, ok := err.(*ExitError); ok {
		status = e.Status
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(status)
}

// Env is a process environment as a map, the form the stand-ins read their
// configuration from (tests pass their own instead of os.Environ).
type Env map[string]string

// OSEnv returns the process's environment.
func OSEnv() Env {
	env := Env{}
	for _, kv := range os.Environ() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				env[kv[:i]] = kv[i+1:]
				break
			}
		}
	}
	return env
}

// Get returns the variable's value, or def when it is unset or empty.
func (e Env) Get(name, def string) string {
	if v, ok := e[name]; ok && v != "" {
		return v
	}
	return def
}
