# Two commands do all the set-up on a fresh machine:
#   make demo   install into .venv, build the sample case, ingest, detect, serve the UI
#   make test   install into .venv (and the headless browser), lint, run every test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_WORKSPACE ?= demo-workspace
HOST ?= 127.0.0.1
PORT ?= 8050

.PHONY: demo test lint browser clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian's chromium for the browser tests and poppler's pdftoppm for briefing pages.
browser:
	@if ! command -v chromium >/dev/null || ! command -v pdftoppm >/dev/null; then \
		echo "installing chromium and poppler-utils (Debian packages) for the browser and PDF tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver poppler-utils >/dev/null; \
	fi

demo: $(STAMP)
	rm -rf $(DEMO_WORKSPACE)
	$(BIN)/sybilscope --workspace $(DEMO_WORKSPACE) ingest sample_data/case
	$(BIN)/sybilscope --workspace $(DEMO_WORKSPACE) detect
	$(BIN)/sybilscope --workspace $(DEMO_WORKSPACE) serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) browser lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_WORKSPACE) .pytest_cache
