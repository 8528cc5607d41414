# prison: FreeBSD jails on Linux. `make help` lists the targets.
# bash: recipes use its process substitution.
SHELL := /bin/bash
# Go: the go on PATH, else where the README installs it. Its directory
# goes first on PATH for the recipes too: the tests build with `go`.
ifeq ($(origin GO),undefined)
GO      := $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
endif
ifneq ($(findstring /,$(GO)),)
export PATH := $(patsubst %/,%,$(dir $(GO))):$(PATH)
endif
BIN     := bin/prison
# prison image pull and import run it: go-containerregistry stays out of
# prison's own start (cmd/prison-fetch says why).
FETCH   := bin/prison-fetch
# What prison version prints; a build from outside git says "devel".
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)
# $(call version_ldflags,PKG): main for prison, the import path for its tests.
version_ldflags = -X $(1).version=$(VERSION) -X $(1).commit=$(COMMIT)
# Debian packages the build, the tests and the benchmarks need.
PKGS    := libseccomp-dev busybox-static iproute2 iputils-ping procps util-linux gcc pkg-config e2fsprogs uidmap
BENCH_PKGS := bubblewrap crun runc hyperfine
# The OCI runtime's real clients, which the suite drives prison through
# (test/containerd_test.go, cri_test.go, podman_test.go). Without their
# recommends: podman's would bring systemd and more.
OCI_PKGS := containerd podman conmon containernetworking-plugins
# A static binary: no dynamic loader in the launcher's start nor in the jail
# init's exec, which is the same binary (1.3 ms of a 6.5 ms start here; see
# docs/startpath.md). netgo and osusergo keep glibc's NSS out of it.
BUILDFLAGS := -tags netgo,osusergo -ldflags '-linkmode external -extldflags -static $(call version_ldflags,main)'
SOURCES := $(shell find . -name '*.go' -o -name '*.c' -o -name '*.h' | grep -v '_test.go')
# The linter, pinned; built from source into bin/tools on first use.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := bin/tools/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
# crictl, pinned, for the CRI test (a kubelet's calls); built the same way.
CRICTL_VERSION := v1.37.0
CRICTL := bin/tools/crictl-$(CRICTL_VERSION)/crictl
# prison's OCI name: a link that containerd's BinaryName and podman's
# --runtime point at (cmd/prison/oci.go).
OCI_LINK := bin/prison-oci
# What -race checks: the packages whose tests run their own code. The
# jail suite (./test) runs the separately built binary, so -race there
# checks the suite's code only; its daemon pass runs with it.
RACE_PKGS := ./prison/... ./netns ./seccomp ./rootfs ./cgroup ./image ./internal/... ./bench ./cmd/...
# Where make install puts things: PREFIX for the files, DESTDIR in front of
# every path for a package's staging tree. The unit goes where an admin's
# units go, whatever PREFIX, and runs the prison of this PREFIX.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(PREFIX)/bin
MANDIR  := $(PREFIX)/share/man/man1
BASHCOMPDIR := $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  := $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR := $(PREFIX)/share/fish/vendor_completions.d
UNITDIR ?= /etc/systemd/system

.PHONY: all build deps test test-unit run busybox-root bench lint man completion install uninstall clean help oci-validation

all: build

help:
	@echo "make deps    install the Debian packages the build and tests need (root)"
	@echo "make build   build $(BIN)"
	@echo "make run     build, then a shell in a jail: prison run --ip 10.0.0.5 --host cust1 /bin/sh"
	@echo "make test    every test, the integration tests in real jails included (root), the unit tests"
	@echo "             again under -race, the OCI validation suite, and make lint"
	@echo "make lint    golangci-lint $(GOLANGCI_LINT_VERSION) with .golangci.yml (fetched into bin/tools the first time)"
	@echo "make bench   benchmarks against bwrap, crun and runc, and as an OCI runtime under containerd"
	@echo "             and podman (root); writes bench/RESULTS.md"
	@echo "make oci-validation [RUNTIME=crun]"
	@echo "             runtime-tools v0.9.0's OCI validation suite against RUNTIME (default $(BIN); root);"
	@echo "             fails unless all that crun passes here passes (docs/oci-validation.md)"
	@echo "make man     the man pages, one per command, in build/man"
	@echo "make install $(BIN), the man pages, the bash, zsh and fish completions and the"
	@echo "             prison-daemon systemd unit, under PREFIX=$(PREFIX) (the unit in $(UNITDIR));"
	@echo "             DESTDIR=DIR stages them in DIR"
	@echo "make uninstall"
	@echo "             remove what make install installed (with the same PREFIX and DESTDIR)"

# Installs only what is missing, so that it is cheap to run every time.
deps:
	@missing=""; for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	oci=""; for p in $(OCI_PKGS); do dpkg -s $$p >/dev/null 2>&1 || oci="$$oci $$p"; done; \
	if [ -n "$$missing$$oci" ]; then \
		echo "installing:$$missing$$oci"; \
		apt-get update -qq; \
		if [ -n "$$missing" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing || exit 1; fi; \
		if [ -n "$$oci" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$oci || exit 1; fi; \
	fi

build: $(BIN) $(FETCH) $(OCI_LINK)

$(OCI_LINK):
	ln -sf prison $@

# Rewritten when git describe's answer changes (a commit, a tag), so that
# the binary is rebuilt to say so, and only then.
build/version: FORCE
	@mkdir -p $(@D)
	@echo '$(VERSION) $(COMMIT)' | cmp -s - $@ || echo '$(VERSION) $(COMMIT)' > $@

$(BIN): $(SOURCES) go.mod go.sum build/version
	$(GO) build $(BUILDFLAGS) -o $(BIN) ./cmd/prison

$(FETCH): $(SOURCES) go.mod go.sum
	$(GO) build -tags netgo,osusergo -o $(FETCH) ./cmd/prison-fetch

# Written by the test that checks them (cmd/prison/docs_test.go says why
# there), from the command tree the help and the completion come from.
man: build/man/prison.1
build/man/prison.1: $(SOURCES) cmd/prison/docs_test.go go.mod go.sum build/version
	rm -rf build/man build/man.new
	$(GO) test -count=1 -ldflags '$(call version_ldflags,prison/cmd/prison)' -run '^TestManPages$$' ./cmd/prison -args -man $(CURDIR)/build/man.new
	mv build/man.new build/man

completion: build/completion/prison.bash
build/completion/prison.bash: $(BIN)
	@mkdir -p $(@D)
	./$(BIN) completion bash > $@
	./$(BIN) completion zsh > $(@D)/_prison
	./$(BIN) completion fish > $(@D)/prison.fish

install: build man completion
	install -D -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/prison
	install -D -m 0755 $(FETCH) $(DESTDIR)$(BINDIR)/prison-fetch
	ln -sf prison $(DESTDIR)$(BINDIR)/prison-oci
	install -d $(DESTDIR)$(MANDIR)
	install -m 0644 build/man/*.1 $(DESTDIR)$(MANDIR)/
	install -D -m 0644 build/completion/prison.bash $(DESTDIR)$(BASHCOMPDIR)/prison
	install -D -m 0644 build/completion/_prison $(DESTDIR)$(ZSHCOMPDIR)/_prison
	install -D -m 0644 build/completion/prison.fish $(DESTDIR)$(FISHCOMPDIR)/prison.fish
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/bin/prison|$(BINDIR)/prison|' contrib/prison-daemon.service > $(DESTDIR)$(UNITDIR)/prison-daemon.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/prison-daemon.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/prison $(DESTDIR)$(BINDIR)/prison-fetch $(DESTDIR)$(BINDIR)/prison-oci $(DESTDIR)$(MANDIR)/prison.1 $(DESTDIR)$(MANDIR)/prison-*.1
	rm -f $(DESTDIR)$(BASHCOMPDIR)/prison $(DESTDIR)$(ZSHCOMPDIR)/_prison $(DESTDIR)$(FISHCOMPDIR)/prison.fish
	rm -f $(DESTDIR)$(UNITDIR)/prison-daemon.service

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

$(CRICTL):
	GOBIN=$(CURDIR)/$(dir $@) $(GO) install sigs.k8s.io/cri-tools/cmd/crictl@$(CRICTL_VERSION)

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

# Lint last, so that a formatting slip does not hide the tests' verdict.
test: deps build $(GOLANGCI_LINT) $(CRICTL)
	$(GO) vet ./...
	CRICTL=$(CURDIR)/$(CRICTL) $(GO) test -count=1 -timeout 20m ./...
	@echo "the unit tests again, with the race detector:"
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)
	@echo "the jail suite again, every jail served by a prison daemon (and the suite's code under -race):"
	PRISON_TEST_DAEMON=1 $(GO) test -race -count=1 -timeout 20m ./test
	@echo "the jail suite again, every jail without a user namespace of its own (--userns host):"
	PRISON_USERNS=host $(GO) test -count=1 -timeout 20m ./test
	@echo "the OCI runtime-tools validation suite (make oci-validation):"
	$(MAKE) --no-print-directory oci-validation RUNTIME=$(BIN)
	$(GOLANGCI_LINT) run ./...

bench: deps build
	@missing=""; for p in $(BENCH_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	$(GO) run ./bench/cmd/benchjail -out bench -prison $(BIN)

# What make oci-validation tests: bin/prison, or RUNTIME=crun, runc, a path.
RUNTIME ?= $(BIN)

# runtime-tools' OCI validation suite, built into bin/tools on first use, against
# RUNTIME: all that scripts/oci-validation.pass lists (crun's passes here) must
# pass. OCI_VALIDATION_FLAGS: the script's options (--only 'kill state', --verbose).
# prison is held to crun's passes but for its refusals, each with its reason
# in scripts/oci-validation.prison-refuses.
oci-validation: deps build
	@mkdir -p build
	@if [ "$(RUNTIME)" = "$(BIN)" ]; then \
		grep -v -x -F -f <(grep -v '^#' scripts/oci-validation.prison-refuses) scripts/oci-validation.pass \
			| grep -v -F -f <(grep -v '^#' scripts/oci-validation.prison-refuses | sed 's/$$/: /') > build/oci-validation.allow; \
	else cp scripts/oci-validation.pass build/oci-validation.allow; fi
	bash scripts/oci-validation.sh --allowlist build/oci-validation.allow $(OCI_VALIDATION_FLAGS) $(RUNTIME)

clean:
	rm -rf bin build

FORCE:
