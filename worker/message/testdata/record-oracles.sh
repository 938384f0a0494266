#!/bin/bash
# record-oracles.sh [OUTDIR]
#
# Runs the Perl oracles of package message and records what they print, so
# that the unit tests (go test ./message/ in worker/) compare with the
# recordings without perl. OUTDIR defaults to testdata/oracles next to this
# script, the recordings the tests read; the integration test
# TestOraclesMatchRecordings (integration/oracles_test.go) records into a
# temporary OUTDIR and fails if anything differs from the committed files.
#
# It writes:
#
#   corpus.dump        mimetools-dump.pl over every worker/testdata/corpus/*.eml
#                      (TestConformance), with corpus.sha256 (the inputs)
#   maxparts.txt       "NAME N" per corpus message: the smallest MD_MAX_PARTS
#                      (MIME::Parser max_parts) with which MIME-tools parses it,
#                      found by trying N = 1, 2, ... (TestMaxPartsMatchesMIMETools)
#   differential.dump  mimetools-dump.pl over TestDifferential's 600 mutated
#                      messages, with differential.sha256 (MD_DIFF_SEED=N
#                      records another seed than 1: record it elsewhere)
#   rewritten.dump     mimetools-dump.pl over TestRewrittenMatchesMIMETools'
#                      rebuilt messages, with rewritten.sha256
#   html.json          html-oracle.pl (HTML::Parser, MIMEDefang's
#                      append_to_html_part) over html-cases.json
#                      (TestAppendHTMLMatchesHTMLParser)
#
# The mutated and rebuilt messages are made by package message's tests
# themselves: the script gets them from `go test -run TestWriteOracleInputs`
# with MD_WRITE_ORACLE_INPUTS set.
#
# Needs go, sha256sum (coreutils), and perl with these modules (Debian
# packages): MIME::Parser (libmime-tools-perl), Mail::MIMEDefang::MIME
# (mimedefang), HTML::Parser (libhtml-parser-perl); Digest::SHA and JSON::PP
# come with perl:
#
#   apt-get install -y perl libmime-tools-perl mimedefang libhtml-parser-perl
set -euo pipefail
export LC_ALL=C # file name order of the globs, independent of the locale

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) # worker/message/testdata
worker=$(cd "$here/../.." && pwd)
corpus=$worker/testdata/corpus
out=${1:-$here/oracles}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The modules, each with the Debian package that provides it.
missing=()
for mp in MIME::Parser=libmime-tools-perl Mail::MIMEDefang::MIME=mimedefang \
          HTML::Parser=libhtml-parser-perl Digest::SHA=perl JSON::PP=perl; do
	if ! perl -M"${mp%%=*}" -e 1 2>/dev/null; then
		missing+=("${mp#*=}")
	fi
done
if ((${#missing[@]})); then
	echo "record-oracles.sh: perl modules are missing: apt-get install -y ${missing[*]}" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# dump SET DIR: mimetools-dump.pl over DIR/*.eml (by base name, run from
# DIR) into OUTDIR/SET.dump, and their SHA-256 into OUTDIR/SET.sha256.
# MIME-tools' warnings about the broken messages go to $tmp/SET.log, shown
# only if perl fails.
dump() {
	local set=$1 dir=$2
	(
		cd "$dir"
		files=(*.eml)
		if ! perl "$here/mimetools-dump.pl" "${files[@]}" >"$out/$set.dump" 2>"$tmp/$set.log"; then
			cat "$tmp/$set.log" >&2
			echo "record-oracles.sh: mimetools-dump.pl failed on $dir" >&2
			exit 1
		fi
		sha256sum "${files[@]}" >"$out/$set.sha256"
	)
	echo "recorded $out/$set.dump"
}

# 1. The corpus.
dump corpus "$corpus"

# 2. max_parts: every corpus message still unresolved is parsed with
# MD_MAX_PARTS=n, n = 1, 2, ...; the first n that does not print "error" is
# recorded. (Limits grow by one: max_parts counts entities, so whether a
# message parses is monotonic in n.)
(
	cd "$corpus"
	pending=(*.eml)
	n=1
	: >"$tmp/maxparts"
	while ((${#pending[@]})); do
		if ((n > 1000)); then
			echo "record-oracles.sh: MIME-tools refuses ${pending[*]} even with MD_MAX_PARTS=1000" >&2
			exit 1
		fi
		# "== NAME" then "error" or the tree: print "NAME error" or "NAME ok".
		MD_MAX_PARTS=$n perl "$here/mimetools-dump.pl" "${pending[@]}" 2>"$tmp/maxparts.log" |
			awk '/^== /{name = substr($0, 4); getline; print name, ($0 == "error" ? "error" : "ok")}' >"$tmp/round"
		still=()
		while read -r name verdict; do
			if [[ $verdict == ok ]]; then
				echo "$name $n" >>"$tmp/maxparts"
			else
				still+=("$name")
			fi
		done <"$tmp/round"
		if (($(wc -l <"$tmp/round") != ${#pending[@]})); then
			cat "$tmp/maxparts.log" >&2
			echo "record-oracles.sh: mimetools-dump.pl with MD_MAX_PARTS=$n did not answer for every message" >&2
			exit 1
		fi
		pending=("${still[@]+"${still[@]}"}")
		n=$((n + 1))
	done
	sort "$tmp/maxparts" >"$out/maxparts.txt"
)
echo "recorded $out/maxparts.txt"

# 3. The messages TestDifferential and TestRewrittenMatchesMIMETools build.
# (MD_DIFF_SEED, if set, passes through to the test.)
(cd "$worker" && MD_WRITE_ORACLE_INPUTS="$tmp/inputs" go test -count=1 -run '^TestWriteOracleInputs$' ./message/ >"$tmp/go.log" 2>&1) || {
	cat "$tmp/go.log" >&2
	echo "record-oracles.sh: go test -run TestWriteOracleInputs failed" >&2
	exit 1
}
dump differential "$tmp/inputs/differential"
dump rewritten "$tmp/inputs/rewritten"

# 4. AppendHTML's oracle.
perl "$here/html-oracle.pl" <"$here/html-cases.json" >"$out/html.json"
echo "recorded $out/html.json"
