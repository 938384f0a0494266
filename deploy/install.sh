#!/bin/sh
# Install md-mimedefang (md-multiplexor, md-milterd, md-mx-ctrl, md-worker)
# with its default filter, configuration, directories and systemd units.
# Run it again at will: it never overwrites the filter or
# /etc/default/md-mimedefang, and it never starts or enables a service.
#
#   deploy/install.sh [--bindir DIR] [--prefix DIR] [--destdir DIR] [--user NAME]
#
# See deploy/README.md for what goes where.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bindir=$here/../bin
prefix=/usr/local
destdir=
user=

usage() {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	cat <<USAGE
Options:
  --bindir DIR   where the built binaries are (default: the repository's bin/, from make build)
  --prefix DIR   installation prefix: programs in PREFIX/sbin, this guide in
                 PREFIX/share/doc/md-mimedefang (default /usr/local)
  --destdir DIR  stage everything under DIR (for packaging and tests): no
                 account is created, units are always installed, systemd is
                 not told
  --user NAME    the service account (default: defang if it exists, as made by
                 Debian's mimedefang package, else mdefang, created as a system user)
USAGE
}

while [ $# -gt 0 ]; do
	case $1 in
	--bindir) bindir=${2:?--bindir needs a directory}; shift 2 ;;
	--bindir=*) bindir=${1#*=}; shift ;;
	--prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
	--destdir=*) destdir=${1#*=}; shift ;;
	--user) user=${2:?--user needs a name}; shift 2 ;;
	--user=*) user=${1#*=}; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done

case $prefix in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac
if [ -n "$destdir" ]; then
	mkdir -p "$destdir"
	destdir=$(cd "$destdir" && pwd)
fi
D=$destdir
sbindir=$prefix/sbin
docdir=$prefix/share/doc/md-mimedefang
spool=/var/spool/MIMEDefang
quarantine=/var/spool/MD-Quarantine
logdir=/var/log/md-mimedefang
programs="md-multiplexor md-milterd md-mx-ctrl md-worker"

for p in $programs; do
	if [ ! -x "$bindir/$p" ]; then
		echo "install.sh: $bindir/$p is missing: run make build first (or give --bindir)" >&2
		exit 1
	fi
done

say() { echo "install.sh: $*"; }

# The service account.
if [ -z "$user" ]; then
	if getent passwd defang >/dev/null 2>&1; then user=defang; else user=mdefang; fi
fi
owner=
if getent passwd "$user" >/dev/null 2>&1; then
	owner=$user
elif [ -z "$D" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install.sh: the account $user does not exist and only root can create it" >&2
		exit 1
	fi
	useradd --system --user-group --home-dir "$spool" --no-create-home \
		--shell /usr/sbin/nologin --comment "md-mimedefang daemons" "$user"
	say "created the system account $user"
	owner=$user
else
	say "account $user does not exist: staged directories stay owned by $(id -un)"
fi
group=
[ -n "$owner" ] && group=$(id -gn "$owner")

# owned DIR MODE: a directory of the service account (chown only as root).
owned() {
	install -d -m "$2" "$D$1"
	chmod "$2" "$D$1"
	if [ -n "$owner" ] && [ "$(id -u)" = 0 ]; then chown "$owner:$group" "$D$1"; fi
}

install -d -m 0755 "$D$sbindir" "$D/etc/mail" "$D/etc/default" "$D$docdir"
for p in $programs; do
	install -m 0755 "$bindir/$p" "$D$sbindir/$p"
done
say "programs in $D$sbindir"
install -m 0644 "$here/README.md" "$D$docdir/README.md"

owned "$spool" 0700
owned "$quarantine" 0750
owned "$logdir" 0750

if [ -e "$D/etc/mail/md-filter.lua" ]; then
	say "keeping the existing filter $D/etc/mail/md-filter.lua"
else
	install -m 0644 "$here/filters/suggested-minimum.lua" "$D/etc/mail/md-filter.lua"
	say "default filter in $D/etc/mail/md-filter.lua"
fi

if [ -e "$D/etc/default/md-mimedefang" ]; then
	say "keeping the existing $D/etc/default/md-mimedefang"
else
	sed "s|@MD_USER@|$user|g" "$here/systemd/md-mimedefang.default" >"$D/etc/default/md-mimedefang.tmp"
	chmod 0644 "$D/etc/default/md-mimedefang.tmp"
	mv "$D/etc/default/md-mimedefang.tmp" "$D/etc/default/md-mimedefang"
	say "options in $D/etc/default/md-mimedefang (MD_USER=$user)"
fi

# Units: always when staging, else only on a system with systemd's directory.
unitdir=/etc/systemd/system
if [ -n "$D" ] || [ -d "$unitdir" ]; then
	install -d -m 0755 "$D$unitdir"
	for u in md-multiplexor.service md-milterd.service; do
		sed -e "s|@SBINDIR@|$sbindir|g" -e "s|@DOCDIR@|$docdir|g" "$here/systemd/$u" >"$D$unitdir/$u.tmp"
		chmod 0644 "$D$unitdir/$u.tmp"
		mv "$D$unitdir/$u.tmp" "$D$unitdir/$u"
	done
	say "units in $D$unitdir"
	if [ -z "$D" ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		say "systemd reloaded; start with: systemctl enable --now md-milterd (starts md-multiplexor too)"
	elif [ -z "$D" ]; then
		say "systemd is not running: nothing started"
	fi
else
	say "no $unitdir: units not installed, nothing started"
fi
