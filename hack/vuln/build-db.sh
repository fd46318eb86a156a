#!/usr/bin/env bash
# build-db.sh VERSION DIR: writes to DIR the Go vulnerability database of the
# module golang.org/x/vulndb at VERSION, in the layout govulncheck's
# -db file://DIR reads (index/db.json, index/modules.json, ID/GO-*.json). The
# module proxy serves that module with its OSV entries (data/osv); vulndb's
# own cmd/indexdb indexes them. Other databases built here are removed.
set -euo pipefail
version=$1 out=$2
go=${GO:-go}

"$go" mod download golang.org/x/vulndb@"$version"
osv="$("$go" env GOMODCACHE)/golang.org/x/vulndb@$version/data/osv"
[ -d "$osv" ] || { echo "build-db: no data/osv in golang.org/x/vulndb@$version" >&2; exit 1; }

tmp="$out.tmp"
rm -rf "$tmp"
"$go" run golang.org/x/vulndb/cmd/indexdb@"$version" -vulns "$osv" -out "$tmp"
for old in "$(dirname "$out")"/vulndb-*; do
	[ "$old" = "$tmp" ] || rm -rf "$old"
done
mv "$tmp" "$out"
echo "build-db: $(find "$out/ID" -name 'GO-*.json' | wc -l) entries in $out"
