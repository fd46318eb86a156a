#!/usr/bin/env bash
# peers.sh runs make bench-peers: the chat server and its peers under the
# same load generator (bin/chatload) on the same machine, every run on a
# freshly started server, the systems taking turns to go first in each
# round, then prints the ratio table (bin/benchratios). docs/bench.md tells
# how to read it. make bench-peers builds the binaries and sets:
#
#   BIN                    where chatserver, chatload, benchpair and benchratios are
#   CENTRIFUGO             the Centrifugo binary (for the centrifugo system)
#   CENTRIFUGO_VERSION     its version, for the table's header
#   CHAT_ENV               the chat server's variables (rate limit, fsync, caps off)
#   BENCH_PEERS_ROUNDS     rounds (default 2)
#   BENCH_PEERS_SCENARIOS  bench scenarios, in order (default: all of SCENARIO_FLAGS)
#   BENCH_PEERS_SYSTEMS    systems, the project first (default: chatcluster centrifugo socketio)
#   BENCH_PEERS_FLAGS      more chatload flags for every run (say '-duration 5s')
#   BENCH_PEERS_KEEP       non-empty: keep the temporary directory (logs, JSON lines)
#
# A system is a start function and a chatload -protocol value: to add one,
# write start_NAME and add NAME to PROTOCOL (and to BENCH_PEERS_SYSTEMS).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
: "${BIN:=$root/bin}"
: "${CHAT_ENV:=CHAT_RATE_LIMIT=0 CHAT_PPROF=true}"
rounds=${BENCH_PEERS_ROUNDS:-2}
read -ra systems <<<"${BENCH_PEERS_SYSTEMS:-chatcluster centrifugo socketio}"
read -ra extra <<<"${BENCH_PEERS_FLAGS:-}"
read -ra chat_env <<<"$CHAT_ENV"

# The bench scenarios: chatload's flags and how many instances of each
# system serve them (1 unless said). Two instances share a Redis server
# started for the run.
declare -A SCENARIO_FLAGS=(
	[max]="-scenarios max"
	[paced]="-scenarios paced"
	[idle5k]="-scenarios idle -idle-conns 5000"
	[idle50k]="-scenarios idle -idle-conns 50000"
	[pair]="-scenarios max"
)
declare -A SCENARIO_INSTANCES=([pair]=2)
declare -A SCENARIO_CONNS=([idle5k]=5000 [idle50k]=50000)
scenarios=${BENCH_PEERS_SCENARIOS:-max paced idle5k idle50k pair}
read -ra scenarios <<<"${scenarios//,/ }"

# The systems: each start_NAME DIR N REDIS_URL starts N instances on the
# ports of $ports (N > 1 with REDIS_URL), logs into DIR and adds to
# sys_pids the processes whose CPU time and memory are the system's.
declare -A PROTOCOL=([chatcluster]=chat [socketio]=socketio [centrifugo]=centrifugo)

# chatcluster: the chatserver binary as make bench runs it; two instances are
# hack/bench/pair's, one process on one store, fanning out through Redis.
start_chatcluster() {
	local dir=$1 n=$2 redis_url=$3
	if ((n == 1)); then
		env "${chat_env[@]}" CHAT_ADDR="127.0.0.1:${ports[0]}" CHAT_DATA_DIR="$dir/data" \
			"$BIN/chatserver" >"$dir/chatserver.log" 2>&1 &
	else
		local addrs=${ports[*]/#/127.0.0.1:}
		env "${chat_env[@]}" CHAT_REDIS_URL="$redis_url" CHAT_DATA_DIR="$dir/data" \
			"$BIN/benchpair" -addrs "${addrs// /,}" >"$dir/benchpair.log" 2>&1 &
	fi
	track $!
	sys_pids+=($!)
}

# socketio: hack/peers/socketio/server.js, one Node process per instance,
# on the Redis adapter when there are several.
start_socketio() {
	local dir=$1 n=$2 redis_url=$3 i
	for ((i = 0; i < n; i++)); do
		PORT=${ports[i]} REDIS_URL=$redis_url node "$root/hack/peers/socketio/server.js" >"$dir/socketio-$i.log" 2>&1 &
		track $!
		sys_pids+=($!)
	done
}

# centrifugo: the pinned Centrifugo binary ($CENTRIFUGO, built by make
# centrifugo), one process per instance, on its Redis engine when there are
# several; hack/peers/centrifugo/config.sh writes each one's configuration.
start_centrifugo() {
	local dir=$1 n=$2 redis_url=$3 i
	for ((i = 0; i < n; i++)); do
		"$root/hack/peers/centrifugo/config.sh" "${ports[i]}" "$redis_url" >"$dir/centrifugo-$i.json"
		"$CENTRIFUGO" -c "$dir/centrifugo-$i.json" >"$dir/centrifugo-$i.log" 2>&1 &
		track $!
		sys_pids+=($!)
	done
}

# --- processes ----------------------------------------------------------------
running=() # processes of the current run, stopped after it and on exit

track() { running+=("$1"); }

# stop ends every process of the run: SIGTERM, then SIGKILL after 20 s.
stop() {
	local pid i
	for pid in "${running[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${running[@]}"; do
		for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	running=()
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-peers.XXXXXX")
cleanup() {
	stop
	if [[ -n ${BENCH_PEERS_KEEP:-} ]]; then echo "bench-peers: logs and JSON lines kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_redis DIR starts a fresh redis-server without persistence and sets
# redis_url and redis_pid.
start_redis() {
	local dir=$1 port i
	port=$("$BIN/chatload" -free-port)
	redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
		--dir "$dir" --logfile "$dir/redis.log" &
	redis_pid=$!
	track "$redis_pid"
	redis_url=redis://127.0.0.1:$port/0
	for ((i = 0; i < 100; i++)); do
		if exec 3<>"/dev/tcp/127.0.0.1/$port"; then
			printf 'PING\r\n' >&3
			local reply=
			read -r -t 1 reply <&3 || true
			exec 3>&-
			[[ $reply == +PONG* ]] && return 0
		fi 2>/dev/null
		sleep 0.1
	done
	echo "bench-peers: redis-server did not start:" >&2
	tail -n 5 "$dir/redis.log" >&2
	return 1
}

# ready waits until every instance answers /healthz and every process of the
# system still runs, at most 60 s.
ready() {
	local port pid i
	for port in "${ports[@]}"; do
		for ((i = 0; i < 600; i++)); do
			curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && continue 2
			for pid in "${sys_pids[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done
			sleep 0.1
		done
		return 1
	done
}

# --- the runs -------------------------------------------------------------------
for s in "${systems[@]}"; do
	[[ -n ${PROTOCOL[$s]:-} ]] || { echo "bench-peers: unknown system $s (known: ${!PROTOCOL[*]})" >&2; exit 2; }
done
for sc in "${scenarios[@]}"; do
	[[ -n ${SCENARIO_FLAGS[$sc]:-} ]] || { echo "bench-peers: unknown scenario $sc (known: ${!SCENARIO_FLAGS[*]})" >&2; exit 2; }
done

# Every connection is a file descriptor in the generator and in the server.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
nofile=$(ulimit -n)

fsync=$(printf '%s\n' "${chat_env[@]}" | sed -n 's/^CHAT_FSYNC=//p')
redis_version=$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')
sio_version=$(node -p 'require(process.argv[1]).version' "$root/hack/peers/socketio/node_modules/socket.io/package.json" 2>/dev/null || echo '?')
note="chatcluster: bin/chatserver in embedded mode, CHAT_RATE_LIMIT=0, CHAT_FSYNC=${fsync:-true} (as make bench: each send stored and fsynced before its ack); \
pair: two instances in one process (hack/bench/pair) on one store and Redis $redis_version. \
centrifugo: Centrifugo ${CENTRIFUGO_VERSION:-?} (memory engine), one process, which stores nothing; pair: two processes on its Redis engine. \
socketio: Socket.IO $sio_version on Node $(node --version), one process, which relays and stores nothing; pair: two processes on its Redis adapter. \
Each run on a freshly started server; chatload ${extra[*]:-with its defaults}; the CPU figures are the servers' (and Redis's in pair)."

results=$tmp/results
mkdir -p "$results"
files=() skipped=() failed=0
echo "bench-peers: ${systems[*]}; scenarios ${scenarios[*]}; $rounds rounds; ulimit -n $nofile; in $tmp"
for sc in "${scenarios[@]}"; do
	conns=${SCENARIO_CONNS[$sc]:-0}
	if ((conns + 1024 > nofile)); then
		why="$sc: needs ulimit -n ≥ $((conns + 1024)) in the generator and the server, and the limit here is $nofile"
		echo "bench-peers: skipped $why"
		skipped+=(-skipped "$why")
		continue
	fi
	files+=("$results/$sc.jsonl")
	n=${SCENARIO_INSTANCES[$sc]:-1}
	for ((r = 1; r <= rounds; r++)); do
		# Round r starts with the system r-1 places along: with two
		# systems, each goes first every other round.
		k=${#systems[@]}
		for ((j = 0; j < k; j++)); do
			sys=${systems[(j + r - 1) % k]}
			dir=$tmp/$sc-r$r-$sys
			mkdir -p "$dir"
			ports=() sys_pids=() redis_url= redis_pid=
			for ((i = 0; i < n; i++)); do ports+=("$("$BIN/chatload" -free-port)"); done
			if ((n > 1)) && ! start_redis "$dir"; then
				stop
				failed=1
				continue
			fi
			"start_$sys" "$dir" "$n" "$redis_url"
			if ! ready; then
				echo "bench-peers: $sc round $r: $sys did not start; its logs end:" >&2
				tail -n 5 "$dir"/*.log >&2 || true
				stop
				failed=1
				continue
			fi
			pids=("${sys_pids[@]}" ${redis_pid:+"$redis_pid"})
			servers=${ports[*]/#/http://127.0.0.1:}
			pidlist=${pids[*]}
			rc=0
			# shellcheck disable=SC2086 # the scenario's flags are words
			"$BIN/chatload" -protocol "${PROTOCOL[$sys]}" -label "$sys" -json "$results/$sc.jsonl" \
				-servers "${servers// /,}" -pids "${pidlist// /,}" \
				-note "$sys, $n instance(s)${redis_pid:+ on Redis}" \
				${SCENARIO_FLAGS[$sc]} "${extra[@]}" >"$dir/chatload.out" 2>&1 || rc=$?
			died=()
			for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || died+=("$pid"); done
			stop
			echo "bench-peers: $sc round $r/$rounds $sys: chatload exited $rc, load average $(cut -d' ' -f1-3 /proc/loadavg)"
			if ((${#died[@]})); then
				echo "bench-peers: $sc round $r: process ${died[*]} of $sys exited during the run: its CPU time is lost to the figures" >&2
				((rc)) || rc=1
			fi
			if ((rc != 0)); then
				# chatload exits 1 when it counted errors and wrote the
				# figures: a peer's are its own result, which the table
				# lists; the chat server's, and anything else, fail.
				if [[ $rc == 1 && $sys != "${systems[0]}" && ${#died[@]} == 0 ]]; then
					echo "bench-peers: $sc round $r: $sys counted errors (gaps, losses or refusals): its own result, listed under the table" >&2
				else
					failed=1
				fi
				echo "--- chatload:" >&2
				tail -n 15 "$dir/chatload.out" >&2
				for f in "$dir"/*.log; do echo "--- $(basename "$f"):" >&2; tail -n 5 "$f" >&2 || true; done
			fi
		done
	done
done

((${#files[@]})) || { echo "bench-peers: no scenario ran" >&2; exit 2; }
for f in "${files[@]}"; do touch "$f"; done
echo
rc=0
"$BIN/benchratios" -ours "${systems[0]}" -rounds "$rounds" -note "$note" "${skipped[@]}" "${files[@]}" | tee "$results/ratios.md" || rc=$?
exit $((rc > failed ? rc : failed))
