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

.PHONY: all build install demo test vet leakcheck bench bench-go clean

all: build

# Static binaries (no cgo): a container init must run in an image without libc,
# and not mapping libc saves the supervisor about 0.3 MiB of PSS. (The tests'
# own binaries keep cgo: the race detector needs it.)
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

# supervisor, and child beside it: `supervisor demo` runs the embedded config's
# workers from the child binary in its own directory. (bin/bench is a development
# tool and is not installed.)
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
test: build vet
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	@$(MAKE) --no-print-directory leakcheck

vet:
	$(GO) vet $(PKGS)
	@unformatted=$$(gofmt -l cmd internal); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

# Fails if a test left a supervisor, a worker or a test binary behind, running or
# as a zombie. (Other processes' zombies are not ours to judge.)
leakcheck:
	@left=$$(ps -eo pid=,ppid=,stat=,comm= | awk '$$4 ~ /^(supervisor|child|supervisor-work)$$/ || $$4 ~ /\.test$$/'); \
	if [ -n "$$left" ]; then echo "leakcheck: processes left behind:"; echo "$$left"; exit 1; fi; \
	echo "leakcheck: no leftover processes, no zombies"

# Whole-binary and Go benchmarks, with a bare os/exec loop measured side by side.
bench: build
	$(GO) build -o $(BIN)/bench ./internal/bench && ./$(BIN)/bench -bin $(BIN)
	$(GO) test -run '^$$' -bench . -benchtime 200x ./internal/supervise/
	$(GO) test -run '^$$' -bench . -cpu 1,2 ./internal/ipc/
	$(GO) test -run '^$$' -bench . -benchtime 50x ./internal/control/
	$(GO) test -run '^$$' -bench . -benchtime 20x ./internal/proctree/

clean:
	rm -rf $(BIN)
