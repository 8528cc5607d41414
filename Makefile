# prison: FreeBSD jails on Linux. `make help` lists the targets.
GO      ?= go
BIN     := bin/prison
# Debian packages the build, the tests and the benchmarks need.
PKGS    := libseccomp-dev busybox-static iproute2 iputils-ping procps util-linux gcc pkg-config
BENCH_PKGS := bubblewrap crun runc hyperfine
# A static binary: no dynamic loader in the launcher's start nor in the jail
# init's exec, which is the same binary (1.3 ms of a 6.5 ms start here; see
# docs/startpath.md). netgo and osusergo keep glibc's NSS out of it.
BUILDFLAGS := -tags netgo,osusergo -ldflags '-linkmode external -extldflags -static'
SOURCES := $(shell find . -name '*.go' -o -name '*.c' -o -name '*.h' | grep -v '_test.go')

.PHONY: all build deps test test-unit run busybox-root bench lint clean help

all: build

help:
	@echo "make deps    install the Debian packages the build and tests need (root)"
	@echo "make build   build $(BIN)"
	@echo "make run     build, then a shell in a jail: prison run --ip 10.0.0.5 --host cust1 /bin/sh"
	@echo "make test    every test, the integration tests in real jails included (root)"
	@echo "make bench   benchmarks against bwrap, crun and runc (root); writes bench/RESULTS.md"

# Installs only what is missing, so that it is cheap to run every time.
deps:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: $(BIN)

$(BIN): $(SOURCES) go.mod go.sum
	$(GO) build $(BUILDFLAGS) -o $(BIN) ./cmd/prison

run: build
	./$(BIN) run --ip 10.0.0.5 --host cust1 /bin/sh

busybox-root: build/busybox-root
build/busybox-root: scripts/busybox-root.sh
	bash scripts/busybox-root.sh $@

test-unit:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 10m $$(go list ./... | grep -v '/test$$')

test: deps build
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	@echo "the jail suite again, every jail served by a prison daemon:"
	PRISON_TEST_DAEMON=1 $(GO) test -count=1 -timeout 20m ./test

bench: deps build
	@missing=""; for p in $(BENCH_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	$(GO) run ./bench/cmd/benchjail -out bench -prison $(BIN)

clean:
	rm -rf bin build
