#!/usr/bin/env bash
# What make bench-hotroom needs: Debian's PostgreSQL 15, whose initdb,
# pg_ctl and createdb the MongoDB stand-in (test/backends/cmd/standins
# -ferretdb-postgresql) uses to run a server of its own under FerretDB. The
# packaged service is not used. The tests keep FerretDB on SQLite and need
# none of it.
# Idempotent: installs only what is missing; needs root (or sudo without a
# password) when it installs.
set -euo pipefail
bin=${POSTGRES_BIN:-/usr/lib/postgresql/15/bin}
if [[ ! -x $bin/pg_ctl || ! -x $bin/initdb || ! -x $bin/createdb ]]; then
	sudo=()
	if ((EUID != 0)); then
		if ! sudo -n true 2>/dev/null; then
			echo "setup-postgres: $bin/pg_ctl is missing; as root run: apt-get install -y postgresql" >&2
			exit 1
		fi
		sudo=(sudo -n)
	fi
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
echo "setup-postgres: $("$bin/pg_ctl" --version)"
