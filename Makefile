# The product's two entry points: `make run` and `make test`.
# Every binary goes to ./bin. Go modules are tied together by go.work.

GO       ?= go
BIN      := $(CURDIR)/bin
MODULES  := internal proto milterd multiplexor worker integration
# The run target's scratch space: ./var, or, as root in a checkout the
# daemons' user cannot reach, /var/tmp/md-run-<id> (deploy/run-dir.sh);
# override RUNDIR=... to keep it elsewhere.
RUNDIR   ?= $(shell bash deploy/run-dir.sh $(CURDIR))

.PHONY: all build test deps modules unit integration test-sendmail run demo fuzz bench vet clean oracles golden

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
test: deps build vet modules unit integration

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

# Pure unit tests: no Debian package, no prior build, no real daemon (those
# tests live under integration/). Every module runs; the failures of all of
# them are listed at the end.
UNIT_MODULES := internal proto milterd multiplexor worker
unit:
	@failed=""; for m in $(UNIT_MODULES); do (cd $$m && $(GO) test -count=1 ./...) || failed="$$failed $$m"; done; \
	  if [ -n "$$failed" ]; then echo "unit tests failed in:$$failed"; exit 1; fi

integration: build
	cd integration && MD_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 20m ./...

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
