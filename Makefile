# simplekv — see README.md. Every target works on a machine with only Go.
GO        ?= go
PKGS      := ./...
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME  ?= 30s
# CI fuzzes for a number of executions, not a duration: with a duration, Go
# 1.26's fuzz coordinator can fail a clean run with a bare "context deadline
# exceeded" at the end (go.dev/issue/75804, fixed in Go 1.27).
CI_FUZZ_RECORDS ?= 300000x
CI_FUZZ_HINTS   ?= 200000x
CI_FUZZ_DIRS    ?= 20000x
CRASH_KILLS ?= 1000
SWEEP_STEPS ?= 2000

.PHONY: all build test test-short bench bench-large bench-readme bench-go fuzz lint crash sweep clean

all: build test

build:
	$(GO) build $(PKGS)

## test: vet, the whole suite with the race detector, then a bounded run of
## each fuzz target (what CI runs).
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(CI_FUZZ_RECORDS) -fuzzminimizetime 200x ./datafile/
	$(GO) test -run '^$$' -fuzz '^FuzzScanner$$' -fuzztime $(CI_FUZZ_RECORDS) -fuzzminimizetime 200x ./datafile/
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(CI_FUZZ_HINTS) -fuzzminimizetime 200x ./hintfile/
	$(GO) test -run '^$$' -fuzz '^FuzzOpenDir$$' -fuzztime $(CI_FUZZ_DIRS) -fuzzminimizetime 50x ./engine/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime $(CI_FUZZ_HINTS) -fuzzminimizetime 200x ./replica/

## test-short: the quick subset (long variants skipped with -short).
test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: kvbench on its default: simplekv against bbolt, badger, pebble and
## goleveldb, 1M keys, 16 B keys, 100 B values, temp dir (about 2 minutes).
bench:
	$(GO) run ./cmd/kvbench

## bench-large: kvbench with 10M keys (about 15 minutes; a few GiB of disk per engine at a time).
bench-large:
	$(GO) run ./cmd/kvbench -n 10000000

## bench-raft: kvbench's raft workloads: raftlog against raft-wal and
## raft-boltdb, fresh and after a 300k-entry burst and head delete, and a
## 3-node loopback cluster with 16 clients (about a minute).
bench-raft:
	$(GO) run ./cmd/kvbench -workloads raft-append,raft-append-truncated,raft-cluster -duration 5s

## bench-readme: kvbench on its default, writing docs/bench/ (results.json,
## results.md, chart.svg, chart.png) and the README's results section (between
## the <!-- kvbench:begin --> and <!-- kvbench:end --> lines).
bench-readme:
	$(GO) run ./cmd/kvbench -out docs/bench -readme README.md

## bench-go: the testing.B benchmarks (benchstat-friendly output). The package
## benchmarks run 5 times; bench/ (kvbench's throughput workloads on every engine, about
## 1.5 minutes a round because the peers are slow) BENCH_COUNT times, default 1.
## To compare commits: make bench-go BENCH_COUNT=5 > new.txt; benchstat old.txt new.txt
## (or narrow it: go test -run '^$$' -bench '/simplekv$$' -count 5 ./bench/).
BENCH_COUNT ?= 1
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./engine/ ./keydir/ ./datafile/ ./hintfile/ ./raftlog/
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) -timeout 60m ./bench/

## fuzz: each fuzz target for FUZZTIME. (A bare "context deadline exceeded"
## with no reproducer written is go.dev/issue/75804, not a finding.)
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./datafile/
	$(GO) test -run '^$$' -fuzz '^FuzzScanner$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./datafile/
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./hintfile/
	$(GO) test -run '^$$' -fuzz '^FuzzOpenDir$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./engine/
	$(GO) test -run '^$$' -fuzz '^FuzzRestore$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./engine/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./engine/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommand$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./replica/

## crash: the SIGKILL crash loop with CRASH_KILLS kills (CI runs a short one).
crash:
	SIMPLEKV_CRASH_KILLS=$(CRASH_KILLS) $(GO) test -run 'TestCrash' -count=1 -timeout 60m -v ./engine/

## sweep: the power-loss and fault sweeps over a SWEEP_STEPS-step workload
## (CI runs 700 and 120 steps; 2,000 takes about half an hour, mostly the fault sweep).
sweep:
	SIMPLEKV_SWEEP_STEPS=$(SWEEP_STEPS) SIMPLEKV_FAULT_STEPS=$(SWEEP_STEPS) $(GO) test -run 'TestPowerLossSweep|TestFaultSweep' -count=1 -timeout 120m -v ./engine/

## lint: gofmt, vet and staticcheck.
lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

clean:
	$(GO) clean -testcache
