#!/usr/bin/env bash
# bench/worker.sh: per-message scan time and RSS of md-worker against the
# original mimedefang.pl, the same policy over the same corpus, in one run.
# See bench/README.md. Usage: bash bench/worker.sh
#
# Environment (all optional):
#   BENCH_ROUNDS     measured rounds; each scans every message once per worker (default 20)
#   BENCH_SPOOLS     directories the working directories are made under, one
#                    run per directory (its file system matters)  (default "/dev/shm /var/tmp")
#   BENCH_POLICIES   which policies to run          (default "conformance suggested-minimum")
#   BENCH_ORIGINAL   the original worker             (default /usr/bin/mimedefang.pl)
#   BENCH_PERL_SUGGESTED  the Perl suggested-minimum filter
#                    (default /usr/share/doc/mimedefang/examples/suggested-minimum-filter-for-windows-clients)
#   BENCH_SKIP       corpus messages left out, comma-separated
#                    (default c32-non-latin1-exe-name.eml: mimedefang.pl dies on it)
#   BENCH_RESULTS    where the Markdown report is written (default bench/results/worker-latest.md)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${BENCH_ROUNDS:-20}
spools=${BENCH_SPOOLS:-"/dev/shm /var/tmp"}
policies=${BENCH_POLICIES:-"conformance suggested-minimum"}
original=${BENCH_ORIGINAL:-/usr/bin/mimedefang.pl}
perl_suggested=${BENCH_PERL_SUGGESTED:-/usr/share/doc/mimedefang/examples/suggested-minimum-filter-for-windows-clients}
skip=${BENCH_SKIP:-c32-non-latin1-exe-name.eml}
results=${BENCH_RESULTS:-$root/bench/results/worker-latest.md}

die() { echo "bench: $*" >&2; exit 1; }

[ -x "$original" ] || die "the original worker $original is missing: apt-get install -y mimedefang (or set BENCH_ORIGINAL)"
command -v go >/dev/null || die "go is not on PATH"
perl -MMIME::Parser -MArchive::Zip -MHTML::Parser -MNet::DNS -MIO::Socket::SSL -MDigest::SHA -e1 2>/dev/null ||
  die "Perl modules for mimedefang.pl are missing: apt-get install -y libnet-dns-perl libio-socket-ssl-perl libmime-tools-perl libarchive-zip-perl libhtml-parser-perl"

tmp=$(mktemp -d /tmp/md-bench-worker.XXXXXX)
scratch=()
cleanup() {
  local d
  for d in "${scratch[@]}"; do rm -rf "$d"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench: building md-worker and workerload" >&2
(cd "$root" && CGO_ENABLED=0 go build -o "$tmp/md-worker" ./worker/cmd/md-worker &&
  go build -o "$tmp/workerload" ./worker/internal/bench/workerload) >&2

corpus=(-corpus "$root/worker/testdata/corpus/*.eml" -corpus "$root/integration/conformance/testdata/extra/*.eml")
notes=()
: >"$tmp/raw"
tables=""
for policy in $policies; do
  case $policy in
  conformance)
    perl_filter=$root/integration/conformance/testdata/conformance.filter
    md_filter=$root/integration/conformance/testdata/conformance.lua
    ;;
  suggested-minimum)
    perl_filter=$perl_suggested
    md_filter=$root/deploy/filters/suggested-minimum.lua
    if [ ! -r "$perl_filter" ]; then
      notes+=("suggested-minimum: skipped, $perl_filter is missing (the Debian mimedefang package's examples)")
      continue
    fi
    ;;
  *) die "unknown policy $policy (conformance, suggested-minimum)" ;;
  esac
  for spool in $spools; do
    [ -d "$spool" ] || die "BENCH_SPOOLS: $spool is not a directory"
    dir=$(mktemp -d "$spool/md-bench-worker.XXXXXX")
    scratch+=("$dir")
    fs=$(df --output=fstype "$spool" | tail -n 1)
    echo "bench: $policy, working directories on $spool ($fs), $rounds rounds" >&2
    table=$("$tmp/workerload" -dir "$dir" -rounds "$rounds" -skip "$skip" -policy "$policy, working directories on $spool ($fs)" \
      -raw "$tmp/raw.one" "${corpus[@]}" \
      -worker "mimedefang.pl=$original,$perl_filter" \
      -worker "md-worker=$tmp/md-worker,$md_filter")
    cat "$tmp/raw.one" >>"$tmp/raw"
    tables+=$'\n'"$table"$'\n'
    printf '%s\n\n' "$table" >&2
    rm -rf "$dir"
  done
done

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
report=$(
  cat <<EOF
# md-worker vs mimedefang.pl: worker benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($cpu_model), $mem; Linux $(uname -r); running as $(id -un)
original: $original ($(dpkg-query -W -f '${Package} ${Version}' mimedefang 2>/dev/null || echo "version unknown")), Perl $(perl -e 'print $^V');
md-worker: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo "(no git)"), $(go version | cut -d' ' -f3)
One process per worker in server mode (PROGRAM -f FILTER -server) for each table; requests \`scan QID DIR\` on its stdin, one at a time;
the time is the round trip, request written to \`ok\` read. Corpus: worker/testdata/corpus and integration/conformance/testdata/extra, less $skip.
Each scan has a fresh working directory (INPUTMSG, HEADERS, COMMANDS, written before the round). Rounds alternate which worker goes first.
msg/s: scans / sum of round trips. CPU ms/msg: the worker's utime + stime over the measured rounds / scans.
Peak RSS: VmHWM at the end; RSS after: VmRSS at the end; anonymous: RssAnon at the end (what each further worker of a pool costs; file pages are shared).
$(for n in "${notes[@]}"; do echo "Note: $n"; done)
$tables
EOF
)
mkdir -p "$(dirname "$results")"
printf '%s\n' "$report" >"$results"
cp "$tmp/raw" "${results%.md}.raw"
printf '%s\n' "$report"
echo "bench: written to $results" >&2
