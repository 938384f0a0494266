#!/usr/bin/env bash
# `make vulncheck`: govulncheck over every module, offline. The Go
# vulnerability database is not fetched from vuln.go.dev but built from a
# pinned snapshot of its source repository, the module golang.org/x/vulndb,
# which the Go module proxy serves like any module: its data/osv/*.json are
# the OSV entries, and its own command indexdb writes them out in the v1
# layout `govulncheck -db file://DIR` reads (index/db.json,
# index/modules.json, index/vulns.json, ID/<id>.json). The database and
# govulncheck are built once per version into VULNDB_CACHE (default
# $(go env GOCACHE)/md-vulndb), so later runs only scan.
#
# Usage: .ci/vulncheck.sh MODULE...   (run from the repository root)
# Environment: GO, GOVULNCHECK_VERSION, VULNDB_VERSION (pinned in the
# Makefile), VULNDB_CACHE.
#
# Fails when any module's code calls a vulnerable function (govulncheck's
# default, symbol-level mode); vulnerable packages or modules it does not
# call are only mentioned in govulncheck's summary.
set -euo pipefail
GO=${GO:-go}
: "${GOVULNCHECK_VERSION:?}" "${VULNDB_VERSION:?}"
[ $# -gt 0 ] || { echo "usage: $0 MODULE..." >&2; exit 2; }
cache=${VULNDB_CACHE:-$($GO env GOCACHE)/md-vulndb}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)   # absolute, for the file:// URL
db=$cache/vulndb-$VULNDB_VERSION
bin=$cache/govulncheck-$GOVULNCHECK_VERSION

if [ ! -f "$db/index/db.json" ]; then
  echo "vulncheck: building the database from golang.org/x/vulndb@$VULNDB_VERSION into $db"
  tmp=$(mktemp -d "$cache/tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # Outside any module (the snapshot is a query, not a dependency of ours).
  src=$(cd "$tmp" && GOWORK=off $GO mod download golang.org/x/vulndb@"$VULNDB_VERSION" &&
    GOWORK=off $GO list -m -f '{{.Dir}} {{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' \
      golang.org/x/vulndb@"$VULNDB_VERSION")
  dir=${src% *} time=${src##* }
  (cd "$tmp" && GOWORK=off $GO run golang.org/x/vulndb/cmd/indexdb@"$VULNDB_VERSION" \
    -vulns "$dir/data/osv" -out "$tmp/db")
  # The repository's entries carry no dates (vuln.go.dev takes them from
  # git history), so indexdb writes 0001-01-01 as the database's
  # modification time; the snapshot's commit time is the true one.
  printf '{"modified":"%s"}' "$time" >"$tmp/db/index/db.json"
  gzip -n -c "$tmp/db/index/db.json" >"$tmp/db/index/db.json.gz"
  # Published whole or not at all; a concurrent run may have won.
  mv -T "$tmp/db" "$db" 2>/dev/null || [ -f "$db/index/db.json" ]
fi

if [ ! -x "$bin/govulncheck" ]; then
  echo "vulncheck: installing golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION into $bin"
  (cd "$cache" && GOWORK=off GOBIN="$bin" $GO install golang.org/x/vuln/cmd/govulncheck@"$GOVULNCHECK_VERSION")
fi

failed=""
for m in "$@"; do
  echo "== govulncheck $m (database golang.org/x/vulndb@$VULNDB_VERSION)"
  (cd "$m" && "$bin/govulncheck" -db "file://$db" ./...) || failed="$failed $m"
done
if [ -n "$failed" ]; then
  echo "vulncheck: govulncheck reports vulnerabilities our code calls (or failed) in:$failed"
  exit 1
fi
