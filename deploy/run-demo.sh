#!/usr/bin/env bash
# `make run`: the whole Go stack in the foreground, without an MTA and
# without root: md-multiplexor with a pool of md-worker running the shipped
# filter deploy/filters/suggested-minimum.lua, and md-milterd in front of it.
# Everything lives under RUN_DIR (make run: ./var, or /var/tmp/md-run-<id>
# as root in a checkout the user defang cannot reach: deploy/run-dir.sh):
#   RUN_DIR/bin/          copies of the four binaries
#   RUN_DIR/filter.lua    copy of the shipped filter, quarantine set to RUN_DIR/quarantine
#   RUN_DIR/spool/        spool of both daemons, with the multiplexor's socket
#   RUN_DIR/quarantine/   quarantined mail
#   RUN_DIR/sock/milter.sock  the milter socket, for an MTA or `make demo`
# Both daemons log to the terminal. Ctrl-C (or SIGTERM) stops md-milterd
# first, which finishes the messages it has in hand, then md-multiplexor.
#
# Usage: deploy/run-demo.sh BIN_DIR RUN_DIR
# Environment: MX_METRICS (default 127.0.0.1:9130) and MILTER_METRICS
# (default 127.0.0.1:9131), the metrics addresses of md-multiplexor and
# md-milterd.
set -euo pipefail
bin=${1:?usage: run-demo.sh BIN_DIR RUN_DIR}
run=${2:?usage: run-demo.sh BIN_DIR RUN_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mx_metrics=${MX_METRICS:-127.0.0.1:9130}
milter_metrics=${MILTER_METRICS:-127.0.0.1:9131}

die() { echo "make run: $*" >&2; exit 1; }

for b in md-multiplexor md-mx-ctrl md-milterd md-worker; do
  [ -x "$bin/$b" ] || die "$bin/$b is missing: run make build"
done

# As root both daemons need a user to run as: defang, as for MIMEDefang.
# Without root they run as whoever started them.
user_opt=()
user=$(id -un)
if [ "$(id -u)" = 0 ]; then
  user=defang
  id "$user" >/dev/null 2>&1 ||
    die "as root, make run needs the user 'defang' to run the daemons as (create it with: adduser --system --group defang), or run make run as an ordinary user"
  user_opt=(-U "$user")
fi

mkdir -p "$run"
run=$(cd "$run" && pwd)
echo "make run: running under $run"
spool=$run/spool
quarantine=$run/quarantine
sockdir=$run/sock
milter_sock=$sockdir/milter.sock
mx_sock=$spool/mimedefang-multiplexor.sock

# Refuse to start twice on the same directory.
for p in md-multiplexor md-milterd; do
  if [ -s "$run/$p.pid" ]; then
    pid=$(cat "$run/$p.pid")
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null || true)" = "$run/bin/$p" ]; then
      die "$p is already running from $run (pid $pid); stop that one first"
    fi
    rm -f "$run/$p.pid"
  fi
done

chmod 755 "$run"
mkdir -p "$run/bin"
chmod 755 "$run/bin"
for b in md-multiplexor md-mx-ctrl md-milterd md-worker; do
  install -m 755 "$bin/$b" "$run/bin/$b"
done
# Virus scanning and spam scoring: the shipped filter does them once clamd
# and spamd are configured. make run uses the ones that answer: clamd on
# MD_RUN_CLAMD (a socket path or host:port; default Debian's
# /run/clamav/clamd.ctl) and spamd on MD_RUN_SPAMD (host:port or a socket
# path; default 127.0.0.1:783). md-worker itself asks each (md-worker test
# with a probe filter), and make run says what it found. The probe waits up
# to 30 s, the daemons' own defaults: a spamd that has just started on a
# busy machine takes seconds over its first message.
clamd_at=${MD_RUN_CLAMD:-/run/clamav/clamd.ctl}
spamd_at=${MD_RUN_SPAMD:-127.0.0.1:783}
lua_quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"; }
case $spamd_at in
  /*) spamc_init="md_spamc_init($(lua_quote "$spamd_at"))" ;;
  *) spamc_init="md_spamc_init($(lua_quote "${spamd_at%:*}"), ${spamd_at##*:})" ;;
esac
probe=$(mktemp -d)
printf 'From: probe@localhost\nSubject: make run probe\n\nprobe\n' >"$probe/probe.eml"
{
  printf 'ClamdSock = %s\nClamdReadTimeout = 30\nSpamdTimeout = 30\n%s\n' "$(lua_quote "$clamd_at")" "$spamc_init"
  printf 'function filter_begin(e)\n  message_contains_virus_clamd()\n  spam_assassin_check()\nend\n'
} >"$probe/probe.lua"
answers=$("$bin/md-worker" test "$probe/probe.eml" --filter "$probe/probe.lua" 2>/dev/null || true)
rm -rf "$probe"
use_clamd=0 use_spamd=0
grep -q '^call: *clamd (message): ok ' <<<"$answers" && use_clamd=1
grep '^call: *spamd (message): ' <<<"$answers" | grep -qv 'no verdict' && use_spamd=1
if [ $use_clamd = 1 ]; then
  echo "make run: virus scanning with clamd at $clamd_at"
else
  echo "make run: no clamd answers at $clamd_at: virus scanning off (MD_RUN_CLAMD=socket or host:port to use another)"
fi
if [ $use_spamd = 1 ]; then
  echo "make run: spam scoring with spamd at $spamd_at"
else
  echo "make run: no spamd answers at $spamd_at: spam scoring off (MD_RUN_SPAMD=host:port or socket to use another)"
fi

# The filter only learns the quarantine directory from the filter file
# itself ($Features{'Path:QUARANTINEDIR'}), so the copy sets it.
{
  cat "$here/filters/suggested-minimum.lua"
  printf '\n-- Added by make run: quarantined mail goes under %s\n' "$run"
  printf 'Features["Path:QUARANTINEDIR"] = "%s"\n' "$quarantine"
  if [ $use_clamd = 1 ]; then
    printf -- '-- Added by make run: clamd answered at %s\n' "$clamd_at"
    printf 'Features["Virus:CLAMD"] = true\nClamdSock = %s\n' "$(lua_quote "$clamd_at")"
  fi
  if [ $use_spamd = 1 ]; then
    printf -- '-- Added by make run: spamd answered at %s\n' "$spamd_at"
    printf 'Features["SpamAssassin"] = true\n%s\n' "$spamc_init"
  fi
} >"$run/filter.lua.new"
chmod 644 "$run/filter.lua.new"
mv "$run/filter.lua.new" "$run/filter.lua"
mkdir -p "$spool" "$quarantine" "$sockdir"
if [ "$(id -u)" = 0 ]; then
  chown "$user:" "$spool" "$quarantine" "$sockdir"
fi
chmod 700 "$spool"
chmod 750 "$quarantine"
chmod 755 "$sockdir"
rm -f "$milter_sock"

if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then
  runuser -u "$user" -- test -x "$run/bin/md-worker" -a -r "$run/filter.lua" -a -w "$spool" ||
    die "the user $user cannot reach $run (is every parent directory searchable by others?); choose another directory with make run RUNDIR=/tmp/md-run"
fi

"$run/bin/md-worker" check "$run/filter.lua" >/dev/null ||
  die "the filter $run/filter.lua does not load (see above)"

mx_pid= milter_pid=
stopping=0
trap 'stopping=1' INT TERM

# setsid: Ctrl-C in the terminal reaches only this script, which turns it
# into SIGTERM (SIGINT means "reread the filter" to a multiplexor).
setsid "$run/bin/md-multiplexor" -D "${user_opt[@]}" -z "$spool" -s "$mx_sock" \
  -m 2 -x 4 -l -f "$run/bin/md-worker" -F "$run/filter.lua" \
  --metrics-listen "$mx_metrics" &
mx_pid=$!
echo "$mx_pid" >"$run/md-multiplexor.pid"

for _ in $(seq 100); do
  [ -S "$mx_sock" ] && break
  kill -0 "$mx_pid" 2>/dev/null || break
  [ "$stopping" = 1 ] && break
  sleep 0.1
done

if [ -S "$mx_sock" ] && [ "$stopping" = 0 ]; then
  setsid "$run/bin/md-milterd" -D "${user_opt[@]}" -p "unix:$milter_sock" \
    -m "$mx_sock" -z "$spool" --metrics-listen "$milter_metrics" &
  milter_pid=$!
  echo "$milter_pid" >"$run/md-milterd.pid"
  for _ in $(seq 250); do
    [ -S "$milter_sock" ] && break
    kill -0 "$milter_pid" 2>/dev/null || break
    [ "$stopping" = 1 ] && break
    sleep 0.1
  done
fi

if [ -S "$milter_sock" ] && [ "$stopping" = 0 ]; then
  cat <<MSG

md-milterd and md-multiplexor are running as $user in the foreground (Ctrl-C stops both).
  milter socket for an MTA: unix:$milter_sock
      Postfix main.cf:   smtpd_milters = unix:$milter_sock
      Sendmail .mc:      INPUT_MAIL_FILTER(\`mimedefang', \`S=unix:$milter_sock, F=T, T=S:5m;R:5m;E:10m')
  multiplexor socket: $mx_sock
  quarantine:         $quarantine
  metrics:            http://$mx_metrics/metrics (md-multiplexor, also /status)
                      http://$milter_metrics/metrics (md-milterd)
  next, in another terminal:
      make demo                                     # three sample messages through the milter
      $run/bin/md-mx-ctrl -s $mx_sock status
      $run/bin/md-mx-ctrl -s $mx_sock workers
      $run/bin/md-worker test MESSAGE.eml --filter $run/filter.lua

MSG
  # Until Ctrl-C or one of the two stops on its own.
  while [ "$stopping" = 0 ] && kill -0 "$mx_pid" 2>/dev/null && kill -0 "$milter_pid" 2>/dev/null; do
    wait -n "$mx_pid" "$milter_pid" 2>/dev/null || true
  done
fi

# stop waits for one daemon to exit after SIGTERM and prints its status.
status=0
stop() {
  local name=$1 pid=$2 rc=0
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while :; do
    wait "$pid" 2>/dev/null && rc=0 || rc=$?
    # A wait cut short by another Ctrl-C: the daemon is still running.
    if [ "$rc" -gt 128 ] && kill -0 "$pid" 2>/dev/null; then continue; fi
    break
  done
  rm -f "$run/$name.pid"
  # 127: already reaped by wait -n; 143: died of the SIGTERM itself.
  if [ "$rc" != 0 ] && [ "$rc" != 127 ] && [ "$rc" != 143 ]; then
    echo "make run: $name exited with status $rc" >&2
    status=1
  fi
}
if [ "$stopping" = 0 ]; then
  echo "make run: a daemon stopped on its own (see its log above); stopping the other" >&2
  status=1
else
  echo "make run: stopping md-milterd, then md-multiplexor" >&2
fi
# The milter first: it finishes the messages it has in hand, which need
# the multiplexor; then the multiplexor and its workers.
stop md-milterd "$milter_pid"
stop md-multiplexor "$mx_pid"
rm -f "$milter_sock"
[ "$status" = 0 ] && echo "make run: stopped" >&2
exit "$status"
