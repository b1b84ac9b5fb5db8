# edgemq: see README.md. `make run` and `make test` do all set-up themselves.

GO      ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN     := bin/edgemq
FUZZTIME ?= 10m

export CGO_ENABLED ?= 0

.PHONY: all build run test test-unit test-race lint bench fuzz faults soak deps go clean \
	cross size test-cross test-smoke deb test-deb test-openwrt

all: build

go:
	@$(GO) version >/dev/null 2>&1 || { echo "Go 1.26 or newer is needed: https://go.dev/dl (expected at /usr/local/go/bin/go)" >&2; exit 1; }

build: go
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/edgemq

# run: the broker with its embedded default (127.0.0.1:1883, anonymous,
# data in ./edgemq-data).
run: build
	./$(BIN)

deps:
	@scripts/test-deps.sh

# test: everything a change must pass. Installs missing Debian packages
# (mosquitto, mosquitto-clients, socat, gcc, qemu-user-static, chromium) or says what
# to install.
test: go deps lint test-unit test-race

test-unit:
	$(GO) test -count=1 -timeout 20m ./...

# The race detector needs cgo; it runs on the packages with concurrency.
test-race:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./broker/ ./storage/ ./transport/... ./auth/ ./logs/ ./monitor/

lint-fast: go
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

lint: lint-fast
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# bench: codec and routing micro-benchmarks, then whole-broker load against
# mosquitto side by side (see bench/README.md).
bench: build deps
	$(GO) test -run '^$$' -bench . -benchmem ./broker/packet/ ./broker/
	@mkdir -p bench/results
	$(GO) run ./bench/cmd/mqttbench -edgemq $(BIN) -json bench/results/mqttbench.json
	$(GO) test -run '^$$' -bench 'BridgeDrain|BridgeForward' -benchtime 1000000x -timeout 30m ./bridge/

# faults: the fault suite at full length (faults/doc.go), one line per
# scenario and "N passed, M failed". make test runs its short form.
faults: go deps build
	GO=$(GO) scripts/faults.sh

# soak: mixed load for DURATION (default 1h), sampling RSS, goroutines,
# open files and store size every 10 s into a CSV and a PNG plot.
DURATION ?= 1h
soak: go deps build
	EDGEMQ_SOAK=$(DURATION) $(GO) test -count=1 -timeout 0 -run 'TestSoak' -v ./faults/

fuzz: go
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# cross: static, stripped binaries for every target board into dist/, and a
# table of their sizes (scripts/cross-build.sh).
cross: go
	VERSION=$(VERSION) COMMIT=$(COMMIT) scripts/cross-build.sh

# size: what each dependency adds to the linux/mipsle softfloat binary
# (docs/size.md). SIZE_TARGET=arm64 for another target.
size: go
	scripts/size-report.sh $(SIZE_TARGET)

# test-cross: unit tests of the portable packages and the storage
# conformance suite under qemu-user for arm, mipsle and riscv64
# (scripts/test-cross.sh says which packages and CPUs).
test-cross: go deps
	scripts/test-cross.sh

# test-smoke: each cross-built binary under qemu serves mosquitto clients
# and keeps its data across a restart (scripts/smoke-test.sh).
test-smoke: go deps
	scripts/smoke-test.sh

# deb: Debian packages for amd64, arm64, armhf and riscv64 in dist/
# (packaging/deb/build-deb.sh). test-deb also lints them and installs
# each into a throw-away root (packaging/deb/test-deb.sh).
deb: go
	VERSION=$(VERSION) COMMIT=$(COMMIT) packaging/deb/build-deb.sh

test-deb: go deps
	VERSION=$(VERSION) COMMIT=$(COMMIT) packaging/deb/test-deb.sh

# test-openwrt: the OpenWrt package's UCI-to-YAML conversion on sample
# files, checked with edgemq check (packaging/openwrt/test/test-openwrt.sh).
test-openwrt: go deps
	packaging/openwrt/test/test-openwrt.sh

clean:
	rm -rf bin dist
