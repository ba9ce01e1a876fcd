# make demo   create .venv, install everything, serve the Gradio demo on the shipped models
#             (default.pt first, digits.pt in the picker;
#             flags: make demo DEMO_ARGS="--port 8000 --model data/models/digits.pt")
# make test   create or update .venv and run the test suite
# make lint   ruff (lint and format check) over the package, tests, recipes and demo
# make kenlm  compile KenLM's build_binary and cache the shipped LM's binary form:
#             `asr transcribe` with the LM then starts in under a second (docs/deploy.md)
# make runtime-check  install the torch-free runtime in .venv-runtime and transcribe there

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := ffmpeg sox libsndfile1 chromium espeak-ng flite g++ zlib1g-dev

.PHONY: demo test test-slow lint system-deps venv kenlm runtime-check

demo: system-deps $(STAMP)
	$(BIN)/python demo.py $(DEMO_ARGS)

test: system-deps $(STAMP) kenlm runtime-check
	$(BIN)/python -m pytest

test-slow: system-deps $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check asr tests recipes demo.py benchmarks
	$(BIN)/ruff format --check asr tests recipes demo.py benchmarks

venv: $(STAMP)

# g++ and zlib's headers (system-deps); the tool lands in ~/.cache/asr/bin, once
kenlm: system-deps $(STAMP)
	PYTHON=$(BIN)/python tools/build_kenlm.sh
	$(BIN)/asr lm binary data/models/english-3gram.arpa.gz

runtime-check: $(STAMP)
	PYTHON=$(PYTHON) TORCH_PYTHON=$(BIN)/python tools/runtime_check.sh

# Reinstalled whenever pyproject.toml changes; pip's cache makes that quick.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the audio loader and the tests use; installed only when missing.
system-deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "warning: missing Debian packages: $$missing (sudo apt-get install $$missing)"; \
		fi; \
	fi
