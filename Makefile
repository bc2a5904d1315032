# LMKit — the two commands a newcomer runs: `make demo` and `make test`. `make bench` prints speed ratios.
SWIFT ?= swift
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build release test test-python bench demo clean

# System packages the build needs. SwiftPM's `providers:` only prints a hint, so install them here.
deps:
	@pkg-config --exists openblas || { \
	  echo "==> installing libopenblas-dev (BLAS for matrix work)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libopenblas-dev pkg-config; }

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

test-python:
	@if command -v $(PYTHON) >/dev/null 2>&1; then \
	  $(PYTHON) Scripts/crosscheck/run_all.py --swift "$(SWIFT)"; \
	else echo "==> python3 not found: skipping the Python cross-checks"; fi

bench: release
	.build/release/lmkit bench core

demo: release
	@echo "==> make demo arrives with the GPT model (issue 5)"; false

clean:
	rm -rf .build
