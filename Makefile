# prison: FreeBSD jails on Linux. `make help` lists the targets.
# Go: the go on PATH, else where the README installs it. Its directory
# goes first on PATH for the recipes too: the tests build with `go`.
ifeq ($(origin GO),undefined)
GO      := $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
endif
ifneq ($(findstring /,$(GO)),)
export PATH := $(patsubst %/,%,$(dir $(GO))):$(PATH)
endif
BIN     := bin/prison
# Debian packages the build, the tests and the benchmarks need.
PKGS    := libseccomp-dev busybox-static iproute2 iputils-ping procps util-linux gcc pkg-config
BENCH_PKGS := bubblewrap crun runc hyperfine
# A static binary: no dynamic loader in the launcher's start nor in the jail
# init's exec, which is the same binary (1.3 ms of a 6.5 ms start here; see
# docs/startpath.md). netgo and osusergo keep glibc's NSS out of it.
BUILDFLAGS := -tags netgo,osusergo -ldflags '-linkmode external -extldflags -static'
SOURCES := $(shell find . -name '*.go' -o -name '*.c' -o -name '*.h' | grep -v '_test.go')
# The linter, pinned; built from source into bin/tools on first use.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := bin/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
# What -race checks: the packages whose tests run their own code. The
# jail suite (./test) runs the separately built binary, so -race there
# checks the suite's code only; its daemon pass runs with it.
RACE_PKGS := ./prison ./netns ./seccomp ./rootfs ./internal/... ./bench

.PHONY: all build deps test test-unit run busybox-root bench lint clean help

all: build

help:
	@echo "make deps    install the Debian packages the build and tests need (root)"
	@echo "make build   build $(BIN)"
	@echo "make run     build, then a shell in a jail: prison run --ip 10.0.0.5 --host cust1 /bin/sh"
	@echo "make test    every test, the integration tests in real jails included (root), the unit tests"
	@echo "             again under -race, and make lint"
	@echo "make lint    golangci-lint $(GOLANGCI_LINT_VERSION) with .golangci.yml (fetched into bin/tools the first time)"
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

# Under a directory only root can enter: prison refuses a --root that other
# users can reach (a tenant's setuid file there would be theirs to run).
busybox-root: build/jails/busybox-root
build/jails/busybox-root: scripts/busybox-root.sh
	install -d -m 0700 build/jails
	bash scripts/busybox-root.sh $@

test-unit:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 10m $$($(GO) list ./... | grep -v '/test$$')

$(GOLANGCI_LINT):
	GOBIN=$(CURDIR)/$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

# Lint last, so that a formatting slip does not hide the tests' verdict.
test: deps build $(GOLANGCI_LINT)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	@echo "the unit tests again, with the race detector:"
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)
	@echo "the jail suite again, every jail served by a prison daemon (and the suite's code under -race):"
	PRISON_TEST_DAEMON=1 $(GO) test -race -count=1 -timeout 20m ./test
	$(GOLANGCI_LINT) run ./...

bench: deps build
	@missing=""; for p in $(BENCH_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	$(GO) run ./bench/cmd/benchjail -out bench -prison $(BIN)

clean:
	rm -rf bin build
