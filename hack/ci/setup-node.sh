#!/usr/bin/env bash
# What the web UI's build needs (make run, make test-web): Node.js 20.19 or
# later with npm (web/package.json's engines). It checks and does not
# install: Debian 12's nodejs package is 18, too old for Vite.
set -euo pipefail
min_major=20 min_minor=19

version=$(node --version 2>/dev/null || true)
version=${version#v}
IFS=. read -r major minor _ <<<"${version:-0.0.0}"
if ! command -v npm >/dev/null 2>&1 ||
	((major < min_major || (major == min_major && minor < min_minor))); then
	{
		echo "setup-node: the web UI needs Node.js $min_major.$min_minor or later with npm; found: node ${version:-none}, npm $(npm --version 2>/dev/null || echo none)"
		echo "setup-node: install Node.js $min_major (Debian 12's nodejs package is too old), then make again"
	} >&2
	exit 1
fi
