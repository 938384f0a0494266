#!/usr/bin/env bash
# Prints the run directory `make run` and `make demo` use when RUNDIR is not
# given: CHECKOUT/var, unless make run is started as root and the user the
# daemons run as (defang) cannot reach that directory, as in a clone under
# root's private home (mode 0700). Then it is /var/tmp/md-run-<id>, where
# <id> is derived from the checkout's path, so that make run and make demo
# of one checkout agree and two checkouts do not collide.
#
# Usage: deploy/run-dir.sh CHECKOUT
set -euo pipefail
checkout=${1:?usage: run-dir.sh CHECKOUT}
service_user=defang

reachable() {
  # Search permission on the checkout means every parent is searchable too.
  runuser -u "$service_user" -- test -x "$checkout" 2>/dev/null
}

if [ "$(id -u)" = 0 ] && id "$service_user" >/dev/null 2>&1 &&
  command -v runuser >/dev/null && ! reachable; then
  id=$(printf '%s' "$checkout" | sha256sum | cut -c1-12)
  echo "/var/tmp/md-run-$id"
else
  echo "$checkout/var"
fi
