#!/usr/bin/env bash
# bench/run.sh: dispatch throughput and latency of md-multiplexor against the
# original mimedefang-multiplexor, in one run, with the same trivial worker.
# See bench/README.md. Usage: bash bench/run.sh   (or: make bench)
#
# Environment (all optional):
#   BENCH_DURATION     measured time per run, a Go duration     (default 10s)
#   BENCH_WARMUP       unmeasured time before each run           (default 2s)
#   BENCH_CONCURRENCY  client concurrency levels                 (default "1 8 32")
#   BENCH_ROUNDS       runs per level and multiplexor; the table
#                      shows the median of each figure           (default 1)
#   BENCH_ORIGINAL     the original multiplexor  (default /usr/bin/mimedefang-multiplexor)
#   BENCH_MDCTRL       md-mx-ctrl used to wait for the workers   (default /usr/bin/md-mx-ctrl)
#   BENCH_USER         -U user when run as root                  (default defang)
#   BENCH_RESULTS      where the Markdown table is also written  (default bench/results/latest.md)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-2s}
levels=${BENCH_CONCURRENCY:-"1 8 32"}
rounds=${BENCH_ROUNDS:-1}
original=${BENCH_ORIGINAL:-/usr/bin/mimedefang-multiplexor}
mdctrl=${BENCH_MDCTRL:-/usr/bin/md-mx-ctrl}
results=${BENCH_RESULTS:-$root/bench/results/latest.md}
# The pool, identical for both multiplexors.
pool_flags=(-m 4 -x 4 -r 100000 -b 60 -q 64 -Q 30)


[ -x "$original" ] || die "the original multiplexor $original is missing: apt-get install -y mimedefang (or set BENCH_ORIGINAL)"
[ -x "$mdctrl" ] || die "$mdctrl is missing: it comes with the mimedefang package (or set BENCH_MDCTRL)"
command -v go >/dev/null || die "go is not on PATH"
user_flags=()
if [ "$(id -u)" = 0 ]; then
  run_user=${BENCH_USER:-defang}
  id "$run_user" >/dev/null 2>&1 || die "as root the multiplexors need an unprivileged user; '$run_user' does not exist (apt-get install -y mimedefang creates 'defang', or set BENCH_USER)"
  user_flags=(-U "$run_user")
else
  run_user=$(id -un)
fi

tmp=$(mktemp -d /tmp/md-bench.XXXXXX)
declare -A pid=()
cleanup() {
  local name
  for name in "${!pid[@]}"; do
    stop_mux "$name"
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench: building" >&2
make -s -C "$root" build >&2
chmod 0755 "$tmp"
(cd "$root" && go build -o "$tmp/trivialworker" ./multiplexor/internal/bench/trivialworker \
  && go build -o "$tmp/mxload" ./multiplexor/internal/bench/mxload) >&2
chmod 0755 "$tmp/trivialworker" "$tmp/mxload"

TIMEFORMAT='%3U %3S' # for measure's time keyword: user and system seconds
declare -A prog=([original]=$original [md-multiplexor]=$root/bin/md-multiplexor)

# start_mux NAME: start a multiplexor in the foreground with its own spool.
start_mux() {
  local name=$1 spool=$tmp/spool-$1
  mkdir -p "$spool"
  chown "$run_user" "$spool"
  chmod 0700 "$spool"
  "${prog[$name]}" -D "${user_flags[@]}" -z "$spool" -s "$spool/mx.sock" \
    -f "$tmp/trivialworker" "${pool_flags[@]}" >"$tmp/$name.log" 2>&1 &
  pid[$name]=$!
}

# stop_mux NAME: SIGTERM by PID, then wait for it (it stops its workers).
stop_mux() {
  local name=$1 p=${pid[$1]:-}
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "pid[$name]"
}

# wait_ready NAME: the socket answers and all four workers are idle (the
# pool starts one worker every 3 s, so this takes about 10 s).
wait_ready() {
  local name=$1 sock=$tmp/spool-$1/mx.sock i st
  for ((i = 0; i < 300; i++)); do
    kill -0 "${pid[$name]}" 2>/dev/null || { cat "$tmp/$name.log" >&2; die "$name exited during start-up"; }
    if [ -S "$sock" ]; then
      st=$("$mdctrl" -s "$sock" rawstatus 2>/dev/null || true)
      [ "${st%% *}" = IIII ] && return 0
    fi
    sleep 0.1
  done
  cat "$tmp/$name.log" >&2
  die "$name: the pool did not come up within 30 s (last status: ${st:-none})"
}



# measure NAME C ROUND: one mxload run; appends a row to $tmp/raw.
measure() {
  local name=$1 c=$2 r=$3 sock=$tmp/spool-$1/mx.sock line before after rc=0
  # Warm-up first, at the same concurrency, unmeasured and uncounted.
  "$tmp/mxload" -socket "$sock" -c "$c" -d "$warmup" >/dev/null 2>&1 || true
  before=$(cpu_ticks "${pid[$name]}")
  # bash's time keyword gives the load generator's own CPU time.
  { time "$tmp/mxload" -socket "$sock" -c "$c" -d "$duration" -v >"$tmp/mxload.out" 2>"$tmp/mxload.err"; } \
    2>"$tmp/mxload.time" || rc=$?
  after=$(cpu_ticks "${pid[$name]}")
  line=$(<"$tmp/mxload.out")
  [ -n "$line" ] || { cat "$tmp/mxload.err" >&2; die "mxload against $name failed (exit $rc)"; }
  [ "$rc" = 0 ] || echo "bench: $name c=$c: $(cat "$tmp/mxload.err")" >&2
  set -- $before $after $(<"$tmp/mxload.time")
  # name c round rps p50 p99 n errors mux_ticks worker_ticks client_seconds
  printf '%s %s %s %s %s %s %s %s %s %s %s\n' "$name" "$c" "$r" \
    "$(field rps "$line")" "$(field p50_ms "$line")" "$(field p99_ms "$line")" \
    "$(field n "$line")" "$(field errors "$line")" "$(($3 - $1))" "$(($4 - $2))" "$(awk "BEGIN{print $5 + $6}")" >>"$tmp/raw"
  echo "bench: $name c=$c round $r: $line" >&2
}

for name in original md-multiplexor; do
  start_mux "$name"
done
for name in original md-multiplexor; do
  wait_ready "$name"
done

: >"$tmp/raw"
# Alternate which one goes first from level to level and round to round, so
# that neither always runs on the warmer (or the noisier) side of the pair.
flip=0
for c in $levels; do
  for ((r = 1; r <= rounds; r++)); do
    if ((flip % 2 == 0)); then order=(original md-multiplexor); else order=(md-multiplexor original); fi
    flip=$((flip + 1))
    for name in "${order[@]}"; do
      measure "$name" "$c" "$r"
    done
  done
done

for name in original md-multiplexor; do
  stop_mux "$name"
done

# Medians per (multiplexor, level), then the tables.
hz=$(getconf CLK_TCK)
table=$(awk -v levels="$levels" -v hz="$hz" '
function median(key, n, i, j, t, a) {
  n = cnt[key]
  for (i = 1; i <= n; i++) a[i] = vals[key, i]
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(m, c, what, v, key) { key = m SUBSEP c SUBSEP what; vals[key, ++cnt[key]] = v }
{
  add($1, $2, "rps", $4); add($1, $2, "p50", $5); add($1, $2, "p99", $6)
  okreq[$1, $2] += $7 - $8; errs[$1, $2] += $8; muxt[$1, $2] += $9 / hz; wkt[$1, $2] += $10 / hz; clt[$1, $2] += $11
}
END {
  o = "original"; m = "md-multiplexor"; nl = split(levels, L, " ")
  print "| concurrency | original rps | md-multiplexor rps | ratio | original p99 ms | md-multiplexor p99 ms |"
  print "|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nl; i++) {
    c = L[i]; ro = median(o SUBSEP c SUBSEP "rps"); rm = median(m SUBSEP c SUBSEP "rps")
    printf "| %s | %.0f | %.0f | %.2f | %.3f | %.3f |\n", c, ro, rm, (ro > 0 ? rm / ro : 0), median(o SUBSEP c SUBSEP "p99"), median(m SUBSEP c SUBSEP "p99")
  }
  print ""
  print "CPU time per successful request, in µs: the multiplexor (all its threads), its four workers, and the load generator."
  print ""
  print "| concurrency | original p50 ms | md-multiplexor p50 ms | original CPU µs/req (mux + workers + client) | md-multiplexor CPU µs/req (mux + workers + client) | errors (original / md-multiplexor) |"
  print "|---:|---:|---:|---:|---:|---:|"
  for (i = 1; i <= nl; i++) {
    c = L[i]
    printf "| %s | %.3f | %.3f | %s | %s | %d / %d |\n", c, median(o SUBSEP c SUBSEP "p50"), median(m SUBSEP c SUBSEP "p50"), cpu(o, c), cpu(m, c), errs[o, c], errs[m, c]
  }
}
function cpu(name, c, n) {
  n = okreq[name, c]
  if (n <= 0) return "-"
  return sprintf("%.0f + %.0f + %.0f", muxt[name, c] * 1e6 / n, wkt[name, c] * 1e6 / n, clt[name, c] * 1e6 / n)
}' "$tmp/raw")

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
report=$(
  cat <<EOF
# md-multiplexor vs mimedefang-multiplexor: dispatch benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($cpu_model); Linux $(uname -r)
original: $original; md-multiplexor: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo "(no git)")
pool: ${pool_flags[*]}, worker = trivialworker; relayok over a new UNIX connection per request;
$duration measured after $warmup warm-up per run, $rounds round(s) per cell (median shown), levels: $levels

$table
EOF
)
mkdir -p "$(dirname "$results")"
printf '%s\n' "$report" >"$results"
printf '%s\n' "$report"
echo "bench: written to $results" >&2
