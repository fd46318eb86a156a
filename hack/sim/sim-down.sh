#!/usr/bin/env bash
# sim-down.sh stops what sim-up.sh started, by the process ids it recorded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$(cd "$here/../.." && pwd)/bin}
SIM=$BIN/sim
[[ -f $SIM/pids ]] || { echo "sim: not running"; exit 0; }
# Stop in reverse order of start, so that etcd goes last.
tac "$SIM/pids" | while read -r pid name; do
	kill "$pid" 2>/dev/null && echo "sim: stopped $name ($pid)" || true
done
tac "$SIM/pids" | while read -r pid name; do
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || continue 2
		sleep 0.2
	done
	kill -9 "$pid" 2>/dev/null && echo "sim: killed $name ($pid)" || true
done
rm -f "$SIM/pids"
