#!/usr/bin/env bash
# bench/e2e.sh: end to end through Postfix. In one run on one machine it
# sends the same messages through one private Postfix instance with three
# SMTP listeners: no milter; the original MIMEDefang (mimedefang ->
# mimedefang-multiplexor -> mimedefang.pl, Perl filter); and ours
# (md-milterd -> md-multiplexor -> md-worker, Lua filter), for a pass-through
# and a typical policy, interleaved in rounds, and reports msg/s, p50/p99
# latency, CPU per message and peak RSS of each process role.
# See bench/README.md ("End to end through Postfix").
# Usage: bash bench/e2e.sh   (as root)
#
# Environment (all optional):
#   BENCH_DURATION     measured time per run, a Go duration     (default 5s)
#   BENCH_WARMUP       unmeasured time before each run           (default 1s)
#   BENCH_CONCURRENCY  SMTP client concurrency levels            (default "1 8 32")
#   BENCH_SIZES        message sizes in bytes                    (default "5000 200000")
#   BENCH_POLICIES     policies: passthrough typical             (default both)
#   BENCH_ROUNDS       rounds; the table shows medians           (default 3)
#   BENCH_WORKERS      workers of each pool (-m and -x)          (default 4)
#   BENCH_REJECT_EVERY every Nth message carries the reject marker (default 20)
#   BENCH_POSTFIX_DIR  where the Postfix instance lives          (default /var/tmp)
#   BENCH_SPOOL_DIR    where both MIMEDefang spools live         (default /dev/shm, tmpfs)
#   BENCH_USER         -U user of the MIMEDefang daemons         (default defang)
#   BENCH_SOCKET       milter sockets: unix or inet (127.0.0.1)  (default unix)
#   BENCH_PORT         first of 5 TCP ports on 127.0.0.1         (default 17880)
#   BENCH_PERF         a directory: perf record -a -g every measured run into it (default unset)
#   BENCH_RESULTS      where the Markdown report is also written (default bench/results/e2e-latest.md)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

root=$(cd "$(dirname "$0")/.." && pwd)
duration=${BENCH_DURATION:-5s}
warmup=${BENCH_WARMUP:-1s}
levels=${BENCH_CONCURRENCY:-"1 8 32"}
sizes=${BENCH_SIZES:-"5000 200000"}
policies=${BENCH_POLICIES:-"passthrough typical"}
rounds=${BENCH_ROUNDS:-3}
nworkers=${BENCH_WORKERS:-4}
reject_every=${BENCH_REJECT_EVERY:-20}
pfbase=${BENCH_POSTFIX_DIR:-/var/tmp}
spoolbase=${BENCH_SPOOL_DIR:-/dev/shm}
run_user=${BENCH_USER:-defang}
port0=${BENCH_PORT:-17880}
socktype=${BENCH_SOCKET:-unix}
results=${BENCH_RESULTS:-$root/bench/results/e2e-latest.md}
orig_milter=/usr/bin/mimedefang
orig_mux=/usr/bin/mimedefang-multiplexor
orig_worker=/usr/bin/mimedefang.pl
mdctrl=/usr/bin/md-mx-ctrl
# The same pool for both: a fixed number of workers, a request queue deep
# enough for 32 SMTP sessions, workers not recycled during the run.
pool_flags=(-m "$nworkers" -x "$nworkers" -r 1000000 -b 60 -i 600 -w 1 -q 64 -Q 30)
stacks="postfix original ours"


[ "$(id -u)" = 0 ] || die "run as root (Postfix instance, -U $run_user)"
for f in "$orig_milter" "$orig_mux" "$orig_worker" "$mdctrl"; do
  [ -x "$f" ] || die "$f is missing: apt-get install -y mimedefang"
done
for f in /usr/sbin/postfix /usr/sbin/postconf; do
  [ -x "$f" ] || die "$f is missing: install postfix (apt-get install -y postfix; see integration/README.md)"
done
id "$run_user" >/dev/null 2>&1 || die "user $run_user does not exist (apt-get install -y mimedefang creates defang)"
id postfix >/dev/null 2>&1 || die "user postfix does not exist"
command -v go >/dev/null || die "go is not on PATH"
if [ -n "${BENCH_PERF:-}" ]; then
  command -v perf >/dev/null || die "BENCH_PERF needs perf (apt-get install -y linux-perf)"
  mkdir -p "$BENCH_PERF"
fi

tmp=$(mktemp -d "$pfbase/md-e2e.XXXXXX")
spool=$(mktemp -d "$spoolbase/md-e2e-spool.XXXXXX")
chmod 0755 "$tmp" "$spool"
declare -A pid=()
pfconf=$tmp/postfix/etc
cleanup() {
  local name
  for name in "${!pid[@]}"; do stop_proc "$name"; done
  if [ -f "$pfconf/main.cf" ]; then /usr/sbin/postfix -c "$pfconf" stop >/dev/null 2>&1 || true; sleep 1; fi
  rm -rf "$tmp" "$spool"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench: building (make build) and e2eload" >&2
(cd "$root" && make -s build && go build -o "$tmp/bin/e2eload" ./integration/internal/bench/e2eload) >&2
mkdir -p "$tmp/bin" "$tmp/filters"
cp "$root/bin/md-milterd" "$root/bin/md-multiplexor" "$root/bin/md-worker" "$tmp/bin/"
chmod 0755 "$tmp/bin" "$tmp/bin"/* "$tmp/filters"
cp "$root/integration/testdata/test.filter" "$tmp/filters/passthrough.pl"
cp "$root/integration/testdata/typical.filter" "$tmp/filters/typical.pl"
cp "$root/bench/filters/passthrough.lua" "$root/bench/filters/typical.lua" "$tmp/filters/"
chmod 0644 "$tmp/filters"/*
declare -A marker=([passthrough]=MDTEST-REJECT [typical]=MDLAB-REJECT)

# Ports: SMTP listeners for each stack, then the two milters.
declare -A smtp_port=([postfix]=$port0 [original]=$((port0 + 1)) [ours]=$((port0 + 2)))
declare -A milter_port=([original]=$((port0 + 3)) [ours]=$((port0 + 4)))
# The milter socket of each stack: with unix, in a directory of the stack
# owned by the run user and group postfix, setgid, so that the socket (made
# group-writable by the milters' -G) is reachable by smtpd and nobody else.
declare -A milter_spec=() postfix_milter=()
case $socktype in
  unix)
    for s in original ours; do
      mkdir -p "$spool/sock-$s"
      chown "$run_user:postfix" "$spool/sock-$s"
      chmod 2750 "$spool/sock-$s"
      milter_spec[$s]=unix:$spool/sock-$s/milter.sock
      postfix_milter[$s]=unix:$spool/sock-$s/milter.sock
    done
    milter_extra=(-G)
    ;;
  inet)
    for s in original ours; do
      milter_spec[$s]=inet:${milter_port[$s]}@127.0.0.1
      postfix_milter[$s]=inet:127.0.0.1:${milter_port[$s]}
    done
    milter_extra=()
    ;;
  *) die "BENCH_SOCKET must be unix or inet" ;;
esac
# poke STACK: connect to its milter socket once; true if it listens.
poke() {
  if [ "$socktype" = inet ]; then
    (exec 3<>"/dev/tcp/127.0.0.1/${milter_port[$1]}") 2>/dev/null
  else
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "${milter_spec[$1]#unix:}" 2>/dev/null
  fi
}

# --- Postfix: integration/internal/harness/postfix.go's private instance
# (own config, queue and data directories, unchrooted, loopback only), with
# every message delivered to the discard: transport, and one smtpd listener
# per stack that differ only in smtpd_milters.
start_postfix() {
  local r=$tmp/postfix
  mkdir -p "$pfconf" "$r/queue" "$r/data"
  chown postfix:postfix "$r/data"
  chmod 0700 "$r/data"
  cat >"$pfconf/main.cf" <<CF
# Private instance written by bench/e2e.sh.
compatibility_level = 3.6
queue_directory = $r/queue
data_directory = $r/data
maillog_file = $r/maillog
maillog_file_prefixes = $r
myhostname = mx.bench.example
mydomain = bench.example
myorigin = bench.example
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP \$mail_name
biff = no
alias_maps =
alias_database =
relay_domains = bench.example
local_transport = discard:local
default_transport = error:outbound mail is disabled in the bench instance
relay_transport = discard:bench
milter_default_action = tempfail
CF
  {
    echo "# Private instance written by bench/e2e.sh."
    echo "127.0.0.1:${smtp_port[postfix]} inet n - n - - smtpd"
    echo "127.0.0.1:${smtp_port[original]} inet n - n - - smtpd"
    echo "  -o smtpd_milters=${postfix_milter[original]}"
    echo "127.0.0.1:${smtp_port[ours]} inet n - n - - smtpd"
    echo "  -o smtpd_milters=${postfix_milter[ours]}"
    grep -v "^#" "$root/integration/internal/harness/master-services.cf"
  } >"$pfconf/master.cf"
  touch -d '-1 minute' "$pfconf/main.cf" "$pfconf/master.cf"
  local w
  w=$( { /usr/sbin/postconf -c "$pfconf" -n >/dev/null; /usr/sbin/postconf -c "$pfconf" -M >/dev/null; } 2>&1)
  [ -z "$w" ] || die "postconf: $w"
  /usr/sbin/postfix -c "$pfconf" start >&2 || { cat "$r/maillog" >&2; die "postfix did not start"; }
  local i
  for ((i = 0; i < 100; i++)); do
    [ -s "$r/queue/pid/master.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/${smtp_port[postfix]}") 2>/dev/null && break
    sleep 0.1
  done
  pf_master=$(tr -d ' ' <"$r/queue/pid/master.pid")
  [ -n "$pf_master" ] || die "no Postfix master pid"
}

# --- the two MIMEDefangs, each with its own spool on tmpfs.
stop_proc() {
  local name=$1 p=${pid[$1]:-} i
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || true
  case $name in
    *-milter)
      for ((i = 0; i < 50; i++)); do
        kill -0 "$p" 2>/dev/null || break
        # libmilter looks at its stop flag when accept() returns
        poke "${name%-milter}" || true
        sleep 0.1
      done
      ;;
  esac
  wait "$p" 2>/dev/null || true
  unset "pid[$name]"
}

start_stack() { # STACK POLICY
  local s=$1 policy=$2 sp=$spool/$1 mux prog worker filter i st
  rm -rf "$sp"
  mkdir -p "$sp"
  chown "$run_user" "$sp"
  chmod 0700 "$sp"
  if [ "$s" = original ]; then
    mux=$orig_mux prog=$orig_milter worker=$orig_worker filter=$tmp/filters/$policy.pl
  else
    mux=$tmp/bin/md-multiplexor prog=$tmp/bin/md-milterd worker=$tmp/bin/md-worker filter=$tmp/filters/$policy.lua
  fi
  "$mux" -D -U "$run_user" -z "$sp" -s "$sp/mx.sock" -f "$worker" -F "$filter" "${pool_flags[@]}" >"$tmp/$s-mux.log" 2>&1 &
  pid[$s-mux]=$!
  local want
  want=$(printf 'I%.0s' $(seq "$nworkers"))
  for ((i = 0; i < 300; i++)); do
    kill -0 "${pid[$s-mux]}" 2>/dev/null || { cat "$tmp/$s-mux.log" >&2; die "$s multiplexor exited"; }
    if [ -S "$sp/mx.sock" ]; then
      st=$("$mdctrl" -s "$sp/mx.sock" rawstatus 2>/dev/null || true)
      [ "${st%% *}" = "$want" ] && break
    fi
    sleep 0.1
  done
  [ "${st%% *}" = "$want" ] || { cat "$tmp/$s-mux.log" >&2; die "$s pool did not come up (status ${st:-none})"; }
  [ "$socktype" = unix ] && rm -f "${milter_spec[$s]#unix:}"
  "$prog" -D -U "$run_user" "${milter_extra[@]}" -m "$sp/mx.sock" -p "${milter_spec[$s]}" -z "$sp" -q >"$tmp/$s-milter.log" 2>&1 &
  pid[$s-milter]=$!
  for ((i = 0; i < 100; i++)); do
    kill -0 "${pid[$s-milter]}" 2>/dev/null || { cat "$tmp/$s-milter.log" >&2; die "$s milter exited"; }
    poke "$s" && return 0
    sleep 0.1
  done
  die "$s milter did not listen"
}

# hwm_sum PID...: the sum of their VmHWM, in KiB.
hwm_sum() {
  local s=0 p h
  for p in "$@"; do h=$(hwm_kib "$p"); s=$((s + ${h:-0})); done
  echo "$s"
}
ticks_of() { # STACK: "milter_own mux_own workers" ticks, or zeros
  if [ "$1" = postfix ]; then echo "0 0 0"; return; fi
  local m x
  m=$(cpu_ticks "${pid[$1-milter]}")
  x=$(cpu_ticks "${pid[$1-mux]}")
  echo "${m% *} $x"
}

# measure POLICY STACK SIZE C ROUND: warm-up, one measured run, a row of
# $tmp/raw.
measure() {
  local policy=$1 s=$2 size=$3 c=$4 r=$5 line rc=0 pf0 pf1 t0 t1 b0 b1
  local args=(-addr "127.0.0.1:${smtp_port[$s]}" -c "$c" -size "$size" -reject-every "$reject_every" -marker "${marker[$policy]}")
  "$tmp/bin/e2eload" "${args[@]}" -d "$warmup" >/dev/null 2>&1 || true
  pf0=$(cpu_ticks "$pf_master")
  t0=$(ticks_of "$s")
  b0=$(machine_busy)
  local perfpid=
  if [ -n "${BENCH_PERF:-}" ]; then
    perf record -a -g -o "$BENCH_PERF/$policy-$s-$size-c$c-r$r.data" >/dev/null 2>&1 &
    perfpid=$!
  fi
  "$tmp/bin/e2eload" "${args[@]}" -d "$duration" -v >"$tmp/load.out" 2>"$tmp/load.err" || rc=$?
  if [ -n "$perfpid" ]; then
    kill -INT "$perfpid" 2>/dev/null || true
    wait "$perfpid" 2>/dev/null || true
  fi
  pf1=$(cpu_ticks "$pf_master")
  t1=$(ticks_of "$s")
  b1=$(machine_busy)
  line=$(<"$tmp/load.out")
  [ -n "$line" ] || { cat "$tmp/load.err" >&2; die "e2eload against $s failed (exit $rc)"; }
  [ "$rc" = 0 ] || echo "bench: $policy $s size=$size c=$c: $(head -c 1500 "$tmp/load.err")" >&2
  # Peak RSS by role: the milter, the multiplexor, the sum of the workers'
  # VmHWM, the sum over Postfix's processes (master and its children).
  local mh=0 xh=0 wh=0 ph
  ph=$(hwm_sum "$pf_master" $(children "$pf_master"))
  if [ "$s" != postfix ]; then
    mh=$(hwm_kib "${pid[$s-milter]}")
    xh=$(hwm_kib "${pid[$s-mux]}")
    wh=$(hwm_sum $(children "${pid[$s-mux]}"))
  fi
  set -- $pf0 $pf1 $t0 $t1 $b0 $b1
  # pf own+children, milter, mux own, workers (mux children)
  local pft=$(($3 + $4 - $1 - $2)) mt=$(($8 - $5)) xt=$(($9 - $6)) wt=$((${10} - $7))
  local busy
  busy=$(awk "BEGIN{print (${13} - ${11}) / (${14} - ${12} + 1e-9)}")
  # policy stack size c round mps p50 p99 n ok rejected tempfail errors pf_ticks milter_ticks mux_ticks worker_ticks busy milter_hwm mux_hwm workers_hwm pf_hwm
  echo "$policy $s $size $c $r $(field mps "$line") $(field p50_ms "$line") $(field p99_ms "$line") $(field n "$line") $(field ok "$line") $(field rejected "$line") $(field tempfail "$line") $(field errors "$line") $pft $mt $xt $wt $busy $mh $xh $wh $ph" >>"$tmp/raw"
  echo "bench: $policy $s size=$size c=$c round $r: $line cpu_ticks pf=$pft milter=$mt mux=$xt workers=$wt busy=$busy" >&2
}

start_postfix
: >"$tmp/raw"
t_start=$(date +%s)
for policy in $policies; do
  start_stack original "$policy"
  start_stack ours "$policy"
  # Rounds outermost; inside a round the three stacks take turns on each
  # cell, the one going first rotating from cell to cell.
  k=0
  for ((r = 1; r <= rounds; r++)); do
    for size in $sizes; do
      for c in $levels; do
        set -- $stacks
        case $((k % 3)) in 0) order=("$1" "$2" "$3") ;; 1) order=("$2" "$3" "$1") ;; 2) order=("$3" "$1" "$2") ;; esac
        k=$((k + 1))
        for s in "${order[@]}"; do measure "$policy" "$s" "$size" "$c" "$r"; done
      done
    done
  done
  for n in original-milter ours-milter original-mux ours-mux; do stop_proc "$n"; done
done
elapsed=$(($(date +%s) - t_start))
mkdir -p "$(dirname "$results")"
cp "$tmp/raw" "${results%.md}.raw"

clk=$(getconf CLK_TCK)
read -r -d '' report_awk <<'AWK' || true
function median(key, n, i, j, t, a) {
  n = cnt[key]
  if (n == 0) return 0
  for (i = 1; i <= n; i++) a[i] = vals[key, i]
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function add(k, what, v) { vals[k, what, ++cnt[k, what]] = v }
function med(k, what) { return median(k SUBSEP what) }
function mib(k) { return k / 1024 }
{
  # policy stack size c round mps p50 p99 n ok rejected tempfail errors pf milter mux workers busy milter_hwm mux_hwm workers_hwm pf_hwm
  k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
  done = $10 + $11
  add(k, "mps", $6); add(k, "p50", $7); add(k, "p99", $8)
  if (done > 0) {
    add(k, "pf", $14 * 1000 / clk / done); add(k, "mi", $15 * 1000 / clk / done)
    add(k, "mx", $16 * 1000 / clk / done); add(k, "wk", $17 * 1000 / clk / done)
    add(k, "tot", ($14 + $15 + $16 + $17) * 1000 / clk / done)
  }
  add(k, "busy", $18 * 100)
  rej[k] += $11; tf[k] += $12; er[k] += $13
  r = $1 SUBSEP $2
  if ($19 > mh[r]) mh[r] = $19
  if ($20 > xh[r]) xh[r] = $20
  if ($21 > wh[r]) wh[r] = $21
  if ($22 > ph[r]) ph[r] = $22
}
END {
  np = split(policies, PP, " "); ns = split(sizes, S, " "); nl = split(levels, L, " ")
  split("postfix original ours", ST, " ")
  name["postfix"] = "Postfix alone"; name["original"] = "MIMEDefang 3.3"; name["ours"] = "md-milterd"
  for (q = 1; q <= np; q++) {
    p = PP[q]
    print "### Policy: " p
    print ""
    print "| size | sessions | stack | msg/s | of Postfix alone | p50 ms | p99 ms | CPU ms/msg Postfix | milter | multiplexor | workers | total | machine busy % | rejected / tempfail / errors |"
    print "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for (a = 1; a <= ns; a++) for (b = 1; b <= nl; b++) for (t = 1; t <= 3; t++) {
      s = ST[t]; k = p SUBSEP s SUBSEP S[a] SUBSEP L[b]; k0 = p SUBSEP "postfix" SUBSEP S[a] SUBSEP L[b]
      base = med(k0, "mps")
      if (s == "postfix")
        printf "| %s | %s | %s | %.1f | %s | %.2f | %.2f | %.2f | – | – | – | %.2f | %.0f | %d / %d / %d |\n", S[a], L[b], name[s], med(k, "mps"), "1.00", med(k, "p50"), med(k, "p99"), med(k, "pf"), med(k, "tot"), med(k, "busy"), rej[k], tf[k], er[k]
      else
        printf "| %s | %s | %s | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %d / %d / %d |\n", S[a], L[b], name[s], med(k, "mps"), (base > 0 ? med(k, "mps") / base : 0), med(k, "p50"), med(k, "p99"), med(k, "pf"), med(k, "mi"), med(k, "mx"), med(k, "wk"), med(k, "tot"), med(k, "busy"), rej[k], tf[k], er[k]
    }
    print ""
    print "Against the targets (" p "): md-milterd msg/s as a share of Postfix alone (target at 5 KB, 8 sessions, typical policy: ≥ 0.80), as a multiple of MIMEDefang 3.3's (target ≥ 4), and its p99 as a share of MIMEDefang 3.3's (target ≤ 0.33)."
    print ""
    print "| size | sessions | ours / Postfix alone | ours / original msg/s | ours / original p99 |"
    print "|---:|---:|---:|---:|---:|"
    for (a = 1; a <= ns; a++) for (b = 1; b <= nl; b++) {
      kp = p SUBSEP "postfix" SUBSEP S[a] SUBSEP L[b]; ko = p SUBSEP "original" SUBSEP S[a] SUBSEP L[b]; km = p SUBSEP "ours" SUBSEP S[a] SUBSEP L[b]
      r1 = med(kp, "mps") > 0 ? med(km, "mps") / med(kp, "mps") : 0
      r2 = med(ko, "mps") > 0 ? med(km, "mps") / med(ko, "mps") : 0
      r3 = med(ko, "p99") > 0 ? med(km, "p99") / med(ko, "p99") : 0
      m1 = (S[a] == 5000 && L[b] == 8) ? (r1 >= 0.8 ? " (met)" : " (missed)") : ""
      printf "| %s | %s | %.2f%s | %.2f (%s) | %.2f (%s) |\n", S[a], L[b], r1, m1, r2, (r2 >= 4 ? "met" : "missed"), r3, (r3 <= 1 / 3 ? "met" : "missed")
    }
    print ""
    print "Peak RSS by role (" p "; the largest VmHWM seen after any run of the policy, MiB; workers and Postfix: the sum over their processes):"
    print ""
    print "| stack | Postfix processes | milter | multiplexor | total worker RSS | workers / original's |"
    print "|---|---:|---:|---:|---:|---:|"
    for (t = 1; t <= 3; t++) {
      s = ST[t]; r = p SUBSEP s; ro = p SUBSEP "original"
      if (s == "postfix") printf "| %s | %.1f | – | – | – | – |\n", name[s], mib(ph[r])
      else printf "| %s | %.1f | %.1f | %.1f | %.1f | %.2f |\n", name[s], mib(ph[r]), mib(mh[r]), mib(xh[r]), mib(wh[r]), (wh[ro] > 0 ? wh[r] / wh[ro] : 0)
    }
    print ""
  }
}
AWK
table=$(awk -v levels="$levels" -v sizes="$sizes" -v policies="$policies" -v clk="$clk" "$report_awk" "$tmp/raw")
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
report=$(
  cat <<REP
# End to end through Postfix: no milter, MIMEDefang 3.3, md-milterd

$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($cpu_model), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); Linux $(uname -r); Postfix $(/usr/sbin/postconf -d -h mail_version); mimedefang $(dpkg-query -W -f '${Version}' mimedefang 2>/dev/null); ours $(cd "$root" && git describe --always --dirty 2>/dev/null || echo "(no git)")
Postfix: one private instance, three smtpd listeners (none / original / ours) differing only in smtpd_milters ($socktype sockets), delivery to discard:, queue in $pfbase
pools: ${pool_flags[*]} for both; milters -D -U $run_user ${milter_extra[*]} -m MXSOCK -p ${socktype}:... -z SPOOL -q; spools in $spoolbase
client: e2eload, one SMTP connection per message, latency connect to the reply after the final dot; multipart message (text part + attachment, every 2nd named .exe), every ${reject_every}th with the policy's reject marker in the Subject
$duration measured after $warmup warm-up per run; $rounds round(s) (medians shown); stacks interleaved per cell, the first rotating; run time ${elapsed}s

$table
REP
)
printf '%s\n' "$report" >"$results"
printf '%s\n' "$report"
echo "bench: written to $results" >&2
