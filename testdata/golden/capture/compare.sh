#!/bin/bash
# compare.sh: diff two capture directories (e.g. testdata/golden and a fresh
# capture.sh OUTDIR) after masking what changes on every run.
#
# Usage: testdata/golden/capture/compare.sh [-c] GOLDEN NEW
#   -c  also mask every number in md-mx-ctrl/ (the pool's counters, ages,
#       PIDs and timings) and squeeze the spaces that align them, leaving the
#       words and the shape of each output
#
# Masked everywhere: dates, swaks Message-Ids and MIME boundaries (they hold
# the swaks PID), Postfix queue IDs, MIMEDefang working-directory IDs, client
# ports, socat timestamps, worker PIDs and start times, and the paths that
# name the capture's temporary directory (run/, the active filter, the
# worker wrapper); the worker's PID in spool/*/Work/msg-PID-N file names.
# Prints a unified diff of what is left, and exits 1 if anything is.
set -euo pipefail

numbers=no
if [[ ${1:-} == -c ]]; then
    numbers=yes
    shift
fi
[[ $# -eq 2 && -d $1 && -d $2 ]] || {
    echo "usage: $0 [-c] GOLDEN NEW" >&2
    exit 2
}

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

# The masks, as sed -E expressions, applied to every file.
masks=(
    # RFC 5322 dates (Date:, Received:), with or without a padded day.
    -e 's/[A-Z][a-z]{2}, +[0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}( \([A-Z]+\))?/DATE/g'
    # worker.starts.txt: PID and start time.
    -e 's/^[0-9]+ [0-9]+ args: /PID TIME args: /'
    # swaks: Message-Id <YYYYmmddHHMMSS.PID@host>, boundary ..._000_PID.
    -e 's/<[0-9]{14}\.[0-9]{6}@/<MSGID@/g'
    -e 's/_MIME_BOUNDARY_000_[0-9]+/_MIME_BOUNDARY_000_PID/g'
    # Postfix queue IDs, alone or after the COMMANDS letter Q.
    -e 's/^Q[0-9A-F]{10,12}$/QQUEUEID/'
    -e 's/(^|[^0-9A-Za-z])[0-9A-F]{10,12}([^0-9A-Za-z]|$)/\1QUEUEID\2/g'
    # MIMEDefang's per-message ID: the directory name and COMMANDS's i line.
    -e 's/mdefang-[0-9A-Za-z]+/mdefang-ID/g'
    -e 's/^i[0-9A-Za-z]{7}$/iID/'
    # The client's source port.
    -e 's/^=client_port [0-9]+$/=client_port PORT/'
    -e 's/^(relayok [^ ]+ [^ ]+) [0-9]+ /\1 PORT /'
    -e 's/^(helook [^ ]+ [^ ]+ [^ ]+) [0-9]+ /\1 PORT /'
    # socat -v chunk headers: the timestamp.
    -e 's#^([<>]) [0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:.]+ #\1 TIME #'
    # Paths of the capture's own files.
    -e 's#[^ ]*/(mimedefang\.sock|mimedefang\.pid|mimedefang-multiplexor\.pid)#RUN/\1#g'
    -e 's#[^ ]*/active\.filter#FILTER#g'
    -e 's#[^ ]*/worker-tee\.sh#WORKER_TEE#g'
)

# copy SRC DST: the capture's layout, files renamed and masked.
copy() {
    local src=$1 dst=$2 f rel
    mkdir -p "$dst"
    (cd "$src" && find evidence spool transcripts md-mx-ctrl filters -type f 2>/dev/null) |
        while IFS= read -r rel; do
            f=$dst/$(sed -E 's/msg-[0-9]+-/msg-PID-/' <<<"$rel")
            mkdir -p "$(dirname "$f")"
            sed -E "${masks[@]}" "$src/$rel" >"$f"
            if [[ $numbers == yes && $rel == md-mx-ctrl/* ]]; then
                sed -E -i -e 's/-?[0-9]+(\.[0-9]+)?/N/g' -e 's/ +/ /g' "$f"
            fi
        done
}
copy "$1" "$tmp/a"
copy "$2" "$tmp/b"
cd "$tmp"
diff -ru a b
