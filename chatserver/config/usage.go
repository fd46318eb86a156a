package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// printUsage writes -h: the settings by group, each as its flag, its
// variable and its default, then its meaning.
func printUsage(w io.Writer, name string, fs *flag.FlagSet, set []setting) {
	fmt.Fprintf(w, "Usage: %s [flags]\n", name)
	if !strings.Contains(name, " ") {
		fmt.Fprintf(w, "       %s index [flags]   run the activity indexer (Kafka to Elasticsearch)\n", name)
	}
	fmt.Fprintln(w, "\nEvery flag can also be set by its environment variable; a flag wins over its variable.")
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g)
		for _, s := range set {
			if s.group != g {
				continue
			}
			f := fs.Lookup(flagName(s.env))
			head := "-" + f.Name
			if s.value.arg != "" {
				head += " " + s.value.arg
			}
			head += ", " + s.env
			if def := f.DefValue; def != "" && def != "false" {
				if s.value.arg == "duration" {
					def = shortDuration(def)
				}
				head += " (default " + def + ")"
			}
			fmt.Fprintf(w, "  %s\n      %s\n", head, s.usage)
		}
	}
}
