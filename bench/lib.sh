# bench/lib.sh: the /proc accounting and small helpers the benchmark scripts
# share. Sourced by bench/run.sh, bench/milterd.sh and bench/e2e.sh.

die() { echo "bench: $*" >&2; exit 1; }

# field NAME LINE: the value of NAME=value in a driver's result line.
field() { sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"; }

# hwm_kib PID: the process's peak RSS (VmHWM) in KiB, 0 when it is gone.
hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null || echo 0; }

# cpu_ticks PID: "own children": user+system clock ticks of a process (all
# its threads), and of its children: the live ones plus those it has reaped
# (cutime, cstime), so that a worker retired during a run still counts.
cpu_ticks() {
  local p=$1 children=0 f stat rest
  stat=$(<"/proc/$p/stat")
  rest=${stat##*) }
  set -- $rest
  local own=$((${12} + ${13}))
  children=$((${14} + ${15}))
  for f in /proc/[0-9]*/stat; do
    { stat=$(<"$f"); } 2>/dev/null || continue
    rest=${stat##*) }
    set -- $rest
    [ "$2" = "$p" ] && children=$((children + ${12} + ${13}))
  done
  echo "$own $children"
}

# children PID: the PIDs of its live children.
children() {
  local parent=$1 f stat rest
  for f in /proc/[0-9]*/stat; do
    { stat=$(<"$f"); } 2>/dev/null || continue
    rest=${stat##*) }
    set -- $rest
    [ "$2" = "$parent" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
  done
  return 0
}

# machine_busy: "busy total" CPU ticks of the whole machine so far.
machine_busy() {
  local cpu user nice sys idle iowait rest
  read -r cpu user nice sys idle iowait rest </proc/stat
  set -- $rest
  local busy=$((user + nice + sys + ${1:-0} + ${2:-0} + ${3:-0}))
  echo "$busy $((busy + idle + iowait))"
}
