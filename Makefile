# Two commands do all the set-up on a fresh machine:
#   make run    start Azurite, the Cosmos DB emulator and the local Functions host on :7071
#   make test   lint, type-check and run every test (unit and integration)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY_STAMP   := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Debian's Chromium for the browser test (tests/e2e), installed when missing.
CHROMIUM   := /usr/bin/chromium
# Debian's Orthanc and its DICOMweb plugin, the client of tests/functions/test_orthanc_client.py
# and the benchmarks' peer, installed when missing.
ORTHANC    := /usr/share/orthanc/plugins/libOrthancDicomWeb.so
SUDO       := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run viewer reindex verify test lint typecheck unit integration fuzz bench deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json $(wildcard patches/*.patch)
	npm ci --no-audit --no-fund
	touch $@

deps: $(PY_STAMP) $(NODE_STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

$(ORTHANC):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y orthanc orthanc-dicomweb

run: deps
	$(BIN)/python -m devhost run

# The OHIF viewer on :3000 for a running `make run` (see README: DICOMWEB_CORS_ORIGINS).
viewer: deps
	$(BIN)/python -m devhost viewer

# Rebuild the index of a running `make run` from its blob storage.
reindex: deps
	$(BIN)/python -m cli --local reindex

# Compare a running `make run`'s blob storage with its index (REPAIR=1 to fix what differs).
verify: deps
	$(BIN)/python -m cli --local verify $(if $(REPAIR),--repair)

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: deps
	$(BIN)/mypy

unit: deps
	$(BIN)/pytest -m "not integration"

integration: deps $(CHROMIUM) $(ORTHANC)
	$(BIN)/pytest -m integration

test: lint typecheck $(CHROMIUM) $(ORTHANC)
	$(BIN)/pytest

# A long fuzzing run of the HTTP surface on its own local stack (counts in docs/reliability.md);
# e.g. FUZZ_ARGS="--stores 20000".
FUZZ_ARGS ?=
fuzz: deps
	$(BIN)/python -m tests.fuzz $(FUZZ_ARGS)

# The suite beside the storage floor and Orthanc; e.g. BENCH_ARGS="--instances 1000 10000".
BENCH_ARGS ?= --instances 1000 --start-orthanc
bench: deps $(ORTHANC)
	$(BIN)/python -m bench.suite $(BENCH_ARGS)
	$(BIN)/python -m bench.delete_study
	$(BIN)/python -m bench.thumbnails
	$(BIN)/python -m bench.transcode
	$(BIN)/python -m bench.progressive
	$(BIN)/python -m bench.cloud_latency
	$(BIN)/python -m bench.bulk_update

clean:
	rm -rf $(VENV) node_modules .local
