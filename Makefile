# supervisor: build, test, demo, bench. Only Go (and, for the PID 1 tests, unshare
# from util-linux, run as root) is needed.
GO    ?= go
BIN   := bin
PKGS  := ./...
# make install puts the binaries in $(DESTDIR)$(PREFIX)/bin: DESTDIR stages a
# package (DESTDIR=/tmp/pkg), PREFIX is where they will run from. INIT_LINKS=1
# adds the links tini, docker-init and dumb-init to supervisor, which then takes
# that tool's command line (docs/container.md).
PREFIX     ?= /usr/local
DESTDIR    ?=
INIT_LINKS ?=
INIT_NAMES := tini docker-init dumb-init
# The version `supervisor version` prints: a tag or a short commit, "-dirty"
# when the tree has uncommitted changes; "devel" outside a git checkout. (The
# full commit and whether the tree was modified come from go build itself:
# internal/buildinfo; -buildvcs=auto overrides a GOFLAGS=-buildvcs=false.)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/supervisor/supervisor/internal/buildinfo.Version=$(VERSION) \
	-X github.com/supervisor/supervisor/internal/buildinfo.Commit=$(COMMIT)

.PHONY: all build install demo test vet leakcheck bench bench-go chaos clean

all: build

# Static binaries (no cgo): a container init must run in an image without libc,
# and not mapping libc saves the supervisor about 0.3 MiB of PSS. (The tests'
# own binaries keep cgo: the race detector needs it.)
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# supervisor, and child beside it (supervisor needs nothing else, its demo
# included: the demo's workers are built in; child is the same worker as a
# binary of its own). (bin/bench is a development tool and is not installed.)
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN)/supervisor $(BIN)/child $(DESTDIR)$(PREFIX)/bin/
	@if [ "$(INIT_LINKS)" = 1 ]; then \
		for n in $(INIT_NAMES); do ln -sfn supervisor $(DESTDIR)$(PREFIX)/bin/$$n; done; \
		echo "install: links $(INIT_NAMES) -> supervisor in $(DESTDIR)$(PREFIX)/bin"; \
	fi

# The main job: the embedded default config. Ctrl-C stops it cleanly.
demo: build
	./$(BIN)/supervisor demo

# The whole suite: vet, unit and integration tests under the race detector (the
# integration tests build and run the real binaries, some as PID 1 in a PID
# namespace when run as root), then a check that nothing was left behind.
# TEST_RUN marks the environment of everything the run starts (children inherit
# it), so the leak check judges those processes only, not a supervisor that
# happens to run on the same host.
ifndef TEST_RUN
TEST_RUN := supervisor-test-$(shell date +%s%N)
endif
test: build vet
	SUPERVISOR_TEST_RUN=$(TEST_RUN) $(GO) test -race -count=1 -timeout 15m $(PKGS)
	@$(MAKE) --no-print-directory leakcheck TEST_RUN=$(TEST_RUN)

vet:
	$(GO) vet $(PKGS)
	@unformatted=$$(gofmt -l cmd internal protocol clients); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

# Fails if a process the test run started is still there, running or as a
# zombie: one whose environment carries this run's TEST_RUN marker, or a zombie
# whose parent does. (Other processes, and other processes' zombies, are not
# ours to judge.)
leakcheck:
	@left=$$(for d in /proc/[0-9]*; do \
		pid=$${d#/proc/}; \
		[ "$$pid" = "$$$$" ] && continue; \
		if grep -qsz '^SUPERVISOR_TEST_RUN=$(TEST_RUN)$$' $$d/environ; then \
			echo "$$pid $$(cat $$d/comm 2>/dev/null)"; \
		elif awk '{ exit !($$3 == "Z") }' $$d/stat 2>/dev/null; then \
			ppid=$$(awk '{print $$4}' $$d/stat 2>/dev/null); \
			grep -qsz '^SUPERVISOR_TEST_RUN=$(TEST_RUN)$$' /proc/$$ppid/environ && echo "$$pid zombie of $$ppid"; \
		fi; \
	done); \
	if [ -n "$$left" ]; then echo "leakcheck: processes left behind by this test run:"; echo "$$left"; exit 1; fi; \
	echo "leakcheck: no leftover processes, no zombies"

# Whole-binary and Go benchmarks, with a bare os/exec loop measured side by side.
bench: build
	$(GO) build -o $(BIN)/bench ./internal/bench && ./$(BIN)/bench -bin $(BIN)
	$(GO) test -run '^$$' -bench . -benchtime 200x ./internal/supervise/
	$(GO) test -run '^$$' -bench . -cpu 1,2 ./internal/ipc/
	$(GO) test -run '^$$' -bench . -benchtime 50x ./internal/control/
	$(GO) test -run '^$$' -bench . -benchtime 20x ./internal/proctree/

# Hostile children and clients against the built binaries (internal/chaos): a
# kill storm over 200 programs, three 100 MiB output floods, a lease flood, a
# frame flood, garbage on a pipe, 2,000 idle control connections, then the
# supervisor SIGKILLed. One table; a few minutes; loopback and local processes
# only. Exits non-zero if an exit status was lost, a zombie outlived a second or
# a program outlived the supervisor. Not part of make test.
chaos: build
	CGO_ENABLED=0 $(GO) build -o $(BIN)/chaos ./internal/chaos && ./$(BIN)/chaos -bin $(BIN)

clean:
	rm -rf $(BIN)
