#!/usr/bin/env bash
# The Debian packages `make test` needs, in one place. Run by `make test`
# (target deps) and so by .ci/run: installs what is missing when run as
# root, otherwise prints the apt-get line to run and fails.
#
#   mimedefang, libnet-dns-perl, libio-socket-ssl-perl, libmime-tools-perl,
#   libarchive-zip-perl, libhtml-parser-perl: the original MIMEDefang 3.3
#     and the Perl modules mimedefang.pl loads (Debian's package leaves two
#     undeclared), compared side by side in every module's tests
#   postfix, swaks, socat: the MTA and the SMTP and socket tools of the
#     end-to-end tests
#   python3: the independent MIME reader of integration/conformance TestBrokenMIME
#   debootstrap, systemd: the Sendmail chroot and the systemd root of the
#     Sendmail and unit-file tests
#   clamav-daemon, clamdscan: a real clamd (with the tests' own signature
#     database; no freshclam, no network), clamdscan and clamscan for the
#     virus-scanning integration (integration/clamd_test.go)
#   spamassassin, spamd, spamc, rspamd: a real spamd (the packaged rules,
#     compiled at install time; no sa-update) and a real rspamd for the
#     spam-scoring integrations (integration/spamd_test.go, rspamd_test.go)
#   libmail-spf-perl: Perl's Mail::SPF, what MIMEDefang's md_spf_verify
#     uses, as the independent implementation md_spf_verify is compared
#     with (integration/spf_test.go)
#   libmail-dkim-perl, python3-dkim: Perl's Mail::DKIM (what MIMEDefang's
#     md_dkim_sign and md_dkim_verify use) and dkimpy (Ed25519, which
#     Debian's Mail::DKIM lacks), the independent DKIM implementations
#     (integration/dkim_test.go)
#   nsd: authoritative DNS server for the DNS checks' tests (DNSBL, SPF,
#     DKIM, DMARC ...), with the tests' own zones on a port of their own
#     (integration/nsd_test.go)
set -euo pipefail

packages=(mimedefang postfix swaks socat libnet-dns-perl libio-socket-ssl-perl
  libmime-tools-perl libarchive-zip-perl libhtml-parser-perl python3 debootstrap systemd
  clamav-daemon clamdscan spamassassin spamd spamc rspamd nsd libmail-spf-perl libmail-dkim-perl python3-dkim)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "make test needs these Debian packages: ${missing[*]}" >&2
  echo "install them as root with:" >&2
  echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "(Postfix asks questions at install time unless preseeded: running 'make test' as root does that)" >&2
  exit 1
fi

echo "installing the packages make test needs: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# Postfix asks at install time: a local-only mail system named localhost.
echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
apt-get install -y --no-install-recommends "${missing[@]}"
