#!/usr/bin/env bash
# `make run`: start md-multiplexor in the foreground with a pool of the
# original mimedefang.pl workers running deploy/filters/demo.filter.
# Usage: deploy/run-demo.sh BIN_DIR RUN_DIR
set -euo pipefail
bin=${1:?bin dir}; run=${2:?run dir}
here=$(cd "$(dirname "$0")" && pwd)
worker=/usr/bin/mimedefang.pl
if [ ! -x "$worker" ]; then
  echo "make run needs the worker program $worker: apt-get install -y mimedefang libnet-dns-perl libio-socket-ssl-perl libmime-tools-perl" >&2
  exit 1
fi
user=$(id -un)
if [ "$(id -u)" = 0 ]; then
  user=defang
  id "$user" >/dev/null 2>&1 || { echo "make run as root needs the user 'defang' (apt-get install -y mimedefang creates it)" >&2; exit 1; }
fi
mkdir -p "$run"
chmod 755 "$run"
install -m 755 "$bin/md-multiplexor" "$bin/md-mx-ctrl" "$run/"
install -m 644 "$here/filters/demo.filter" "$run/demo.filter"
mkdir -p "$run/spool"
chown "$user" "$run/spool"
chmod 700 "$run/spool"
metrics=${METRICS:-127.0.0.1:9130}
cat <<MSG
md-multiplexor is starting in the foreground (Ctrl-C to stop).
  control socket: $run/spool/mimedefang-multiplexor.sock
  try:            $run/md-mx-ctrl -s $run/spool/mimedefang-multiplexor.sock status
                  $run/md-mx-ctrl -s $run/spool/mimedefang-multiplexor.sock workers
  metrics:        http://$metrics/metrics   status: http://$metrics/status
  point the original milter at it:
                  mimedefang -D -U $user -p $run/milter.sock -m $run/spool/mimedefang-multiplexor.sock -z $run/spool
MSG
# SIGINT means "reread" to a multiplexor, so Ctrl-C is turned into SIGTERM here.
"$run/md-multiplexor" -D -U "$user" -z "$run/spool" -m 2 -x 4 -l \
  -f "$worker" -F "$run/demo.filter" --metrics-listen "$metrics" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' INT TERM
wait $pid || true
wait $pid 2>/dev/null || true
