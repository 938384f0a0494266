#!/bin/bash
# capture.sh: recapture the goldens of testdata/golden from Debian's MIMEDefang.
#
# Usage: testdata/golden/capture/capture.sh OUTDIR
#
# Runs the installed original programs (the mimedefang milter,
# mimedefang-multiplexor, mimedefang.pl and md-mx-ctrl from Debian's
# "mimedefang" package) behind a private Postfix instance on loopback, sends
# the golden SMTP cases with swaks, drives md-mx-ctrl, and writes into OUTDIR
# a directory of the same layout as testdata/golden:
#
#   evidence/     <case>.swaks.txt and <case>.delivered.eml (plain Postfix,
#                 then the milter with the passthrough and the typical filter)
#   spool/        <case>/ kept by "mimedefang -d", and <case>.dirname
#   transcripts/  <case>.milter-mx.socat.txt (socat -v proxy on the
#                 multiplexor socket), <case>.mx-to-worker.txt and
#                 .worker-to-mx.txt (worker-tee.sh), <case>.swaks.txt,
#                 startup-*.milter-mx.socat.txt, worker.starts.txt, *.cmdline
#   md-mx-ctrl/   <name>.txt and index.tsv for every md-mx-ctrl command,
#                 raw/ replies, wire.socat.txt, notify.txt,
#                 busy-load.smtpload.txt, multiplexor.cmdline
#   filters/      the two filters used (copied from testdata/golden/filters)
#   versions.txt  the package versions the capture was taken with
#
# OUTDIR's evidence/, spool/, transcripts/, md-mx-ctrl/ and filters/ are
# replaced as a whole; a README.md is copied there only if OUTDIR has none.
# OUTDIR must be new, empty, or an earlier capture (it has
# md-mx-ctrl/index.tsv). testdata/golden itself is written only when it is
# OUTDIR.
#
# Needs: root, Debian with the packages mimedefang, postfix, swaks, socat
# (and the Perl modules mimedefang.pl loads). Everything else is private to
# the run: a temporary directory from mktemp (TMPDIR, default /tmp, must be
# traversable by the defang, postfix and nobody users), its own Postfix
# instance (config and queue in the temporary directory, free 127.0.0.1
# ports, preferring 2525 and 2526 as in the original lab), its own sockets.
# The run happens in a private mount namespace in which the temporary spool
# directory is bind-mounted on /var/spool/MIMEDefang, so that the
# transcripts name the same paths as the originals while the host's
# /var/spool/MIMEDefang is not touched (without unshare(1) permission the
# spool stays at its temporary path, with a warning). Every process started
# is stopped by its PID on exit, and the temporary directory is removed,
# also on failure or interruption. A run takes about a minute.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
golden_src=$(dirname -- "$here") # testdata/golden: its filters/ and README.md are inputs
readonly here golden_src

log() { printf '%s capture: %s\n' "$(date +%T)" "$*" >&2; }
die() {
    printf 'capture.sh: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
    exit 2
}

###########################################################################
# 0. Checks, then re-enter this script inside a private mount namespace.
###########################################################################

[[ $# -eq 1 && $1 != -* ]] || usage
[[ $EUID -eq 0 ]] || die "must run as root (the originals drop to the defang user themselves)"
[[ -r /etc/debian_version ]] || log "WARNING: not Debian; the package names below are Debian's"

missing=()
# need PROGRAM PACKAGE: PROGRAM must be on PATH, from Debian's PACKAGE.
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$1 (apt-get install $2)"); }
need mimedefang mimedefang
need mimedefang-multiplexor mimedefang
need mimedefang.pl mimedefang
need md-mx-ctrl mimedefang
need postfix postfix
need swaks swaks
need socat socat
need perl perl
need unshare util-linux
need mount mount
need runuser util-linux
need getent libc-bin
need ps procps
# Perl modules mimedefang.pl loads (the package does not depend on all of
# them), and Net::SMTP for smtpload.pl: MODULE=PACKAGE.
for mod in MIME::Tools=libmime-tools-perl Net::DNS=libnet-dns-perl \
    IO::Socket::SSL=libio-socket-ssl-perl Net::SMTP=perl; do
    perl -M"${mod%%=*}" -e 1 2>/dev/null || missing+=("Perl module ${mod%%=*} (apt-get install ${mod#*=})")
done
if ((${#missing[@]})); then
    printf 'capture.sh: missing:\n' >&2
    printf '  %s\n' "${missing[@]}" >&2
    exit 1
fi
# The programs must be the packaged ones at their Debian paths: the
# transcripts and command lines name them.
for p in /usr/bin/mimedefang /usr/bin/mimedefang-multiplexor /usr/bin/mimedefang.pl /usr/bin/md-mx-ctrl; do
    [[ -x $p ]] || die "$p not found (apt-get install mimedefang)"
done

# The user the package created for the milter and the multiplexor (-U).
md_user=defang
if ! getent passwd "$md_user" >/dev/null; then
    md_user=$(stat -c %U /var/spool/MIMEDefang 2>/dev/null || true)
    [[ -n $md_user && $md_user != root && $md_user != UNKNOWN ]] ||
        die "no user defang (the mimedefang package creates it: apt-get install --reinstall mimedefang)"
fi
getent passwd postfix >/dev/null || die "no user postfix (apt-get install postfix)"
getent group postdrop >/dev/null || die "no group postdrop (apt-get install postfix)"
getent passwd nobody >/dev/null || die "no user nobody"

# MD_CAPTURE_NS is set for the second pass (private), or by hand to "none"
# to run without the namespace.
if [[ -z ${MD_CAPTURE_NS:-} ]]; then
    if unshare --mount --propagation private true 2>/dev/null; then
        MD_CAPTURE_NS=private exec unshare --mount --propagation private -- "$BASH" "${BASH_SOURCE[0]}" "$@"
    fi
    log "WARNING: cannot unshare a mount namespace; the spool directory keeps its temporary path, so paths in transcripts differ from the originals"
    MD_CAPTURE_NS=none
fi

###########################################################################
# 1. The temporary directory, and cleanup on exit.
###########################################################################

out=$(realpath -m -- "$1")
[[ $out != / ]] || die "OUTDIR may not be /"
if [[ -d $out ]] && [[ -n $(ls -A -- "$out") ]] && [[ ! -f $out/md-mx-ctrl/index.tsv ]]; then
    die "$out is neither empty nor an earlier capture (no md-mx-ctrl/index.tsv): refusing to write there"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/md-golden.XXXXXX")
readonly work
chmod 0711 "$work"

bg_pids=()  # background processes started by this shell
pidfiles=() # daemons (they write their PID to these files)
frozen=()   # workers stopped with SIGSTOP for the busy snapshot (section 7)
spool_mounted=no
pf_etc=$work/postfix/etc

# alive PID: true while PID is a live (not zombie) process.
alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $st != Z* ]]
}

# stop_pid PID: SIGTERM, then SIGKILL after 5 s.
stop_pid() {
    local pid=$1 i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    log "PID $pid ignored SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# forget_pid PID: drop PID from bg_pids once it has been waited for, so
# that cleanup never signals a later process that reuses the number.
forget_pid() {
    local p keep=()
    for p in "${bg_pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    bg_pids=("${keep[@]}")
}

# stop_pidfile FILE: stop the daemon whose PID FILE holds, remove FILE.
stop_pidfile() {
    local pid
    [[ -s $1 ]] || return 0
    pid=$(tr -dc 0-9 <"$1")
    [[ -n $pid ]] && stop_pid "$pid"
    rm -f "$1"
}

stop_postfix() {
    local pid
    [[ -s $work/postfix/queue/pid/master.pid ]] || return 0
    pid=$(tr -dc 0-9 <"$work/postfix/queue/pid/master.pid")
    postfix -c "$pf_etc" stop >/dev/null 2>&1 || true
    [[ -n $pid ]] && stop_pid "$pid"
    rm -f "$work/postfix/queue/pid/master.pid"
}

cleanup() {
    local rc=$? p
    set +e
    trap - EXIT INT TERM
    if ((rc != 0)); then
        log "failed (status $rc); the last lines of the Postfix log:"
        tail -n 15 "$work/postfix/maillog" >&2 2>/dev/null
    fi
    ((${#frozen[@]})) && kill -CONT "${frozen[@]}" 2>/dev/null
    for p in "${bg_pids[@]}"; do stop_pid "$p"; done
    for p in "${pidfiles[@]}"; do stop_pidfile "$p"; done
    stop_postfix
    wait 2>/dev/null
    [[ $spool_mounted == yes ]] && umount "$SPOOL"
    rm -rf -- "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_until SECONDS WHAT COMMAND...: poll COMMAND every 0.1 s.
wait_until() {
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    die "timed out after ${limit}s waiting for $what"
}

# settle FILE...: wait until the files have stopped growing (0.5 s unchanged).
settle() {
    local before after i
    before=$(stat -c %s -- "$@" 2>/dev/null | tr '\n' ' ')
    for ((i = 0; i < 100; i++)); do
        sleep 0.5
        after=$(stat -c %s -- "$@" 2>/dev/null | tr '\n' ' ')
        [[ $after == "$before" ]] && return 0
        before=$after
    done
}

size() { stat -c %s -- "$1" 2>/dev/null || echo 0; }

# slice FILE FROM TO OUT: bytes [FROM, TO) of FILE into OUT.
slice() { tail -c +"$(($2 + 1))" -- "$1" | head -c "$(($3 - $2))" >"$4"; }

# Layout of the temporary directory (all of it goes on exit):
#   etc/     active.filter (the filter the multiplexor runs), read by defang
#   bin/     worker-tee.sh, smtpload.pl
#   run/     milter socket, PID and lock files (owned by defang)
#   spool/   the MIMEDefang spool, seen as /var/spool/MIMEDefang (defang, 0700)
#   tee/     what worker-tee.sh records (defang)
#   log/     socat logs, the notification stream, load summaries
#   msg/     attachment files for swaks
#   mail/    the Maildir that local(8) delivers to (nobody)
#   postfix/ the private Postfix instance: etc/, queue/, data/, maillog
#   out/     the capture being assembled; copied to OUTDIR at the end
mkdir -p "$work"/{etc,bin,run,spool,tee,log,msg,mail} "$work"/postfix/{etc,queue,data} \
    "$work"/out/{evidence,spool,transcripts,md-mx-ctrl/raw,filters}
chown "$md_user:" "$work/run" "$work/spool" "$work/tee"
chmod 0755 "$work/run" "$work/tee" "$work/etc" "$work/bin"
chmod 0700 "$work/spool"
chown nobody: "$work/mail"
chown postfix: "$work/postfix/data"
install -m 0755 "$here/worker-tee.sh" "$work/bin/worker-tee.sh"
install -m 0755 "$here/smtpload.pl" "$work/bin/smtpload.pl"
cp -- "$golden_src/filters/passthrough.filter" "$golden_src/filters/typical.filter" "$work/out/filters/"
runuser -u "$md_user" -- test -x "$work/bin/worker-tee.sh" ||
    die "$work is not reachable by $md_user: set TMPDIR to a directory every user can traverse"

if [[ $MD_CAPTURE_NS == private ]]; then
    SPOOL=/var/spool/MIMEDefang
    [[ -d $SPOOL ]] || die "$SPOOL missing (apt-get install --reinstall mimedefang)"
    mount --bind "$work/spool" "$SPOOL"
    spool_mounted=yes
else
    SPOOL=$work/spool
fi
readonly SPOOL RUN=$work/run MXSOCK=$SPOOL/mimedefang-multiplexor.sock

log "working in $work (spool $SPOOL, user $md_user)"

###########################################################################
# 2. The private Postfix instance.
###########################################################################

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() {
    perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], ReuseAddr => 1) ? 0 : 1)' "$1"
}
# pick_port PREFERRED [AVOID]: PREFERRED if free, else a free port the kernel picks.
pick_port() {
    if [[ $1 != "${2:-}" ]] && port_free "$1"; then
        echo "$1"
        return
    fi
    perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport, "\n"'
}
plain_port=$(pick_port 2525)        # Postfix alone
milter_port=$(pick_port 2526 "$plain_port") # Postfix with the mimedefang milter
readonly plain_port milter_port MILTER_SOCK=$RUN/mimedefang.sock

sed -e "s|@WORK@|$work|g" "$here/postfix-main.cf" >"$pf_etc/main.cf"
sed -e "s|@PLAIN_PORT@|$plain_port|g" -e "s|@MILTER_PORT@|$milter_port|g" \
    -e "s|@MILTER_SOCKET@|$MILTER_SOCK|g" "$here/postfix-master.cf" >"$pf_etc/master.cf"
postfix -c "$pf_etc" check
postfix -c "$pf_etc" start
wait_until 20 "the Postfix master" test -s "$work/postfix/queue/pid/master.pid"
smtp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_until 20 "Postfix on port $plain_port" smtp_up "$plain_port"
wait_until 20 "Postfix on port $milter_port" smtp_up "$milter_port"
log "Postfix listening on 127.0.0.1:$plain_port (no milter) and :$milter_port (milter)"

###########################################################################
# 3. Starting and stopping the originals.
###########################################################################

mx_cmdline='' milter_cmdline=''

# start_multiplexor ARGS...: mimedefang-multiplexor ARGS, which must
# include "-p RUN/mimedefang-multiplexor.pid" (it becomes a daemon and
# writes its PID there); waits for its socket.
start_multiplexor() {
    local pidfile=$RUN/mimedefang-multiplexor.pid
    rm -f "$MXSOCK"
    mx_cmdline="/usr/bin/mimedefang-multiplexor $*"
    pidfiles+=("$pidfile")
    /usr/bin/mimedefang-multiplexor "$@"
    wait_until 20 "the multiplexor's PID file" test -s "$pidfile"
    wait_until 20 "the multiplexor socket" test -S "$MXSOCK"
}

# start_milter ARGS...: mimedefang -p RUN/mimedefang.sock ARGS, where ARGS
# must include "-P RUN/mimedefang.pid" (it becomes a daemon and writes its
# PID there); waits for its socket and lets Postfix (user postfix) use it.
start_milter() {
    local pidfile=$RUN/mimedefang.pid
    rm -f "$MILTER_SOCK"
    milter_cmdline="/usr/bin/mimedefang -p $MILTER_SOCK $*"
    pidfiles+=("$pidfile")
    /usr/bin/mimedefang -p "$MILTER_SOCK" "$@"
    wait_until 20 "the milter's PID file" test -s "$pidfile"
    wait_until 20 "the milter socket" test -S "$MILTER_SOCK"
    chmod 0666 "$MILTER_SOCK"
}

# start_proxy LISTEN TARGET LOG: a socat -v proxy from the UNIX socket LISTEN
# to TARGET, one child per connection, logging the bytes to LOG.
start_proxy() {
    rm -f "$1"
    socat -v "UNIX-LISTEN:$1,fork,user=$md_user,mode=0600" "UNIX-CONNECT:$2" 2>>"$3" &
    bg_pids+=("$!")
    wait_until 20 "the socat proxy $1" test -S "$1"
}

# stop_stack: the milter, the proxies and the multiplexor (with its workers).
stop_stack() {
    local p keep=()
    stop_pidfile "$RUN/mimedefang.pid"
    for p in "${bg_pids[@]}"; do stop_pid "$p"; done
    bg_pids=()
    stop_pidfile "$RUN/mimedefang-multiplexor.pid"
    wait 2>/dev/null || true
    for p in "${pidfiles[@]}"; do [[ -e $p ]] && keep+=("$p"); done
    pidfiles=("${keep[@]}")
}

###########################################################################
# 4. The messages (the same as the originals', see evidence/ and
#    transcripts/*.swaks.txt).
###########################################################################

# The "invoice.exe" attachments: harmless text behind an MZ header.
printf 'MZ\220\000 this is a harmless fake Windows executable used by the MIMEDefang lab\n' >"$work/msg/lab-invoice.exe"
printf 'MZ\220\000 harmless fake executable for the MIMEDefang lab\n' >"$work/msg/golden-invoice.exe"
printf 'quarterly numbers: 1 2 3\n' >"$work/msg/notes.txt"
attach_lab_exe=(--attach-type application/octet-stream --attach-name invoice.exe --attach "@$work/msg/lab-invoice.exe")
attach_golden_exe=(--attach-type application/octet-stream --attach-name invoice.exe --attach "@$work/msg/golden-invoice.exe")
attach_notes=(--attach-type text/plain --attach-name notes.txt --attach "@$work/msg/notes.txt")

# send OUT PORT HELO CASE SUBJECT BODY [SWAKS-ARGS...]: one swaks session,
# its transcript (stdout and stderr) in OUT. Fails unless the end of DATA
# was answered 250, or 554 for a case whose name has "reject".
send() {
    local out=$1 port=$2 helo=$3 case=$4 subject=$5 body=$6 want=250
    shift 6
    [[ $case == *reject* ]] && want=554
    swaks --server 127.0.0.1 --port "$port" --ehlo "$helo" \
        --from tester@mdlab.localdomain --to mdlab@mdlab.localdomain \
        --header "Subject: $subject" --add-header "X-MDLab-Case: $case" \
        --body "$body" "$@" >"$out" 2>&1 || true
    grep -A1 -x -- ' -> \.' "$out" | grep -q "^<.. $want " ||
        die "case $case: no $want reply at the end of DATA, see: $(tail -n 5 "$out")"
}

# delivered CASE OUT: the message local(8) delivered for CASE into OUT.
delivered() {
    local f=
    found() { f=$(grep -rlxF -- "X-MDLab-Case: $1" "$work/mail/Maildir/new" 2>/dev/null | head -n 1) && [[ -n $f ]]; }
    wait_until 30 "the delivery of $1" found "$1"
    cp -- "$f" "$2"
}

###########################################################################
# 5. evidence/: Postfix alone, then the milter with each filter.
###########################################################################

# The original lab kept no command lines for this phase: the milter runs
# with the default flags of section 6 (-q -G, without -d), the multiplexor
# with up to 2 workers and the real mimedefang.pl, and nothing is tapped.
# The filter is switched from passthrough to typical with a reread.
capture_evidence() {
    local ev=$work/out/evidence helo=lab-client.mdlab.localdomain
    log "evidence: Postfix without a milter"
    send "$ev/nomilter-clean.swaks.txt" "$plain_port" "$helo" nomilter-clean "lab clean (no milter)" "Hello from the lab."
    delivered nomilter-clean "$ev/nomilter-clean.delivered.eml"

    log "evidence: the passthrough filter"
    cp -- "$work/out/filters/passthrough.filter" "$work/etc/active.filter"
    start_multiplexor -m 1 -x 2 -r 500 -l -U "$md_user" -z "$SPOOL" -s "$MXSOCK" -F "$work/etc/active.filter" \
        -p "$RUN/mimedefang-multiplexor.pid"
    start_milter -m "$MXSOCK" -U "$md_user" -z "$SPOOL" -P "$RUN/mimedefang.pid" -q -G
    send "$ev/passthrough-clean.swaks.txt" "$milter_port" "$helo" passthrough-clean "lab clean (passthrough)" "Hello from the lab."
    delivered passthrough-clean "$ev/passthrough-clean.delivered.eml"
    send "$ev/passthrough-exe.swaks.txt" "$milter_port" "$helo" passthrough-exe "lab exe (passthrough)" "See attached." "${attach_lab_exe[@]}"
    delivered passthrough-exe "$ev/passthrough-exe.delivered.eml"

    log "evidence: the typical filter"
    cp -- "$work/out/filters/typical.filter" "$work/etc/active.filter"
    md-mx-ctrl -s "$MXSOCK" reread >/dev/null
    send "$ev/typical-clean.swaks.txt" "$milter_port" "$helo" typical-clean "lab clean (typical)" "Hello from the lab."
    delivered typical-clean "$ev/typical-clean.delivered.eml"
    send "$ev/typical-exe.swaks.txt" "$milter_port" "$helo" typical-exe "lab exe (typical)" "See attached." \
        "${attach_notes[@]}" "${attach_lab_exe[@]}"
    delivered typical-exe "$ev/typical-exe.delivered.eml"
    send "$ev/typical-reject.swaks.txt" "$milter_port" "$helo" typical-reject "please MDLAB-REJECT this" "Should be refused."
    stop_stack
}

###########################################################################
# 6. transcripts/ and spool/: one worker behind worker-tee.sh, the milter
#    behind a socat proxy, in two milter modes.
###########################################################################

tee_in=$work/tee/mx-to-worker.txt
tee_out=$work/tee/worker-to-mx.txt
touch "$tee_in" "$tee_out" "$work/tee/worker.starts.txt"
chown "$md_user:" "$tee_in" "$tee_out" "$work/tee/worker.starts.txt"

# capture_case CASE SOCATLOG SUBJECT BODY [SWAKS-ARGS...]: send one golden
# message through the milter and keep what each tap saw meanwhile, and the
# spool directory the milter kept.
capture_case() {
    local case=$1 socatlog=$2 subject=$3 body=$4 tr=$work/out/transcripts
    shift 4
    local s0 i0 o0 s1 i1 o1 before after dir
    settle "$socatlog" "$tee_in" "$tee_out"
    s0=$(size "$socatlog") i0=$(size "$tee_in") o0=$(size "$tee_out")
    before=$(ls -1 "$work/spool")
    send "$tr/$case.swaks.txt" "$milter_port" golden-client.mdlab.localdomain "golden-$case" "$subject" "$body" "$@"
    settle "$socatlog" "$tee_in" "$tee_out"
    s1=$(size "$socatlog") i1=$(size "$tee_in") o1=$(size "$tee_out")
    slice "$socatlog" "$s0" "$s1" "$tr/$case.milter-mx.socat.txt"
    slice "$tee_in" "$i0" "$i1" "$tr/$case.mx-to-worker.txt"
    slice "$tee_out" "$o0" "$o1" "$tr/$case.worker-to-mx.txt"
    after=$(ls -1 "$work/spool")
    dir=$(comm -13 <(echo "$before") <(echo "$after") | grep '^mdefang-' || true)
    [[ -n $dir && $dir != *$'\n'* ]] || die "case $case: expected one new spool directory, found: ${dir:-none}"
    echo "$dir" >"$work/out/spool/$case.dirname"
    cp -r -- "$work/spool/$dir" "$work/out/spool/$case"
    find "$work/out/spool/$case" -depth -type d -empty -delete # the worker's empty tmp/
}

# capture_mode MODE MILTER-FLAGS...: start the stack in MODE (default or
# allchecks), record its start-up exchange and its command lines.
capture_mode() {
    local mode=$1 tr=$work/out/transcripts socatlog=$work/log/milter-mx.$1.socat.txt
    shift
    : >"$socatlog"
    cp -- "$work/out/filters/typical.filter" "$work/etc/active.filter"
    start_multiplexor -m 1 -x 1 -r 500 -l -U "$md_user" -z "$SPOOL" -s "$MXSOCK" \
        -F "$work/etc/active.filter" -p "$RUN/mimedefang-multiplexor.pid" -f "$work/bin/worker-tee.sh"
    echo "$mx_cmdline" >"$tr/capture-$mode.multiplexor.cmdline"
    start_proxy "$SPOOL/mx-proxy.sock" "$MXSOCK" "$socatlog"
    start_milter -m "$SPOOL/mx-proxy.sock" -U "$md_user" -z "$SPOOL" -P "$RUN/mimedefang.pid" "$@"
    echo "$milter_cmdline" >"$tr/capture-$mode.milter.cmdline"
    # The milter's start-up probe ("free") and the multiplexor's answer.
    wait_until 20 "the milter's start-up probe" grep -q '^< ' "$socatlog"
    settle "$socatlog"
    cp -- "$socatlog" "$tr/startup-$mode.milter-mx.socat.txt"
}

capture_transcripts() {
    log "transcripts: default milter flags (-q -G -d)"
    capture_mode default -q -G -d
    capture_case clean "$work/log/milter-mx.default.socat.txt" "golden clean message" "Hello from the golden capture."
    capture_case reject "$work/log/milter-mx.default.socat.txt" "golden MDLAB-REJECT message" "This one must be refused."
    capture_case exe "$work/log/milter-mx.default.socat.txt" "golden exe message" "See attached." "${attach_golden_exe[@]}"
    stop_stack

    log "transcripts: all checks (-G -r -H -s -t -d)"
    capture_mode allchecks -G -r -H -s -t -d
    capture_case clean-allchecks "$work/log/milter-mx.allchecks.socat.txt" "golden clean message, all checks" "Hello again."
    stop_stack
    settle "$work/tee/worker.starts.txt"
    cp -- "$work/tee/worker.starts.txt" "$work/out/transcripts/worker.starts.txt"
}

###########################################################################
# 7. md-mx-ctrl/: every command of index.tsv through a socat proxy, under
#    three loads, raw replies on both sockets, the notification stream.
###########################################################################

CTRL_PROXY=$RUN/mx-ctrl-proxy.sock
UNPRIV=$SPOOL/mx-unpriv.sock
NOTIFY=$SPOOL/mx-notify.sock
mc=$work/out/md-mx-ctrl

# ctrl_run NAME DISPLAY STDIN ARGS...: md-mx-ctrl ARGS through the proxy,
# stdout and stderr into NAME.txt, a line "NAME rc DISPLAY" in index.tsv.
ctrl_run() {
    local name=$1 display=$2 input=$3 rc=0
    shift 3
    if [[ -n $input ]]; then
        printf '%b' "$input" | md-mx-ctrl -s "$CTRL_PROXY" "$@" >"$mc/$name.txt" 2>&1 || rc=$?
    else
        md-mx-ctrl -s "$CTRL_PROXY" "$@" </dev/null >"$mc/$name.txt" 2>&1 || rc=$?
    fi
    printf '%s\t%s\t%s\n' "$name" "$rc" "$display" >>"$mc/index.tsv"
}
# ctrl NAME ARGS...: the usual case, shown as "md-mx-ctrl ARGS".
ctrl() {
    local name=$1
    shift
    ctrl_run "$name" "md-mx-ctrl $*" "" "$@"
}

# raw FILE SOCKET REQUEST: one request per connection, the reply as is.
raw() { printf '%s\n' "$3" | socat -t 10 - "UNIX-CONNECT:$2" >"$1"; }
# raw_set PREFIX SOCKET REQUEST...: raw/PREFIX.<request>.txt for each
# request (spaces and slashes become "_").
raw_set() {
    local prefix=$1 sock=$2 req
    shift 2
    for req in "$@"; do raw "$mc/raw/$prefix.${req//[ \/]/_}.txt" "$sock" "$req"; done
}

# status_fields: the multiplexor's rawstatus, e.g. "IIIISSSS 46 4 64 0 5".
status_fields() { md-mx-ctrl -s "$MXSOCK" rawstatus; }
all_busy() { [[ $(status_fields) == BBBBBBBB\ * ]]; }

# The busy snapshot is taken with the workers stopped (SIGSTOP), so that
# every busy command sees the same pool (8 busy, the rest of the load
# queued) as the originals did within their few milliseconds; they are
# continued (SIGCONT) right after, and by cleanup if anything fails.
freeze_workers() {
    # "N B PID ..." or "N I PID ...": the PIDs of the running workers.
    mapfile -t frozen < <(md-mx-ctrl -s "$MXSOCK" workers | awk '$2 ~ /^[BI]$/ && $3 ~ /^[0-9]+$/ {print $3}')
    if ((${#frozen[@]})); then kill -STOP "${frozen[@]}"; fi
}
thaw_workers() {
    if ((${#frozen[@]})); then kill -CONT "${frozen[@]}" 2>/dev/null || true; fi
    frozen=()
}

# stable: the pool's state (all but the uptime) is the same 0.3 s later.
stable() {
    local a b
    a=$(status_fields | cut -d' ' -f1-5)
    sleep 0.3
    b=$(status_fields | cut -d' ' -f1-5)
    [[ $a == "$b" ]]
}

# postfix_idle: nothing left in the private Postfix's queue.
postfix_idle() {
    [[ -z $(find "$work/postfix/queue"/{maildrop,incoming,active,deferred} -type f -print -quit 2>/dev/null) ]]
}

# next_second: sleep until just after the next whole second. The
# multiplexor counts its uptime and the workers' "ago" in whole seconds, and
# md-mx-ctrl's outputs of one phase should agree with each other (the
# interactive_-i output repeats rawstatus, msgs, rawload and workers), so
# each phase starts at the beginning of a second.
next_second() {
    local ns
    ns=$(date +%N)
    sleep "$(awk -v ns="$ns" 'BEGIN { printf "%.3f", (1e9 - ns) / 1e9 + 0.01 }')"
}

# quiet: no worker busy, nothing queued.
quiet() {
    local f
    read -ra f <<<"$(status_fields)"
    [[ ${#f[@]} -ge 5 && ${f[0]} != *B* && ${f[4]} == 0 ]]
}

capture_mxctrl() {
    log "md-mx-ctrl: 2 to 8 workers, the typical filter"
    cp -- "$work/out/filters/typical.filter" "$work/etc/active.filter"
    start_multiplexor -m 2 -x 8 -r 500 -i 300 -b 120 -q 64 -Q 30 -l -a "$UNPRIV" -O "$NOTIFY" \
        -U "$md_user" -z "$SPOOL" -s "$MXSOCK" -F "$work/etc/active.filter" \
        -p "$RUN/mimedefang-multiplexor.pid"
    echo "$mx_cmdline" >"$mc/multiplexor.cmdline"
    start_proxy "$CTRL_PROXY" "$MXSOCK" "$work/log/wire.socat.txt"
    start_milter -m "$MXSOCK" -U "$md_user" -z "$SPOOL" -P "$RUN/mimedefang.pid" -q -G

    # A listener on the notification socket, interested in everything.
    # shellcheck disable=SC2016 # Perl, not shell
    perl -MIO::Socket::UNIX -e '
        $| = 1;
        my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "notify: $!\n";
        print {$s} "?*\n";
        $s->flush;
        print while <$s>;' "$NOTIFY" >"$work/log/notify.txt" &
    bg_pids+=("$!")
    wait_until 20 "the notification socket's *OK" grep -q '^\*OK' "$work/log/notify.txt"

    # Some traffic first, so that the counters are not all zero.
    log "md-mx-ctrl: warm-up, 46 messages over 4 connections"
    perl "$work/bin/smtpload.pl" golden-warmup 127.0.0.1 "$milter_port" 46 4 >"$work/log/warmup.smtpload.txt"
    log "$(cat "$work/log/warmup.smtpload.txt")"
    wait_until 60 "the pool to go quiet" quiet
    wait_until 60 "Postfix to deliver the warm-up" postfix_idle

    log "md-mx-ctrl: the commands, idle"
    printf 'name\trc\tcommand\n' >"$mc/index.tsv"
    next_second
    ctrl_run help "md-mx-ctrl -h (usage on stderr, merged)" "" -h
    local c
    for c in status rawstatus barstatus msgs free version load rawload \
        load-relayok rawload-relayok load-senderok rawload-senderok load-recipok rawload-recipok \
        hload rawhload hload-relayok rawhload-relayok hload-senderok rawhload-senderok \
        hload-recipok rawhload-recipok histo workers slaves busyworkers busyslaves; do
        ctrl "$c" "$c"
    done
    ctrl load1_60 load1 60
    ctrl rawload1_60 rawload1 60
    ctrl load1_5_invalid load1 5
    ctrl workerinfo_0 workerinfo 0
    ctrl workerinfo_1 workerinfo 1
    ctrl slaveinfo_0 slaveinfo 0
    ctrl workerinfo_99_out_of_range workerinfo 99
    ctrl tick_refused tick
    ctrl foo_no_such_command foo_no_such_command
    ctrl ping_via_worker ping
    ctrl unknown_cmd_via_worker NoSuchCommand arg1 "arg with space"
    ctrl_run interactive_-i "printf 'status\nrawstatus\nmsgs\nrawload\nworkers\n' | md-mx-ctrl -i" \
        'status\nrawstatus\nmsgs\nrawload\nworkers\n' -i

    # Under load: 150 messages over 12 connections for 8 workers. As soon
    # as all 8 are busy, they are frozen until the busy commands are done.
    log "md-mx-ctrl: the commands, busy (150 messages over 12 connections)"
    perl "$work/bin/smtpload.pl" golden-busy 127.0.0.1 "$milter_port" 150 12 >"$mc/busy-load.smtpload.txt" &
    local load=$! i busy=no
    bg_pids+=("$load")
    for ((i = 0; i < 3000; i++)); do
        if all_busy; then
            busy=yes
            break
        fi
        alive "$load" || break
        sleep 0.01
    done
    if [[ $busy == yes ]]; then
        freeze_workers
        wait_until 10 "the frozen pool to settle" stable
        next_second
    else
        log "WARNING: never saw all 8 workers busy; the *.busy.txt files show the pool as it was"
    fi
    ctrl status.busy status
    ctrl rawstatus.busy rawstatus
    ctrl barstatus.busy barstatus
    ctrl workers.busy workers
    ctrl busyworkers.busy busyworkers
    ctrl workerinfo_0.busy workerinfo 0
    ctrl rawload1_10.busy rawload1 10
    ctrl load1_10.busy load1 10
    thaw_workers
    wait "$load" || log "WARNING: the load was not all accepted: $(cat "$mc/busy-load.smtpload.txt")"
    forget_pid "$load"
    log "$(cat "$mc/busy-load.smtpload.txt")"
    wait_until 60 "the pool to go quiet" quiet
    wait_until 60 "Postfix to deliver the load" postfix_idle

    log "md-mx-ctrl: the commands, after the load"
    next_second
    ctrl histo.after-load histo
    ctrl load.after-load load
    ctrl rawload.after-load rawload
    ctrl msgs.after-load msgs
    raw_set priv "$MXSOCK" status workers "workerinfo 0"
    for c in status workers workerinfo_0; do
        mv -- "$mc/raw/priv.$c.txt" "$mc/raw/priv.$c.idle.txt"
    done

    log "md-mx-ctrl: reread, and the raw replies on both sockets"
    ctrl reread reread
    # The killed workers are reaped within a moment (the original capture
    # looked half a second later and saw them all stopped).
    no_killed() { [[ $(status_fields) != *K* ]]; }
    wait_until 10 "the killed workers to be reaped" no_killed
    ctrl status.after-reread status
    ctrl rawstatus.after-reread rawstatus
    raw_set priv "$MXSOCK" help free version status workers busyworkers load \
        load-relayok load-senderok load-recipok "load1 30" hload histo msgs \
        "workerinfo 0" "workerinfo x" tick foo_no_such_command ping
    raw_set unpriv "$UNPRIV" help free status load msgs "workerinfo 0" ping reread "scan /tmp"

    settle "$work/log/notify.txt" "$work/log/wire.socat.txt"
    stop_stack
    cp -- "$work/log/notify.txt" "$mc/notify.txt"
    cp -- "$work/log/wire.socat.txt" "$mc/wire.socat.txt"
}

###########################################################################
# 8. Run, then copy the capture to OUTDIR.
###########################################################################

capture_evidence
capture_transcripts
capture_mxctrl

{
    echo "captured $(date -u '+%Y-%m-%d %H:%M:%S UTC') by testdata/golden/capture/capture.sh on $(uname -srm)"
    dpkg-query -W -f '${Package} ${Version}\n' mimedefang postfix swaks socat perl libmime-tools-perl 2>/dev/null || true
} >"$work/out/versions.txt"
chmod -R u=rwX,go=rX "$work/out"

mkdir -p -- "$out"
for d in evidence spool transcripts md-mx-ctrl filters; do
    rm -rf -- "${out:?}/$d"
    cp -r -- "$work/out/$d" "$out/$d"
done
cp -- "$work/out/versions.txt" "$out/versions.txt"
[[ -e $out/README.md ]] || cp -- "$golden_src/README.md" "$out/README.md"
log "done: $out"
