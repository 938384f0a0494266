#!/usr/bin/env bash
# bench/milterd.sh: messages per second, latency and peak RSS of md-milterd
# against the original mimedefang milter, in one run, with the same
# multiplexor (the original mimedefang-multiplexor) and the same Perl worker
# (mimedefang.pl with a pass-through filter), interleaved in rounds, with the
# CPU time each milter spends per message. See bench/README.md.
# Usage: bash bench/milterd.sh
#
# Environment (all optional):
#   BENCH_DURATION     measured time per run, a Go duration     (default 5s)
#   BENCH_WARMUP       unmeasured time before each run           (default 1s)
#   BENCH_CONCURRENCY  client concurrency levels                 (default "1 8 32")
#   BENCH_SIZES        message sizes in bytes                    (default "5000 200000")
#   BENCH_ROUNDS       rounds; each runs every cell once per milter,
#                      the table shows medians over rounds      (default 5)
#   BENCH_SOCKET       milter socket: inet or unix               (default inet)
#   BENCH_ORIGINAL     the original milter          (default /usr/bin/mimedefang)
#   BENCH_MULTIPLEXOR  the multiplexor, shared      (default /usr/bin/mimedefang-multiplexor)
#   BENCH_WORKER       the worker                   (default /usr/bin/mimedefang.pl)
#   BENCH_MDCTRL       md-mx-ctrl used to wait for the workers (default /usr/bin/md-mx-ctrl)
#   BENCH_USER         -U user when run as root     (default defang)
#   BENCH_PORT         TCP port the milters listen on (default 17890)
#   BENCH_RESULTS      where the Markdown table is also written (default bench/results/milterd-latest.md)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
duration=${BENCH_DURATION:-5s}
warmup=${BENCH_WARMUP:-1s}
levels=${BENCH_CONCURRENCY:-"1 8 32"}
sizes=${BENCH_SIZES:-"5000 200000"}
rounds=${BENCH_ROUNDS:-5}
socktype=${BENCH_SOCKET:-inet}
original=${BENCH_ORIGINAL:-/usr/bin/mimedefang}
multiplexor=${BENCH_MULTIPLEXOR:-/usr/bin/mimedefang-multiplexor}
worker=${BENCH_WORKER:-/usr/bin/mimedefang.pl}
mdctrl=${BENCH_MDCTRL:-/usr/bin/md-mx-ctrl}
port=${BENCH_PORT:-17890}
results=${BENCH_RESULTS:-$root/bench/results/milterd-latest.md}
# The pool, the same as bench/run.sh's: four workers, a request queue deep
# enough for 32 clients.
pool_flags=(-m 4 -x 4 -r 100000 -b 60 -q 64 -Q 30)


for f in "$original" "$multiplexor" "$worker" "$mdctrl"; do
  [ -x "$f" ] || die "$f is missing: apt-get install -y mimedefang (or set the BENCH_ variable)"
done
command -v go >/dev/null || die "go is not on PATH"
case $socktype in inet | unix) ;; *) die "BENCH_SOCKET must be inet or unix" ;; esac
user_flags=()
if [ "$(id -u)" = 0 ]; then
  run_user=${BENCH_USER:-defang}
  id "$run_user" >/dev/null 2>&1 || die "as root the daemons need an unprivileged user; '$run_user' does not exist (apt-get install -y mimedefang creates 'defang', or set BENCH_USER)"
  user_flags=(-U "$run_user")
else
  run_user=$(id -un)
fi

tmp=$(mktemp -d /tmp/md-milterbench.XXXXXX)
declare -A pid=()
cleanup() {
  local name
  for name in "${!pid[@]}"; do
    stop_proc "$name"
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench: building md-milterd and milterload" >&2
chmod 0755 "$tmp"
(cd "$root" && go build -o "$tmp/md-milterd" ./milterd/cmd/md-milterd && go build -o "$tmp/milterload" ./milterd/internal/bench/milterload) >&2
chmod 0755 "$tmp/md-milterd" "$tmp/milterload"
# The pass-through filter; the milters add their X-Scanned-By header.
printf 'sub filter_begin {}\n1;\n' >"$tmp/filter.pl"
chmod 0644 "$tmp/filter.pl"
spool=$tmp/spool
mkdir -p "$spool"
chown "$run_user" "$spool"
chmod 0700 "$spool"
mxsock=$spool/mx.sock

declare -A prog=([original]=$original [md-milterd]=$tmp/md-milterd)
if [ "$socktype" = inet ]; then
  milter_sock=inet:$port@127.0.0.1
  load_addr=tcp:127.0.0.1:$port
else
  # In a directory of its own that the run user can write and we can reach.
  mkdir -p "$tmp/sock"
  chown "$run_user" "$tmp/sock"
  chmod 0755 "$tmp/sock"
  milter_sock=unix:$tmp/sock/milter.sock
  load_addr=unix:$tmp/sock/milter.sock
fi

# stop_proc NAME: SIGTERM by PID, then wait. libmilter looks at its stop flag
# when select() on the listening socket returns (every 5 s or on a
# connection), so poke the socket to make the original exit at once.
stop_proc() {
  local name=$1 p=${pid[$1]:-} i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  if [ "$name" != multiplexor ]; then
    for ((i = 0; i < 50; i++)); do
      kill -0 "$p" 2>/dev/null || break
      poke
      sleep 0.1
    done
  fi
  wait "$p" 2>/dev/null || true
  unset "pid[$name]"
}

poke() {
  if [ "$socktype" = inet ]; then
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || true
  else
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$tmp/sock/milter.sock" 2>/dev/null || true
  fi
}

start_mux() {
  "$multiplexor" -D "${user_flags[@]}" -z "$spool" -s "$mxsock" \
    -f "$worker" -F "$tmp/filter.pl" "${pool_flags[@]}" >"$tmp/multiplexor.log" 2>&1 &
  pid[multiplexor]=$!
  local i st
  for ((i = 0; i < 300; i++)); do
    kill -0 "${pid[multiplexor]}" 2>/dev/null || { cat "$tmp/multiplexor.log" >&2; die "the multiplexor exited during start-up"; }
    if [ -S "$mxsock" ]; then
      st=$("$mdctrl" -s "$mxsock" rawstatus 2>/dev/null || true)
      [ "${st%% *}" = IIII ] && return 0
    fi
    sleep 0.1
  done
  cat "$tmp/multiplexor.log" >&2
  die "the pool did not come up within 30 s (last status: ${st:-none})"
}

# start_milter NAME: the same flags for both: -D -U -m -p -z -q.
start_milter() {
  local name=$1 i
  rm -f "$tmp/sock/milter.sock" 2>/dev/null || true
  "${prog[$name]}" -D "${user_flags[@]}" -m "$mxsock" -p "$milter_sock" -z "$spool" -q \
    >"$tmp/$name.log" 2>&1 &
  pid[$name]=$!
  for ((i = 0; i < 100; i++)); do
    kill -0 "${pid[$name]}" 2>/dev/null || { cat "$tmp/$name.log" >&2; die "$name exited during start-up"; }
    if [ "$socktype" = inet ]; then
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    else
      [ -S "$tmp/sock/milter.sock" ] && return 0
    fi
    sleep 0.1
  done
  cat "$tmp/$name.log" >&2
  die "$name did not listen within 10 s"
}



# measure NAME SIZE C ROUND: start the milter, warm up, one measured run
# with the CPU ticks of the milter, of the multiplexor and its workers, and
# of the machine around it, the milter's peak RSS, stop it. Appends a row to
# $tmp/raw.
measure() {
  local name=$1 size=$2 c=$3 r=$4 line rc=0 hwm m0 m1 x0 x1 busy0 busy1
  start_milter "$name"
  "$tmp/milterload" -addr "$load_addr" -c "$c" -d "$warmup" -size "$size" >/dev/null 2>&1 || true
  m0=$(cpu_ticks "${pid[$name]}")
  x0=$(cpu_ticks "${pid[multiplexor]}")
  busy0=$(machine_busy)
  "$tmp/milterload" -addr "$load_addr" -c "$c" -d "$duration" -size "$size" -v \
    >"$tmp/load.out" 2>"$tmp/load.err" || rc=$?
  m1=$(cpu_ticks "${pid[$name]}")
  x1=$(cpu_ticks "${pid[multiplexor]}")
  busy1=$(machine_busy)
  hwm=$(hwm_kib "${pid[$name]}")
  stop_proc "$name"
  line=$(<"$tmp/load.out")
  [ -n "$line" ] || { cat "$tmp/load.err" "$tmp/$name.log" >&2; die "milterload against $name failed (exit $rc)"; }
  if [ "$rc" != 0 ]; then
    echo "bench: $name size=$size c=$c: $(head -c 2000 "$tmp/load.err")" >&2
    echo "bench: the last lines of $name's log:" >&2
    tail -n 20 "$tmp/$name.log" >&2
  fi
  set -- $m0 $m1 $x0 $x1 $busy0 $busy1
  local milter_ticks=$(($3 - $1)) mux_ticks=$(($7 + $8 - $5 - $6)) busy=$(awk "BEGIN{print (${11} - $9) / (${12} - ${10} + 1e-9)}")
  # name size c round mps p50 p99 n errors hwm_kib milter_ticks mux+worker_ticks machine_busy_fraction
  printf '%s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$name" "$size" "$c" "$r" \
    "$(field mps "$line")" "$(field p50_ms "$line")" "$(field p99_ms "$line")" \
    "$(field n "$line")" "$(field errors "$line")" "$hwm" "$milter_ticks" "$mux_ticks" "$busy" >>"$tmp/raw"
  echo "bench: $name size=$size c=$c round $r: $line rss_peak_kib=$hwm milter_ticks=$milter_ticks mux_worker_ticks=$mux_ticks machine_busy=$busy" >&2
}


start_mux
: >"$tmp/raw"
# Rounds outermost, so that a slow spell of the machine lands in one round of
# many cells rather than in every round of one cell; inside a round the two
# milters run back to back on each cell (A B, then B A on the next cell, so
# neither always goes first).
flip=0
for ((r = 1; r <= rounds; r++)); do
  for size in $sizes; do
    for c in $levels; do
      if ((flip % 2 == 0)); then order=(original md-milterd); else order=(md-milterd original); fi
      flip=$((flip + 1))
      for name in "${order[@]}"; do
        measure "$name" "$size" "$c" "$r"
      done
    done
  done
done
stop_proc multiplexor
cp "$tmp/raw" "${results%.md}.raw"

clk=$(getconf CLK_TCK)
table=$(awk -v levels="$levels" -v sizes="$sizes" -v clk="$clk" '
function median(key, n, i, j, t, a) {
  n = cnt[key]
  if (n == 0) return 0
  for (i = 1; i <= n; i++) a[i] = vals[key, i]
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(m, s, c, what, v, key) { key = m SUBSEP s SUBSEP c SUBSEP what; vals[key, ++cnt[key]] = v }
function med(m, s, c, what) { return median(m SUBSEP s SUBSEP c SUBSEP what) }
{
  # name size c round mps p50 p99 n errors hwm milter_ticks mux_ticks busy
  ok = $8 - $9
  add($1, $2, $3, "mps", $5); add($1, $2, $3, "p50", $6); add($1, $2, $3, "p99", $7)
  # CPU ms per successful message: the milter; the multiplexor and its workers
  if (ok > 0) { add($1, $2, $3, "cpu", $11 * 1000 / clk / ok); add($1, $2, $3, "mxcpu", $12 * 1000 / clk / ok) }
  add($1, $2, $3, "busy", $13 * 100)
  mps[$1, $2, $3, $4] = $5
  errs[$1, $2, $3] += $9
  if ($10 + 0 > hwm[$1, $2]) hwm[$1, $2] = $10 + 0
  add($1, $2, "all", "hwm", $10)
  if ($4 + 0 > rounds) rounds = $4 + 0
}
END {
  o = "original"; m = "md-milterd"; nl = split(levels, L, " "); ns = split(sizes, S, " ")
  print "| size | sessions | original msg/s | md-milterd msg/s | ratio | ratio per round, min–max | original p99 ms | md-milterd p99 ms | original p50 ms | md-milterd p50 ms | errors (original / md-milterd) |"
  print "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for (k = 1; k <= ns; k++) for (i = 1; i <= nl; i++) {
    s = S[k]; c = L[i]; lo = ""; hi = ""
    for (r = 1; r <= rounds; r++) if ((o, s, c, r) in mps && (m, s, c, r) in mps && mps[o, s, c, r] > 0) {
      q = mps[m, s, c, r] / mps[o, s, c, r]
      if (lo == "" || q < lo) lo = q
      if (hi == "" || q > hi) hi = q
    }
    ro = med(o, s, c, "mps"); rm = med(m, s, c, "mps")
    printf "| %s | %s | %.1f | %.1f | %.2f | %.2f–%.2f | %.2f | %.2f | %.2f | %.2f | %d / %d |\n", s, c, ro, rm, (ro > 0 ? rm / ro : 0), lo, hi,
      med(o, s, c, "p99"), med(m, s, c, "p99"), med(o, s, c, "p50"), med(m, s, c, "p50"), errs[o, s, c], errs[m, s, c]
  }
  print ""
  print "CPU time per successful message (user + system, medians over rounds): the milter process (all its threads); the shared multiplexor and its four Perl workers, in the same runs; and how busy the machine'"'"'s CPUs were."
  print ""
  print "| size | sessions | original milter CPU ms/msg | md-milterd milter CPU ms/msg | md-milterd / original | multiplexor + workers CPU ms/msg (original / md-milterd) | machine busy % (original / md-milterd) |"
  print "|---:|---:|---:|---:|---:|---:|---:|"
  for (k = 1; k <= ns; k++) for (i = 1; i <= nl; i++) {
    s = S[k]; c = L[i]; co = med(o, s, c, "cpu"); cm = med(m, s, c, "cpu")
    printf "| %s | %s | %.3f | %.3f | %.2f | %.2f / %.2f | %.0f / %.0f |\n", s, c, co, cm, (co > 0 ? cm / co : 0),
      med(o, s, c, "mxcpu"), med(m, s, c, "mxcpu"), med(o, s, c, "busy"), med(m, s, c, "busy")
  }
  print ""
  print "Peak RSS of the milter process (VmHWM at the end of each run; every run starts a fresh milter), per message size over all concurrencies and rounds."
  print ""
  print "| size | original median MiB | original max MiB | md-milterd median MiB | md-milterd max MiB |"
  print "|---:|---:|---:|---:|---:|"
  for (k = 1; k <= ns; k++) printf "| %s | %.1f | %.1f | %.1f | %.1f |\n", S[k], med(o, S[k], "all", "hwm") / 1024, hwm[o, S[k]] / 1024, med(m, S[k], "all", "hwm") / 1024, hwm[m, S[k]] / 1024
}' "$tmp/raw")

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
report=$(
  cat <<EOF
# md-milterd vs mimedefang: milter benchmark

$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($cpu_model); Linux $(uname -r)
original: $original; md-milterd: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo "(no git)")
multiplexor: $multiplexor ${pool_flags[*]}; worker: $worker, filter: sub filter_begin {} 1;
milters: -D -m MXSOCK -p $milter_sock -z SPOOL -q; client: milterload (go-milter client, protocol v6, all actions), one session per message
$duration measured after $warmup warm-up per run; $rounds round(s), each running every cell once per milter, back to back, which milter first alternating from cell to cell (medians over rounds shown); sizes: $sizes bytes; sessions: $levels
CPU ms/msg: user+system time of the process(es) during the measured run / successful messages (clock tick $((1000 / clk)) ms); machine busy %: all CPUs, during the measured run (original / md-milterd)

$table
EOF
)
mkdir -p "$(dirname "$results")"
printf '%s\n' "$report" >"$results"
printf '%s\n' "$report"
echo "bench: written to $results" >&2
