// Command benchratios summarizes make bench-peers: it reads the JSON lines
// chatload -json wrote, one file per bench scenario (max.jsonl, paced.jsonl,
// idle5k.jsonl, …: the file's name without its extension names the
// scenario), and prints as a markdown table each system's median over the
// rounds and how many times better than each peer the project is, then the
// project's targets against each peer and whether they were met. It exits 1
// when a run of the project counted errors or a round of any system wrote no
// figures, 2 when it cannot read its input; a peer's runs with errors are
// listed as its own result. docs/bench.md tells how to read the table.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// listFlag collects the values of a flag given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, "; ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchratios: ")
	rp := &report{}
	var skipped listFlag
	flag.StringVar(&rp.ours, "ours", "chatcluster", "the system whose targets are judged (chatload's -label); every other system is a peer")
	flag.StringVar(&rp.note, "note", "", "a line under the header: what the systems ran with")
	flag.IntVar(&rp.rounds, "rounds", 0, "rounds each system was to run; fewer lines fail (0: do not check)")
	flag.Var(&skipped, "skipped", "`NAME: WHY` of a bench scenario that did not run (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: benchratios [flags] SCENARIO.jsonl...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	rp.skipped = skipped
	for _, path := range flag.Args() {
		g, err := readFile(path)
		if err != nil {
			log.Print(err)
			os.Exit(2)
		}
		rp.groups = append(rp.groups, g)
	}
	rp.machine = readMachine(time.Now())
	os.Exit(rp.write(os.Stdout))
}

func readFile(path string) (*group, error) {
	f, err := os.Open(path) // #nosec G304 -- the files the runner wrote, named on the command line
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readGroup(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), f)
}

// readMachine describes this machine: CPUs, model, the date and the load
// averages now.
func readMachine(now time.Time) machine {
	m := machine{cpus: runtime.NumCPU(), model: "model unknown", date: now.UTC().Format("2006-01-02 15:04 MST"), load: "?"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.model = cpuModel(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.load = strings.Join(f[:3], " ")
		}
	}
	return m
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo string) string {
	for line := range strings.SplitSeq(cpuinfo, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "model unknown"
}
