#!/bin/bash
# worker-tee.sh: a stand-in for mimedefang.pl that records the
# multiplexor <-> worker conversation.
#
# capture.sh copies this file into its temporary directory as
# WORK/bin/worker-tee.sh and starts mimedefang-multiplexor with
# "-f WORK/bin/worker-tee.sh". The multiplexor then runs it (as the -U user)
# exactly as it would run mimedefang.pl, e.g. "worker-tee.sh -f FILTER -server".
# It
#   - appends "PID EPOCH args: ARGS" to WORK/tee/worker.starts.txt,
#   - becomes the real mimedefang.pl (exec, same PID, same arguments), with
#     its stdin copied to WORK/tee/mx-to-worker.txt and its stdout copied to
#     WORK/tee/worker-to-mx.txt by two tee(1) processes.
# Because of the exec, the multiplexor's signals reach mimedefang.pl itself;
# the tees end on end-of-file when the multiplexor closes the pipes.
#
# capture.sh cuts these files into one piece per SMTP case.
set -euo pipefail

worker=/usr/bin/mimedefang.pl
logdir="$(dirname -- "$0")/../tee"

printf '%s %s args: %s\n' "$$" "$(date +%s)" "$*" >>"$logdir/worker.starts.txt"

exec "$worker" "$@" \
    < <(exec tee -a "$logdir/mx-to-worker.txt") \
    > >(exec tee -a "$logdir/worker-to-mx.txt")
