package es

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chatcluster/chatcluster/test/platform/standins"
)

// Version is the Elasticsearch version the stand-in reports: the operator's
// default image.
const Version = "8.19.4"

// Config is the node's configuration, from the elasticsearch image's
// environment and command line.
type Config struct {
	Host        string // "" binds every address
	Ports       []int  // http.port: one port, or a range tried in order
	DataPath    string
	ClusterName string
	NodeName    string
	AutoCreate  string // action.auto_create_index
	// ILMPollInterval is indices.lifecycle.poll_interval: how often index
	// lifecycles are checked (10m).
	ILMPollInterval time.Duration
	Ignored         []string
}

// known are the settings the stand-in reads; the others are accepted and
// logged by name.
var known = map[string]bool{
	"http.port": true, "http.host": true, "http.bind_host": true, "network.host": true, "network.bind_host": true,
	"path.data": true, "discovery.type": true, "xpack.security.enabled": true, "cluster.name": true,
	"node.name": true, "action.auto_create_index": true, "indices.lifecycle.poll_interval": true,
}

// settingName reports whether an environment variable is a setting, as the
// image's entrypoint decides: lower-case names with a dot (cluster.name), or
// ES_SETTING_ names (ES_SETTING_CLUSTER_NAME, "__" standing for "_").
func settingName(env string) (string, bool) {
	if rest, ok := strings.CutPrefix(env, "ES_SETTING_"); ok {
		rest = strings.ReplaceAll(rest, "__", "\x00")
		rest = strings.ReplaceAll(rest, "_", ".")
		return strings.ToLower(strings.ReplaceAll(rest, "\x00", "_")), true
	}
	if !strings.Contains(env, ".") {
		return "", false
	}
	for _, r := range env {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return "", false
		}
	}
	return env, true
}

// ParseConfig reads the settings from the environment and from -E
// name=value arguments (which win, as on the real command line). It refuses
// what the stand-in cannot be: a node with security enabled (Elasticsearch
// 8's default, which needs TLS and passwords) or one that forms a cluster.
func ParseConfig(args []string, env standins.Env) (Config, error) {
	settings := map[string]string{}
	for k, v := range env {
		if name, ok := settingName(k); ok {
			settings[name] = v
		}
	}
	if len(args) > 0 && (args[0] == "eswrapper" || args[0] == "elasticsearch" || args[0] == "/usr/share/elasticsearch/bin/elasticsearch") {
		args = args[1:]
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-E":
			if i+1 >= len(args) {
				return Config{}, standins.Refuse(64, "ERROR: Missing argument for option: E")
			}
			i++
			a = "-E" + args[i]
			fallthrough
		case strings.HasPrefix(a, "-E"):
			k, v, ok := strings.Cut(a[2:], "=")
			if !ok || k == "" {
				return Config{}, standins.Refuse(64, "ERROR: setting [%s] must be of the form name=value", a[2:])
			}
			settings[k] = v
		case a == "-q" || a == "--quiet":
		default:
			return Config{}, standins.Refuse(64, "ERROR: the stand-in does not take the argument %q", a)
		}
	}

	if v := settings["xpack.security.enabled"]; v != "false" {
		return Config{}, standins.Refuse(78, "xpack.security.enabled is %q: Elasticsearch 8 then requires TLS on HTTP and credentials, which the stand-in does not reproduce; set xpack.security.enabled=false", v)
	}
	if v := settings["discovery.type"]; v != "single-node" {
		return Config{}, standins.Refuse(78, "bootstrap check failure: the default discovery settings are unsuitable for production use; at least one of [discovery.seed_hosts, discovery.seed_providers, cluster.initial_master_nodes] must be configured (the stand-in is one node: set discovery.type=single-node)")
	}

	cfg := Config{
		DataPath:    orDefault(settings["path.data"], "/usr/share/elasticsearch/data"),
		ClusterName: orDefault(settings["cluster.name"], "docker-cluster"),
		NodeName:    settings["node.name"],
		AutoCreate:  orDefault(settings["action.auto_create_index"], "true"),
	}
	if cfg.NodeName == "" {
		cfg.NodeName, _ = os.Hostname()
	}
	host := settings["http.bind_host"]
	for _, k := range []string{"http.host", "network.bind_host", "network.host"} {
		if host == "" {
			host = settings[k]
		}
	}
	switch host {
	case "", "0.0.0.0", "_site_", "_global_", "0", "::":
		cfg.Host = ""
	case "_local_", "localhost":
		cfg.Host = "127.0.0.1"
	default:
		if strings.HasPrefix(host, "_") || strings.Contains(host, ",") {
			return Config{}, standins.Refuse(78, "http host %q: the stand-in binds one literal address or every address", host)
		}
		cfg.Host = host
	}
	cfg.ILMPollInterval = 10 * time.Minute
	if v := settings["indices.lifecycle.poll_interval"]; v != "" {
		d, err := parseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, standins.Refuse(78, "failed to parse value [%s] for setting [indices.lifecycle.poll_interval]", v)
		}
		cfg.ILMPollInterval = d
	}
	ports, err := parsePorts(orDefault(settings["http.port"], "9200-9300"))
	if err != nil {
		return Config{}, standins.Refuse(78, "%v", err)
	}
	cfg.Ports = ports
	for k := range settings {
		if !known[k] {
			cfg.Ignored = append(cfg.Ignored, k)
		}
	}
	sort.Strings(cfg.Ignored)
	return cfg, nil
}

func parsePorts(v string) ([]int, error) {
	lo, hi, isRange := strings.Cut(v, "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil || a < 0 || a > 65535 {
		return nil, fmt.Errorf("Failed to parse value [%s] for setting [http.port]", v)
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a || b > 65535 {
			return nil, fmt.Errorf("Failed to parse value [%s] for setting [http.port]", v)
		}
	}
	var out []int
	for p := a; p <= b; p++ {
		out = append(out, p)
	}
	return out, nil
}

// listen binds the first free port of the range, as Elasticsearch does.
func (c Config) listen() (net.Listener, error) {
	var last error
	for _, p := range c.Ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(c.Host, strconv.Itoa(p)))
		if err == nil {
			return ln, nil
		}
		last = err
	}
	return nil, fmt.Errorf("BindHttpException: Failed to bind to %s:%v: %v", c.Host, c.Ports, last)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
