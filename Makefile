# The product's two entry points: `make run` and `make test`.
# Every binary goes to ./bin. Go modules are tied together by go.work.

GO       ?= go
BIN      := $(CURDIR)/bin
MODULES  := proto multiplexor integration
# The run target's scratch space; override RUNDIR=... to keep it elsewhere.
RUNDIR   ?= /tmp/md-run

.PHONY: all build test unit integration run fuzz bench vet clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./multiplexor/cmd/...

vet:
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

# Unit tests of every module, then the end-to-end tests against the real
# binaries, the original MIMEDefang and a real Postfix (see integration/README.md).
test: build vet unit integration

unit:
	@for m in proto multiplexor; do (cd $$m && $(GO) test -count=1 ./...) || exit 1; done

integration: build
	cd integration && MD_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 20m ./...

# Short fuzzing of every parser that reads another process's bytes.
fuzz:
	cd proto && for f in $$($(GO) test -list 'Fuzz.*' . | grep ^Fuzz); do $(GO) test -run=^$$ -fuzz=^$$f$$ -fuzztime=20s . || exit 1; done

bench: build
	bash bench/run.sh

# Starts md-multiplexor in the foreground with a demo worker pool under $(RUNDIR).
run: build
	bash deploy/run-demo.sh $(BIN) $(RUNDIR)

clean:
	rm -rf $(BIN)
