# The product's two entry points: `make run` and `make test`.
# Every binary goes to ./bin. Go modules are tied together by go.work.

GO       ?= go
# The Go release everything is built and tested with: 1.26.10 fixes the
# standard-library vulnerabilities govulncheck reports in 1.26.8 (crypto/x509,
# crypto/tls, net/http, net/textproto; see make vulncheck). The go command
# fetches it once from the module proxy (golang.org/toolchain) when the
# installed Go is older; GOTOOLCHAIN=local in the environment turns that off.
export GOTOOLCHAIN ?= go1.26.10
BIN      := $(CURDIR)/bin
MODULES  := internal proto milterd multiplexor worker integration
# The run target's scratch space: ./var, or, as root in a checkout the
# daemons' user cannot reach, /var/tmp/md-run-<id> (deploy/run-dir.sh);
# override RUNDIR=... to keep it elsewhere.
RUNDIR   ?= $(shell bash deploy/run-dir.sh $(CURDIR))

.PHONY: all build test deps modules vulncheck unit integration test-sendmail run demo fuzz bench vet clean oracles golden chaos soak

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./multiplexor/cmd/...
	$(GO) build -o $(BIN)/ ./milterd/cmd/...
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./worker/cmd/...  # static: no libc pages in every worker's RSS

vet:
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

# Unit tests of every module, then the end-to-end tests against the real
# binaries, the original MIMEDefang and a real Postfix (see integration/README.md).
test: deps build vet modules vulncheck unit integration

# The Debian packages the tests need: installed when missing and run as
# root, else the apt-get line to run is printed (integration/test-deps.sh).
deps:
	@bash integration/test-deps.sh

# Every module builds on its own, without the workspace (go.work): each
# go.mod requires what it imports, siblings through replace directives;
# and no two go.mod files require different versions of one module.
modules:
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./...) || { echo "module $$m does not build alone (GOWORK=off)"; exit 1; }; done
	@awk '/^require \(/{b=1;next} b&&/^\)/{b=0} b&&NF>=2{print $$1,$$2} /^require [^(]/{print $$2,$$3}' $(MODULES:%=%/go.mod) | sort -u | \
	  awk '{c[$$1]++; v[$$1]=v[$$1] " " $$2} END {n=0; for (k in c) if (c[k]>1) {print "go.mod files require two versions of " k ":" v[k]; n++}; exit n>0}'

# govulncheck over every module, offline: the vulnerability database is
# built from a pinned snapshot of golang.org/x/vulndb (served by the module
# proxy) once per version, cached under $(go env GOCACHE)/md-vulndb
# (VULNDB_CACHE=... moves it); fails on any vulnerable function our code
# calls (.ci/vulncheck.sh). Bump VULNDB_VERSION to see newer advisories.
GOVULNCHECK_VERSION ?= v1.9.0
VULNDB_VERSION      ?= v0.0.0-20261105234957-e22db6528018
vulncheck:
	@GO=$(GO) GOVULNCHECK_VERSION=$(GOVULNCHECK_VERSION) VULNDB_VERSION=$(VULNDB_VERSION) \
	  bash .ci/vulncheck.sh $(MODULES)

# Pure unit tests: no Debian package, no prior build, no real daemon (those
# tests live under integration/). Every module runs; the failures of all of
# them are listed at the end.
UNIT_MODULES := internal proto milterd multiplexor worker
unit:
	@failed=""; for m in $(UNIT_MODULES); do (cd $$m && $(GO) test -count=1 ./...) || failed="$$failed $$m"; done; \
	  if [ -n "$$failed" ]; then echo "unit tests failed in:$$failed"; exit 1; fi

# The chaos campaign and the soak (integration/chaos) run after the other
# packages, not beside them: they load the machine on purpose, and the
# other tests' deadlines are not made for that.
integration: build
	cd integration && MD_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v /chaos)
	cd integration && MD_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 30m ./chaos/...

# Only the end-to-end tests behind Debian's Sendmail 8.17, which runs from a
# debootstrap chroot built once under $MD_SENDMAIL_ROOT (default
# /var/tmp/md-sendmail-root). `make integration` runs them too.
test-sendmail: build
	cd integration && MD_BIN_DIR=$(BIN) $(GO) test -count=1 -run 'TestSendmail' ./...

# Short fuzzing of every parser that reads another process's bytes: every
# Fuzz target in the modules' packages, found by name, so a new one is in.
FUZZ_DIRS = $(sort $(dir $(shell grep -rl --include='*_test.go' '^func Fuzz' $(UNIT_MODULES))))
FUZZTIME  ?= 20s
# Then the broken-MIME differential test (integration/conformance TestBrokenMIME)
# with a random seed on FUZZ_BROKEN_N messages (the seed is printed).
FUZZ_BROKEN_N ?= 10000
fuzz: build
	@for d in $(FUZZ_DIRS); do d=$${d%/}; m=$${d%%/*}; p=./$${d#*/}; [ "$$d" = "$$m" ] && p=.; \
	  for f in $$(cd $$m && $(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
	    echo "== $$m $$p $$f"; (cd $$m && $(GO) test -run=^$$ -fuzz=^$$f$$ -fuzztime=$(FUZZTIME) -parallel=2 $$p) || exit 1; \
	  done; done
	cd integration && MD_BIN_DIR=$(BIN) MD_BROKEN_SEED=random MD_BROKEN_N=$(FUZZ_BROKEN_N) $(GO) test -count=1 -v -timeout 60m -run '^TestBrokenMIME$$' ./conformance/

# The fault campaign of docs/reliability.md (integration/chaos TestChaos):
# the whole stack behind Postfix with clamd, spamd, rspamd and NSD, one
# fault per phase under load, every message accounted for. It rewrites the
# table in docs/reliability.md. make test runs the same campaign with
# MD_CHAOS_N=30 and leaves the document alone.
CHAOS_N        ?= 100
CHAOS_CORPUS_N ?= 10000
chaos: deps build
	cd integration && MD_BIN_DIR=$(BIN) MD_CHAOS_N=$(CHAOS_N) MD_CHAOS_CORPUS_N=$(CHAOS_CORPUS_N) \
	  MD_CHAOS_REPORT=$(CURDIR)/docs/reliability.md $(GO) test -count=1 -v -timeout 4h -run '^TestChaos$$' ./chaos/

# The soak of docs/reliability.md (integration/chaos TestSoak): SOAK_TIME at
# a steady rate, memory and descriptors of every process every 10 s, the
# curves written to docs/soak/ (soak.csv, soak.png).
SOAK_TIME ?= 1h
soak: deps build
	cd integration && MD_BIN_DIR=$(BIN) MD_SOAK_DURATION=$(SOAK_TIME) MD_SOAK_OUT=$(CURDIR)/docs/soak \
	  $(GO) test -count=1 -v -timeout 3h -run '^TestSoak$$' ./chaos/

# Recaptures testdata/golden from Debian's MIMEDefang (as root; see
# testdata/golden/README.md, "Recapturing") into GOLDEN_OUT, then diffs it
# with the repository's captures, masking what changes on every run.
# GOLDEN_OUT=testdata/golden refreshes them.
GOLDEN_OUT ?= /tmp/md-golden-capture
golden: deps
	bash testdata/golden/capture/capture.sh $(GOLDEN_OUT)
	-bash testdata/golden/capture/compare.sh -c testdata/golden $(GOLDEN_OUT)

# Re-records the outputs of the Perl oracles (MIME-tools, HTML::Parser) that
# package message's unit tests compare with (worker/message/testdata/oracles);
# needs perl, libmime-tools-perl, mimedefang and libhtml-parser-perl.
# integration/oracles_test.go checks that the recordings are current.
oracles:
	bash worker/message/testdata/record-oracles.sh

bench: build
	bash bench/run.sh

# Starts md-multiplexor (md-worker, deploy/filters/suggested-minimum.lua) and
# md-milterd in the foreground, everything under $(RUNDIR); Ctrl-C stops both.
# MX_METRICS and MILTER_METRICS (default 127.0.0.1:9130 and :9131) move
# their metrics listeners.
run: build
	bash deploy/run-demo.sh $(BIN) $(RUNDIR)

# Sends three sample messages through the milter `make run` started and
# shows what it did to each.
demo:
	@$(GO) run ./milterd/internal/demo/cmd -socket $(RUNDIR)/sock/milter.sock

clean:
	rm -rf $(BIN)
