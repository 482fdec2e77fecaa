# The smoke suite's entry points. `make help` lists them; docs/settings.md explains the settings.
SHELL := /bin/bash
GO ?= go

# GPU=1 builds the suite with -tags gpu: NVML, a driver and a GPU become required.
# FAKEGPU=1 (for the suite's own tests) swaps NVML for a go-nvml mock RTX 4090; see SMOKE_FAKE_GPU.
TAGSET := $(strip $(if $(filter 1,$(GPU)),gpu) $(if $(filter 1,$(FAKEGPU)),fakegpu))
TAGS := $(if $(TAGSET),-tags '$(TAGSET)',)
# The suite's binaries, built once per set of tags: make smoke runs them through scripts/run-smoke,
# the same script an unpacked bundle runs. SMOKE_OUT and the other settings are the suite's:
# it names the default evidence directory itself (runs/<UTC timestamp>/).
empty :=
BINDIR := .bin/$(or $(subst $(empty) $(empty),-,$(TAGSET)),plain)
GO_SOURCES := $(shell find . -name '*.go' -not -path './.git/*' -not -path './deploy/*' -not -path './runs/*' -not -path './dist/*' -not -path './.bin/*') go.mod go.sum
EMBEDDED := $(shell find testdata/difftrain testdata/standins -type f -not -name '*.pyc' -not -path '*/__pycache__/*') $(wildcard testdata/fixture-*plan.yaml runbook/*.yaml) gpuenv/probe.py
# RUNS are the evidence directories `make checklist` renders: by default the newest complete run
# under runs/. MATRIX is where the matrix of several RUNS goes.
RUNS ?=
MATRIX ?= checklist-matrix.md
FUZZTIME ?= 30s
# GPUS=all (or NVML indexes, GPUS=0,3,5) makes make smoke a node run: the plan once per GPU,
# all at once (SMOKE_GPUS).
GPUS ?=
# TESTFLAGS are extra go test flags for make smoke, for example -run 'Test0[0-5]' or -shuffle=on.
TESTFLAGS ?=

.PHONY: help smoke plans conformance checklist verify test fixture-test bench fuzz bundle slurm-test device-check clean

help:
	@echo 'make smoke      run the runbook (fixture unless DIFFTRAIN_DIR is set; GPU=1 for -tags gpu; GPUS=all for every GPU; SMOKE_PLAN=pytest-lanes)'
	@echo 'make plans      list the built-in plans SMOKE_PLAN can name, and the runbook each follows'
	@echo 'make conformance  the suite against DIFFTRAIN_DIR (a real checkout; the fixture if unset) on CPU, offline (PLAN=pytest-lanes)'
	@echo 'make checklist  render checklist.md and report.md again (RUNS="dir1 dir2" for a matrix)'
	@echo 'make verify     re-check SHA256SUMS of an evidence directory (RUNS=dir)'
	@echo 'make test       vet and run every test, including end-to-end runs of make smoke'
	@echo 'make bench      benchmarks, as ratios against baselines in the same run, then make bench-whole'
	@echo 'make bench-whole  the whole-run figures of docs/benchmarks.md (BENCH_ONLY=smoke|stream|fleet|junit|node, BENCH_N=7)'
	@echo 'make fuzz       run every fuzz target for FUZZTIME each'
	@echo 'make bundle     dist/gpusmoke-<version>-linux-<arch>.tar.gz for an instance without Go (ARCH=arm64)'
	@echo 'make slurm-test the Slurm fleet test alone, against a local slurmctld and two slurmd'
	@echo 'make device-check  on an NVIDIA GPU: the gpu bundle, gpu_env.json against nvidia-smi'

# The suite through gotestsum (scripts/run-smoke): JUnit and the go test -json stream land in
# SMOKE_OUT, then the documents are rendered from the JUnit and the directory sealed, whether the
# run passed or not. A bad setting is one line. A Ctrl-C marks the running section INTERRUPTED and
# the documents are still rendered. run-smoke exits 0 to 4 (README, "Verdicts and exit codes"); make
# itself can only exit 0 or 2, so run-smoke names its own code on the line before make's.
smoke: $(BINDIR)/smoke.test $(BINDIR)/gotestsum $(BINDIR)/test2json $(BINDIR)/checklist
	@$(if $(GPUS),SMOKE_GPUS='$(GPUS)') GPUSMOKE_BIN=$(BINDIR) GPUSMOKE_CWD="$${PWD:-$(CURDIR)}" scripts/run-smoke $(TESTFLAGS)

# The harness's version and commit (scripts/harness-ldflags), stamped into smoke.test and so into
# every run.json: the file changes, and smoke.test is rebuilt, only when they do.
$(BINDIR)/ldflags: FORCE
	@mkdir -p $(BINDIR) && t=$$(mktemp) && scripts/harness-ldflags >$$t && \
	  { cmp -s $$t $@ && rm -f $$t || mv -f $$t $@ 2>/dev/null || rm -f $$t; }

$(BINDIR)/smoke.test: $(GO_SOURCES) $(EMBEDDED) $(BINDIR)/ldflags
	$(GO) test -c $(TAGS) -ldflags "$$(cat $(BINDIR)/ldflags)" -o $@.$$$$.tmp ./smoke && mv -f $@.$$$$.tmp $@

.PHONY: FORCE
FORCE:

# gotestsum runs as its own binary, not under `go tool`, which would hand it a second Ctrl-C.
# Each binary is built beside its target and renamed into place: another make (a second
# terminal, or the tests, which run make smoke from several packages at once) may be running the
# old one or building the same target, and must never exec a half-written file.
.bin/gotestsum: go.mod go.sum
	$(GO) build -o $@.$$$$.tmp gotest.tools/gotestsum && mv -f $@.$$$$.tmp $@

.bin/test2json: go.mod
	$(GO) build -o $@.$$$$.tmp cmd/test2json && mv -f $@.$$$$.tmp $@

.bin/checklist: $(GO_SOURCES)
	CGO_ENABLED=0 $(GO) build -o $@.$$$$.tmp ./cmd/checklist && mv -f $@.$$$$.tmp $@

$(BINDIR)/gotestsum $(BINDIR)/test2json $(BINDIR)/checklist: $(BINDIR)/%: .bin/%
	@mkdir -p $(BINDIR) && ln -sf ../$* $@

# The built-in plans (go test -list prints them after the sections' tests).
plans: $(BINDIR)/smoke.test
	@$(BINDIR)/smoke.test -test.list '^$$'

# The conformance lane: the suite against a real difftrain checkout (DIFFTRAIN_DIR; the fixture
# when unset) on a CPU, with no GPU and no network. The stand-in model packages in
# testdata/standins and the checkout's src go first on PYTHONPATH, and the plan deviates only in
# its install step, an import check. With the runbook's plan, sections 00-06 must PASS and AMP is
# SKIPPED (no CUDA); with PLAN=pytest-lanes, the unit lane runs difftrain's own CPU tests and the
# GPU lane is SKIPPED with pytest's reason.
CONFORMANCE_PYTHON ?= /usr/bin/python3
PLAN ?= runbook
conformance:
	@$(MAKE) --no-print-directory smoke SMOKE_PLAN="$(CURDIR)/testdata/conformance-$(if $(filter runbook,$(PLAN)),,$(PLAN)-)plan.yaml" \
	  SMOKE_PYTHON="$${SMOKE_PYTHON:-$(CONFORMANCE_PYTHON)}" \
	  PYTHONPATH="$(CURDIR)/testdata/standins$(if $(DIFFTRAIN_DIR),:$(abspath $(DIFFTRAIN_DIR))/src)$${PYTHONPATH:+:$$PYTHONPATH}"

# Renders RUNS again (by default the newest complete run under runs/), from its junit.xml; refuses
# evidence changed since it was sealed. Several RUNS make one matrix in MATRIX.
checklist: .bin/checklist
	@set -- $(RUNS); if [ $$# -gt 1 ]; then .bin/checklist fleet -o "$(MATRIX)" -runs "$$@"; else .bin/checklist render "$$@"; fi

verify: .bin/checklist
	@.bin/checklist verify $(RUNS)

test: fixture-test
	$(GO) build ./...
	$(GO) vet ./...
	$(GO) vet -tags gpu ./...
	$(GO) vet -tags 'gpu fakegpu' ./smoke
	$(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v '/smoke$$')

# The fixture's own CPU test lane, in a copy (pytest would write caches into testdata/), without
# the shell's PYTHON* and PIP_* variables (a PYTHONHOME there would skip it).
FIXTURE_PYTHON ?= /usr/bin/python3
fixture-test:
	@for v in $$(compgen -e); do case $$v in PYTHON*|PIP_*) unset "$$v";; esac; done; \
	if $(FIXTURE_PYTHON) -c 'import pytest' 2>/dev/null; then \
	  d=$$(mktemp -d) && cp -r testdata/difftrain $$d/ && cd $$d && \
	  $(FIXTURE_PYTHON) -B -m pytest ./difftrain/tests -m "not slow and not integration" -q -p no:cacheprovider; \
	  status=$$?; rm -rf $$d; exit $$status; \
	else echo "fixture self-test skipped: $(FIXTURE_PYTHON) has no pytest (apt-get install python3-pytest)"; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $$($(GO) list ./... | grep -v '/smoke$$')
	@$(MAKE) --no-print-directory bench-whole

# The whole-run figures a user feels (docs/benchmarks.md): make smoke on the fixture, a step that
# prints 1 GiB, the fleet report of 1,000 runs and the checklist of a 10,000-testcase JUnit, each
# run BENCH_N times alternately with its baseline; BENCH_ONLY picks some (smoke,stream,fleet,junit,node).
# It needs about 3 GiB free under $TMPDIR and a few minutes; no figure fails it, only an error.
BENCH_N ?= 7
BENCH_ONLY ?= smoke,stream,fleet,junit,node
.PHONY: bench-whole
bench-whole:
	$(GO) run ./internal/wholebench -n $(BENCH_N) -only $(BENCH_ONLY)

fuzz:
	@for pkg in $$($(GO) list ./... | grep -v '/smoke$$'); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# make bundle: dist/gpusmoke-<VERSION>-linux-<ARCH>.tar.gz (and the same files unpacked beside it)
# for an instance without Go. deploy/build-bundle does it; it reads VERSION, ARCH (amd64, arm64 or
# "amd64 arm64"; default this machine's), BUNDLE_TAGS (default gpu) and DIST (default dist).
bundle:
	@GO="$(GO)" deploy/build-bundle

# The Slurm test alone: starts munged, slurmctld and two slurmd under the test's temp dir.
slurm-test:
	GPUSMOKE_REQUIRE_SLURM=1 $(GO) test -count=1 -v -run 'TestSlurm' ./deploy

# On a machine with an NVIDIA GPU: the gpu-tagged bundle against the fixture, then gpu_env.json
# compared with nvidia-smi field by field (scripts/device-check). GPUS=all makes the run a node run.
device-check:
	@GO="$(GO)" VERSION=device-check ARCH= BUNDLE_TAGS=gpu DIST=dist deploy/build-bundle
	$(if $(GPUS),SMOKE_GPUS='$(GPUS)') GPUSMOKE_DIR=dist/gpusmoke-device-check-linux-$$($(GO) env GOARCH) scripts/device-check

clean:
	rm -rf dist .bin
