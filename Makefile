# LMKit — the two commands a newcomer runs: `make demo` and `make test`. `make bench` prints speed ratios.
SWIFT ?= swift
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build release test test-python fuzz bench demo clean

# System packages the build needs. SwiftPM's `providers:` only prints a hint, so install them here.
deps:
	@pkg-config --exists openblas || { \
	  echo "==> installing libopenblas-dev (BLAS for matrix work)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenblas-dev pkg-config; }
	@pkg-config --exists fftw3 fftw3f || { \
	  echo "==> installing libfftw3-dev (FFTs for S4D's long convolutions)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libfftw3-dev pkg-config; }
	@{ pkg-config --exists ompi-c && command -v mpirun >/dev/null; } || { \
	  echo "==> installing libopenmpi-dev openmpi-bin (data-parallel training: mpirun -np N lmkit train)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenmpi-dev openmpi-bin pkg-config; }

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Unit tests (debug), then the cross-checks with Python libraries when python3 is present
# (files LMKit writes must load in the reference tools). `swift test` itself never needs Python.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel --num-workers 2
	$(MAKE) test-python

# The seeded mutation fuzzers of every file reader (Tests/*/…FuzzTests.swift) with many more inputs than `make test`
# runs; FUZZ_ITERATIONS inputs per reader. A crash stops the run with the reader's stack (Docs/Reliability.md).
FUZZ_ITERATIONS ?= 5000
fuzz: deps
	$(SWIFT) build --build-tests
	LMKIT_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(SWIFT) test --skip-build --filter 'FuzzTests'

test-python:
	@if command -v $(PYTHON) >/dev/null 2>&1; then \
	  $(PYTHON) Scripts/crosscheck/run_all.py --swift "$(SWIFT)"; \
	else echo "==> python3 not found: skipping the Python cross-checks"; fi

bench: release
	.build/release/lmkit bench core

# Trains a character-level GPT on the bundled Shakespeare for a few minutes, then samples from it.
# `make demo FULL=1` runs nanoGPT's whole CPU recipe instead (configs/shakespeare_char.json, val loss ~1.9).
DEMO_CONFIG := $(if $(FULL),configs/shakespeare_char.json,configs/demo.json)
DEMO_OUT := $(if $(FULL),out/shakespeare-char,out/demo)
demo: release
	@test -f data/shakespeare_char/meta.json || \
	  .build/release/lmkit prepare --tokenizer char --input data/tinyshakespeare.txt --out data/shakespeare_char
	.build/release/lmkit train --config $(DEMO_CONFIG)
	@echo "==> sample from $(DEMO_OUT):"
	@.build/release/lmkit sample --model $(DEMO_OUT) --prompt "ROMEO:" --max-new-tokens 500

clean:
	rm -rf .build
