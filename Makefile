# Two commands do all the set-up on a fresh machine:
#   make demo   install into .venv, build the sample case, ingest, detect, serve the UI
#   make test   install into .venv (and Debian's chromium, pango), lint (ruff, the layer contracts), run every test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_WORKSPACE ?= demo-workspace
HOST ?= 127.0.0.1
PORT ?= 8050

.PHONY: demo test lint system-deps clean bench examples

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages: pango and fonts for PDF briefings (weasyprint), chromium for the
# browser tests, poppler's pdftoppm to render briefing pages in the tests.
# Java 17 for the Spark engine's tests (a local-cluster).
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core chromium chromium-driver poppler-utils \
	openjdk-17-jre-headless
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v pdftoppm >/dev/null || ! command -v java >/dev/null \
		|| ! /sbin/ldconfig -p | grep -q libpangoft2-1.0; then \
		echo "installing Debian packages: $(SYSTEM_PACKAGES)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

demo: $(STAMP) system-deps
	rm -rf $(DEMO_WORKSPACE)
	$(BIN)/sybilscope --workspace $(DEMO_WORKSPACE) ingest sample_data/case
	$(BIN)/sybilscope --workspace $(DEMO_WORKSPACE) detect
	$(BIN)/sybilscope --workspace $(DEMO_WORKSPACE) serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest -q

# docs/examples: the sample briefing in its full and public editions, and their pages as PNG
examples: $(STAMP) system-deps
	$(BIN)/python docs/examples/make_example.py

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(DEMO_WORKSPACE) .pytest_cache
