// Package kafka runs a one-broker Kafka on franz-go's kfake in place of the
// apache/kafka image, configured from the image's environment variables.
//
// What it takes from the environment (the image turns KAFKA_FOO_BAR into the
// broker setting foo.bar; defaults are the image's):
//
//   - KAFKA_LISTENERS (default PLAINTEXT://:9092,CONTROLLER://:9093): the one
//     listener that is not named in KAFKA_CONTROLLER_LISTENER_NAMES (default
//     CONTROLLER) is served; its security protocol, from
//     KAFKA_LISTENER_SECURITY_PROTOCOL_MAP, must be PLAINTEXT. An empty host
//     binds every address. The controller listener is not opened: kfake has no
//     KRaft quorum.
//   - KAFKA_ADVERTISED_LISTENERS (default PLAINTEXT://localhost:9092): the
//     host:port of the served listener's entry is what Metadata,
//     FindCoordinator and DescribeCluster answer, so clients in other pods
//     reach the broker through its Service name.
//   - KAFKA_AUTO_CREATE_TOPICS_ENABLE (default true) and KAFKA_NUM_PARTITIONS
//     (default 1): a Metadata request that allows auto-creation creates a
//     missing topic with that many partitions only when enabled; Produce and
//     Fetch never create topics; CreateTopics always can.
//   - KAFKA_LOG_DIRS (default /tmp/kraft-combined-logs; KAFKA_LOG_DIR too):
//     one directory, checked at start-up as Kafka's LogManager checks it, then
//     holding meta.properties, .lock and the stand-in's own data
//     (kfake's files, in the .standin-kfake directory).
//   - KAFKA_NODE_ID (default 1), CLUSTER_ID: written to meta.properties; a
//     stored node.id that differs refuses start-up, as Kafka does.
//   - KAFKA_PROCESS_ROLES must include broker.
//   - KAFKA_LOG_RETENTION_MS, _MINUTES, _HOURS (default 168 hours),
//     KAFKA_LOG_RETENTION_BYTES: the brokers' default retention;
//     KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS (default 5 minutes): how often
//     it is enforced. kfake enforces it only on topics that set retention.ms
//     or retention.bytes themselves (the chat server's topic does), and by
//     record batch rather than by segment.
//
// Every other KAFKA_* variable is accepted and ignored (replication factors,
// heap options, ...); their names, never their values, are logged.
package kafka

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/chatcluster/chatcluster/test/platform/standins"
)

// DataDirName is the stand-in's own directory inside the log dir: kfake's
// topics, partitions and group offsets. Real Kafka would refuse a directory
// of this name; the check exempts exactly this one.
const DataDirName = ".standin-kfake"

// Config is the broker's configuration as the environment gives it.
type Config struct {
	ListenHost     string // "" binds every address
	Port           int
	AdvertisedHost string
	AdvertisedPort int
	LogDir         string
	AutoCreate     bool
	NumPartitions  int
	NodeID         int
	ClusterID      string
	// BrokerConfigs are the broker settings kfake applies: retention
	// (log.retention.ms, log.retention.bytes) and how often it is enforced
	// (log.cleaner.backoff.ms, kfake's name for the check interval).
	BrokerConfigs map[string]string
	Ignored       []string // KAFKA_* variables read by nobody, names only
}

type listener struct {
	name, host string
	port       int
}

func parseListeners(setting, value string) ([]listener, error) {
	var out []listener
	for _, entry := range strings.Split(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, hostport, ok := strings.Cut(entry, "://")
		if !ok {
			return nil, fmt.Errorf("Invalid value %s for configuration %s: listener %q is not NAME://host:port", value, setting, entry)
		}
		host, portStr, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, fmt.Errorf("Invalid value %s for configuration %s: %v", value, setting, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("Invalid value %s for configuration %s: bad port %q", value, setting, portStr)
		}
		out = append(out, listener{name: strings.ToUpper(name), host: host, port: port})
	}
	return out, nil
}

// known is every variable the stand-in reads.
var known = map[string]bool{
	"KAFKA_LISTENERS": true, "KAFKA_ADVERTISED_LISTENERS": true, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": true,
	"KAFKA_CONTROLLER_LISTENER_NAMES": true, "KAFKA_AUTO_CREATE_TOPICS_ENABLE": true, "KAFKA_NUM_PARTITIONS": true,
	"KAFKA_LOG_DIRS": true, "KAFKA_LOG_DIR": true, "KAFKA_NODE_ID": true, "KAFKA_PROCESS_ROLES": true,
	"KAFKA_LOG_RETENTION_MS": true, "KAFKA_LOG_RETENTION_MINUTES": true, "KAFKA_LOG_RETENTION_HOURS": true,
	"KAFKA_LOG_RETENTION_BYTES": true, "KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS": true,
}

// retention reads Kafka's retention settings: log.retention.ms wins over
// log.retention.minutes, which wins over log.retention.hours (168); -1 keeps
// records forever. The check runs every log.retention.check.interval.ms
// (300000).
func retention(env standins.Env) (map[string]string, error) {
	long := func(name, setting string) (int64, bool, error) {
		v, ok := env[name]
		if !ok || strings.TrimSpace(v) == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("Invalid value %s for configuration %s: Not a number of type LONG", v, setting)
		}
		return n, true, nil
	}
	ms := int64(168 * 3600 * 1000)
	if h, ok, err := long("KAFKA_LOG_RETENTION_HOURS", "log.retention.hours"); err != nil {
		return nil, err
	} else if ok {
		ms = h * 3600 * 1000
	}
	if m, ok, err := long("KAFKA_LOG_RETENTION_MINUTES", "log.retention.minutes"); err != nil {
		return nil, err
	} else if ok {
		ms = m * 60 * 1000
	}
	if v, ok, err := long("KAFKA_LOG_RETENTION_MS", "log.retention.ms"); err != nil {
		return nil, err
	} else if ok {
		ms = v
	}
	if ms < 0 {
		ms = -1
	}
	out := map[string]string{"log.retention.ms": strconv.FormatInt(ms, 10), "log.cleaner.backoff.ms": "300000"}
	if b, ok, err := long("KAFKA_LOG_RETENTION_BYTES", "log.retention.bytes"); err != nil {
		return nil, err
	} else if ok {
		out["log.retention.bytes"] = strconv.FormatInt(b, 10)
	}
	if iv, ok, err := long("KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS", "log.retention.check.interval.ms"); err != nil {
		return nil, err
	} else if ok {
		if iv < 1 {
			return nil, fmt.Errorf("Invalid value %d for configuration log.retention.check.interval.ms: Value must be at least 1", iv)
		}
		out["log.cleaner.backoff.ms"] = strconv.FormatInt(iv, 10)
	}
	return out, nil
}

// FromEnv reads the configuration. A value Kafka would reject is an error
// with Kafka's wording.
func FromEnv(env standins.Env) (Config, error) {
	cfg := Config{AutoCreate: true, NumPartitions: 1, NodeID: 1, ClusterID: env.Get("CLUSTER_ID", "5L6g3nShT-eMCtK--X86sw")}
	for name := range env {
		if strings.HasPrefix(name, "KAFKA_") && !known[name] {
			cfg.Ignored = append(cfg.Ignored, name)
		}
	}
	sort.Strings(cfg.Ignored)

	var err error
	roles := strings.Split(env.Get("KAFKA_PROCESS_ROLES", "broker,controller"), ",")
	for i := range roles {
		roles[i] = strings.TrimSpace(roles[i])
	}
	if !slices.Contains(roles, "broker") {
		return cfg, fmt.Errorf("process.roles=%s: the stand-in is a broker; a controller-only node is not reproduced", strings.Join(roles, ","))
	}

	if v, ok := env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			cfg.AutoCreate = true
		case "false":
			cfg.AutoCreate = false
		default:
			return cfg, fmt.Errorf("Invalid value %s for configuration auto.create.topics.enable: Expected value to be either true or false", v)
		}
	}
	if v, ok := env["KAFKA_NUM_PARTITIONS"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return cfg, fmt.Errorf("Invalid value %s for configuration num.partitions: Not a number of type INT", v)
		}
		if n < 1 {
			return cfg, fmt.Errorf("Invalid value %d for configuration num.partitions: Value must be at least 1", n)
		}
		cfg.NumPartitions = n
	}
	if v, ok := env["KAFKA_NODE_ID"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("Invalid value %s for configuration node.id", v)
		}
		cfg.NodeID = n
	}

	if cfg.BrokerConfigs, err = retention(env); err != nil {
		return cfg, err
	}

	dirs := env.Get("KAFKA_LOG_DIRS", env.Get("KAFKA_LOG_DIR", "/tmp/kraft-combined-logs"))
	var logDirs []string
	for _, d := range strings.Split(dirs, ",") {
		if d = strings.TrimSpace(d); d != "" {
			logDirs = append(logDirs, d)
		}
	}
	if len(logDirs) != 1 {
		return cfg, fmt.Errorf("log.dirs=%s: the stand-in keeps its data in exactly one log directory", dirs)
	}
	cfg.LogDir = logDirs[0]

	listeners, err := parseListeners("listeners", env.Get("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093"))
	if err != nil {
		return cfg, err
	}
	controllers := map[string]bool{}
	for _, n := range strings.Split(env.Get("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"), ",") {
		controllers[strings.ToUpper(strings.TrimSpace(n))] = true
	}
	protocols := map[string]string{"PLAINTEXT": "PLAINTEXT", "SSL": "SSL", "SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL"}
	if v, ok := env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]; ok {
		protocols = map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			k, p, ok := strings.Cut(strings.TrimSpace(kv), ":")
			if !ok {
				return cfg, fmt.Errorf("Invalid value %s for configuration listener.security.protocol.map: Map entry %q is not NAME:PROTOCOL", v, kv)
			}
			protocols[strings.ToUpper(k)] = strings.ToUpper(p)
		}
	}
	var served []listener
	for _, l := range listeners {
		if controllers[l.name] {
			continue
		}
		proto, ok := protocols[l.name]
		if !ok {
			return cfg, fmt.Errorf("No security protocol defined for listener %s", l.name)
		}
		if proto != "PLAINTEXT" {
			return cfg, fmt.Errorf("listener %s uses %s: the stand-in serves PLAINTEXT only", l.name, proto)
		}
		served = append(served, l)
	}
	if len(served) != 1 {
		return cfg, fmt.Errorf("listeners: the stand-in serves exactly one broker listener, found %d", len(served))
	}
	own := served[0]
	cfg.ListenHost, cfg.Port = own.host, own.port
	if cfg.Port == 0 {
		return cfg, fmt.Errorf("listener %s: the stand-in needs a fixed port", own.name)
	}

	advertised, err := parseListeners("advertised.listeners", env.Get("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://localhost:9092"))
	if err != nil {
		return cfg, err
	}
	cfg.AdvertisedHost, cfg.AdvertisedPort = own.host, own.port // Kafka advertises the listener when no entry names it
	for _, a := range advertised {
		if a.name == own.name {
			cfg.AdvertisedHost, cfg.AdvertisedPort = a.host, a.port
		}
	}
	if cfg.AdvertisedHost == "0.0.0.0" || cfg.AdvertisedHost == "::" {
		return cfg, fmt.Errorf("advertised.listeners cannot use the nonroutable meta-address %s. Use a routable IP address.", cfg.AdvertisedHost)
	}
	if cfg.AdvertisedHost == "" {
		if cfg.AdvertisedHost, err = os.Hostname(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// Kafka's patterns for partition directories being deleted, moved between
// log dirs, or left stray.
var (
	deleteDir = regexp.MustCompile(`^(\S+)-(\S+)\.(\S+)-delete$`)
	futureDir = regexp.MustCompile(`^(\S+)-(\S+)\.(\S+)-future$`)
	strayDir  = regexp.MustCompile(`^(\S+)-(\S+)\.(\S+)-stray$`)
)

// isPartitionDirName is Kafka's UnifiedLog.parseTopicPartitionName test.
func isPartitionDirName(name string) bool {
	if name == "" || !strings.Contains(name, "-") {
		return false
	}
	for suffix, re := range map[string]*regexp.Regexp{"-delete": deleteDir, "-future": futureDir, "-stray": strayDir} {
		if strings.HasSuffix(name, suffix) {
			if !re.MatchString(name) {
				return false
			}
			name = name[:strings.LastIndex(name, ".")]
		}
	}
	i := strings.LastIndex(name, "-")
	topic, part := name[:i], name[i+1:]
	if topic == "" || part == "" {
		return false
	}
	_, err := strconv.ParseInt(part, 10, 32) // Java's Integer.parseInt
	return err == nil
}

// CheckLogDir refuses a log directory holding a directory that is not
// Kafka's, as Kafka's LogManager does when it loads the logs: every
// subdirectory must be named topic-partition (or topic-partition.id-delete,
// -future, -stray), except remote-log-index-cache. Files are not checked.
// The stand-in's own DataDirName is exempt.
func CheckLogDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path) // follows symbolic links, as File.isDirectory
		if err != nil || !fi.IsDir() || name == "remote-log-index-cache" || name == DataDirName {
			continue
		}
		if !isPartitionDirName(name) {
			canonical, err := filepath.EvalSymlinks(path)
			if err != nil {
				canonical = path
			}
			if abs, err := filepath.Abs(canonical); err == nil {
				canonical = abs
			}
			return fmt.Errorf("ERROR Encountered fatal fault: Error starting LogManager\n"+
				"org.apache.kafka.common.KafkaException: Found directory %s, '%s' is not in the form of "+
				"topic-partition or topic-partition.uniqueId-delete (if marked for deletion).\n"+
				"Kafka's log directories (and children) should only contain Kafka topic data.", canonical, name)
		}
	}
	return nil
}

// prepareLogDir creates the log dir if needed, takes its .lock, checks its
// contents and its meta.properties, and writes meta.properties when it is
// missing.
func prepareLogDir(cfg Config) (*os.File, error) {
	dir := cfg.LogDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("Failed to create or validate data directory %s: %v", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("Failed to create or validate data directory %s: %v", dir, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("Failed to acquire lock on file .lock in %s. A Kafka instance in another process or thread is using this directory.", dir)
	}
	fail := func(err error) (*os.File, error) {
		_ = lock.Close()
		return nil, err
	}
	if err := CheckLogDir(dir); err != nil {
		return fail(err)
	}
	meta := filepath.Join(dir, "meta.properties")
	props, err := readProperties(meta)
	switch {
	case os.IsNotExist(err):
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		body := fmt.Sprintf("#\n#%s\nnode.id=%d\ndirectory.id=%s\nversion=1\ncluster.id=%s\n",
			time.Now().UTC().Format(time.UnixDate), cfg.NodeID, base64.RawURLEncoding.EncodeToString(id), cfg.ClusterID)
		if err := standins.ReplaceFile(meta, []byte(body)); err != nil {
			return fail(fmt.Errorf("write %s: %v", meta, err))
		}
	case err != nil:
		return fail(fmt.Errorf("read %s: %v", meta, err))
	default:
		if stored := props["node.id"]; stored != "" && stored != strconv.Itoa(cfg.NodeID) {
			return fail(fmt.Errorf("Stored node id %s doesn't match previous node id %d. If you moved your data, make sure your configured node id matches. If you intend to create a new node, you should remove all data in your data directories.", stored, cfg.NodeID))
		}
	}
	return lock, nil
}

func readProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return props, sc.Err()
}

// advertisedAddr is the address kfake reports for its broker: kfake answers
// Metadata, FindCoordinator and DescribeCluster with the host and port of its
// listener's Addr().
type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// advertisingListener accepts on the real socket and reports the advertised
// address.
type advertisingListener struct {
	net.Listener
	addr advertisedAddr
}

func (l advertisingListener) Addr() net.Addr { return l.addr }

// Broker is a running stand-in.
type Broker struct {
	cfg     Config
	cluster *kfake.Cluster
	lock    *os.File
	bound   net.Addr
}

// Start checks the log dir, binds the port and starts serving.
func Start(cfg Config, log *slog.Logger) (*Broker, error) {
	lock, err := prepareLogDir(cfg)
	if err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, lock: lock}
	listen := func(network, _ string) (net.Listener, error) {
		// kfake asks for 127.0.0.1:port; the broker binds where the listener says.
		ln, err := net.Listen(network, net.JoinHostPort(cfg.ListenHost, strconv.Itoa(cfg.Port)))
		if err != nil {
			return nil, err
		}
		b.bound = ln.Addr()
		return advertisingListener{Listener: ln, addr: advertisedAddr(net.JoinHostPort(cfg.AdvertisedHost, strconv.Itoa(cfg.AdvertisedPort)))}, nil
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(cfg.Port),
		kfake.ListenFn(listen),
		kfake.ClusterID(cfg.ClusterID),
		kfake.DefaultNumPartitions(cfg.NumPartitions),
		kfake.DataDir(filepath.Join(cfg.LogDir, DataDirName)),
		kfake.WithLogger(kfakeLogger{log}),
		kfake.BrokerConfigs(cfg.BrokerConfigs),
	}
	if cfg.AutoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("kfake: %w", err)
	}
	b.cluster = c
	log.Info("Kafka broker (kfake) serving", "listen", b.bound.String(), "advertised", net.JoinHostPort(cfg.AdvertisedHost, strconv.Itoa(cfg.AdvertisedPort)),
		"log_dir", cfg.LogDir, "auto_create_topics", cfg.AutoCreate, "num_partitions", cfg.NumPartitions)
	if len(cfg.Ignored) > 0 {
		log.Info("settings the stand-in does not use", "variables", strings.Join(cfg.Ignored, ","))
	}
	return b, nil
}

// Addr is the bound listen address.
func (b *Broker) Addr() net.Addr { return b.bound }

// Close stops the broker, saving its state to the log dir.
func (b *Broker) Close() {
	b.cluster.Close()
	_ = b.lock.Close()
}

// Run serves until ctx ends, then closes the broker.
func (b *Broker) Run(ctx context.Context) error {
	<-ctx.Done()
	b.Close()
	return nil
}

type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	if level == kfake.LogLevelError {
		l.log.Error("kfake: " + fmt.Sprintf(format, args...))
	}
}
