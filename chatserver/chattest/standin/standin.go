// Package standin runs the stand-ins of the data backends for tests, each
// test its own: FerretDB for MongoDB and kfake for Kafka. They are the
// command test/backends/cmd/standins, a separate process built from the
// module test/backends, so that the server's module never requires them.
// The command is built once per test binary, with the go command that runs
// the tests, into a directory next to the Go build cache that every test
// binary shares; `go build` leaves it as it is while it is up to date.
//
// A test that cannot build or start the stand-ins fails, saying why; none
// is skipped.
package standin

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvMongoDBURI names the variable that points the Mongo tests at a real
// MongoDB instead of FerretDB.
const EnvMongoDBURI = "CHAT_TEST_MONGODB_URI"

// startTimeout bounds the wait for a started process to print where it
// listens; the build before it is not counted.
const startTimeout = 60 * time.Second

// Kafka says how the Kafka stand-in starts.
type Kafka struct {
	Port       int    // 0: a free one
	Topic      string // created at start with Partitions partitions
	Partitions int    // 0: no topic at start
	// RefuseCreateTopics makes the broker refuse every topic creation, as a
	// cluster whose administrators make the topics.
	RefuseCreateTopics bool
}

// Config says which stand-ins a process runs.
type Config struct {
	FerretDB bool   // FerretDB on a free port
	Kafka    *Kafka // nil: no Kafka
}

// Process is a running standins process, stopped when the test ends.
type Process struct {
	mongoURI string
	brokers  []string
	cmd      *exec.Cmd
	stderr   lockedBuffer  // what the process said, for failures
	exited   chan struct{} // closed once the process has exited
	drained  chan struct{} // closed once its output is read to the end

	stopOnce sync.Once
}

// args are the command's arguments for c, with its data in dataDir.
func (c Config) args(dataDir string) []string {
	mongoAddr := "" // none
	if c.FerretDB {
		mongoAddr = "127.0.0.1:0"
	}
	args := []string{"-data-dir", dataDir, "-mongodb-addr", mongoAddr, "-kafka=" + strconv.FormatBool(c.Kafka != nil)}
	if k := c.Kafka; k != nil {
		args = append(args, "-kafka-port", strconv.Itoa(k.Port), "-kafka-topic", k.Topic,
			"-kafka-partitions", strconv.Itoa(k.Partitions), "-kafka-refuse-create-topics="+strconv.FormatBool(k.RefuseCreateTopics))
	}
	return args
}

// printed names the variables the command prints for c.
func (c Config) printed() []string {
	var names []string
	if c.FerretDB {
		names = append(names, "CHAT_MONGODB_URI")
	}
	if c.Kafka != nil {
		names = append(names, "CHAT_KAFKA_BROKERS")
	}
	return names
}

// Start builds the stand-ins if needed and starts a process running those of
// c, with its data in a directory of the test. It returns once they listen.
func Start(t testing.TB, c Config) *Process {
	t.Helper()
	build(t)
	want := c.printed()
	// A pipe of its own rather than cmd.StdoutPipe, which Wait closes
	// whether or not everything was read from it.
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: exec.Command(built.bin, c.args(t.TempDir())...), exited: make(chan struct{}), drained: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = w, &p.stderr
	// The stand-ins die with the test binary even if the tests crash.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = p.cmd.Start()
	w.Close()
	if err != nil {
		stdout.Close()
		t.Fatalf("starting the stand-ins %s: %v", built.bin, err)
	}
	vars := make(chan map[string]string, 1)
	go func() { // ends when the process exits
		defer close(p.drained)
		defer stdout.Close()
		vars <- readVars(stdout, want)
		_, _ = io.Copy(io.Discard, stdout) // so that the process never blocks on its output
	}()
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.Stop)
	select {
	case v := <-vars:
		if len(v) < len(want) {
			<-p.exited
			t.Fatalf("the stand-ins (%s) exited before they listened: %s", built.bin, p.stderr.tail())
		}
		p.mongoURI = v["CHAT_MONGODB_URI"]
		if b := v["CHAT_KAFKA_BROKERS"]; b != "" {
			p.brokers = strings.Split(b, ",")
		}
	case <-time.After(startTimeout):
		p.Stop()
		t.Fatalf("the stand-ins (%s) did not listen within %v: %s", built.bin, startTimeout, p.stderr.tail())
	}
	return p
}

// readVars reads NAME=value lines until it has every name of want, or r
// ends.
func readVars(r io.Reader, want []string) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	for len(vars) < len(want) && sc.Scan() {
		if name, value, ok := strings.Cut(sc.Text(), "="); ok {
			vars[name] = value
		}
	}
	return vars
}

// FerretDB starts a FerretDB of the test's own and returns its process.
func FerretDB(t testing.TB) *Process {
	t.Helper()
	return Start(t, Config{FerretDB: true})
}

// StartKafka starts a Kafka stand-in of the test's own as k says.
func StartKafka(t testing.TB, k Kafka) *Process {
	t.Helper()
	return Start(t, Config{Kafka: &k})
}

// MongoDB returns the URI and a database name for a test of the MongoDB
// store: a real MongoDB with a fresh database when CHAT_TEST_MONGODB_URI is
// set, else a FerretDB of the test's own.
func MongoDB(t testing.TB) (uri, database string) {
	t.Helper()
	if uri := os.Getenv(EnvMongoDBURI); uri != "" {
		return uri, "chattest_" + RandomName()
	}
	return FerretDB(t).MongoDBURI(), "chat"
}

// RandomName returns 12 random hex digits, for names tests must not share
// (databases, topics, consumer groups).
func RandomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// MongoDBURI is FerretDB's mongodb:// URI; empty when it does not run.
func (p *Process) MongoDBURI() string { return p.mongoURI }

// ListenAddrs are the Kafka broker's host:port; none when it does not run.
func (p *Process) ListenAddrs() []string { return p.brokers }

// Stop ends the process (SIGTERM, SIGKILL if that takes over 15 s) and waits
// for it and for the reading of its output. Stopping a stopped process does
// nothing.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		<-p.drained
	})
}

// lockedBuffer keeps what a process writes, to be read while it writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

// tail returns the end of what was written.
func (l *lockedBuffer) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	switch {
	case s == "":
		return "(nothing on stderr)"
	case len(s) > 4000:
		return "…" + s[len(s)-4000:]
	}
	return s
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

// build builds the standins command into built.bin, once per test binary.
func build(t testing.TB) {
	t.Helper()
	built.once.Do(func() { built.bin, built.err = buildStandins() })
	if built.err != nil {
		t.Fatal(built.err)
	}
}

func buildStandins() (string, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", errors.New("the stand-ins are built with the go command, which is not on PATH: install Go (https://go.dev/dl/)")
	}
	src, err := moduleDir()
	if err != nil {
		return "", err
	}
	cache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOCACHE: %w", err)
	}
	dir := filepath.Join(filepath.Dir(strings.TrimSpace(string(cache))), "chatcluster-standins")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	// Test binaries of several packages build at once: one at a time writes
	// the binary, and the others find it up to date.
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "standins"), "./cmd/standins")
	cmd.Dir = src
	// -mod=mod: the module may need requirements the server's module gained
	// since its go.sum was tidied.
	cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the stand-ins in %s (go build ./cmd/standins): %w\n%s", src, err, out)
	}
	return filepath.Join(dir, "standins"), nil
}

// moduleDir finds the module test/backends above the working directory (the
// package directory of the test).
func moduleDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		src := filepath.Join(dir, "test", "backends")
		if _, err := os.Stat(filepath.Join(src, "cmd", "standins")); err == nil {
			return src, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no test/backends/cmd/standins above %s: the stand-ins are built from the repository", wd)
		}
	}
}
