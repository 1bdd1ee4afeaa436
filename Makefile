# smspartner-etl: set-up and checks. From a fresh clone only python3 (and, for the database tests, root + apt) is
# needed: `make demo` and `make test` install the rest.
#
#   make venv       .venv with the package and its test extra (re-run when pyproject.toml changes)
#   make deps-test  MariaDB/PostgreSQL server binaries and the smsetl-test user, when absent and we can install
#   make test       lint, then the whole suite on SQLite, PostgreSQL and MariaDB (throwaway servers, started by
#                   the tests)
#   make demo       migrate a SQLite file, sync from a seeded simulator, print what landed
#   make bench      every bench/ script against a throwaway PostgreSQL (durable settings); BENCH=stops_timeline
#                   shows where one stop sync spends its time
#   make soak       the long end-to-end runs (pytest -m soak)
#   make typecheck  mypy --strict on etl/ (pinned, installed into .venv on first use)
#   make lint       typecheck, then ruff on etl, tests, scripts and bench (pinned; rules in pyproject.toml)
#   make clean      remove the venv, caches, results and any throwaway servers left behind
#
# Knobs: PYTEST_WORKERS=0 runs without xdist; PYTEST_ARGS="--backends=sqlite -k stops" narrows a run.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RESULTS := test-results

# 4 workers on the 2-core CI box: most tests wait (simulator delays, timeouts, subprocesses), so oversubscribing
# pays: tests/jobs + test_locking took 300 s with -n 2 and 166 s with -n 4. Each worker starts its own servers.
PYTEST_WORKERS ?= 4
PYTEST_ARGS ?=

.PHONY: venv deps-test test typecheck demo bench soak lint clean

venv: $(VENV)/.stamp-test

# Recreated when pyproject.toml changes. `python3 -m venv` fails without ensurepip (Debian's python3-venv): then
# install it if we can and try again.
$(VENV)/.stamp-test: pyproject.toml
	@if [ ! -x $(PY) ]; then \
	    $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); scripts/apt-install.sh python3-venv && $(PYTHON) -m venv $(VENV); }; \
	fi
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

$(VENV)/.stamp-bench: $(VENV)/.stamp-test
	$(PY) -m pip install -q -e '.[test,bench]'
	@touch $@

# mypy and ruff are pinned: their checks grow with each release, and `make test` runs them, so a
# new release must not turn main red on its own.
MYPY_VERSION ?= 2.4.1
RUFF_VERSION ?= 0.17.6

$(VENV)/.stamp-mypy: $(VENV)/.stamp-test
	$(PY) -m pip install -q 'mypy==$(MYPY_VERSION)'
	@touch $@

$(VENV)/.stamp-lint: $(VENV)/.stamp-mypy
	$(PY) -m pip install -q 'ruff==$(RUFF_VERSION)'
	@touch $@

deps-test:
	@scripts/deps-test.sh

test: venv deps-test lint
	@mkdir -p $(RESULTS)
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not soak" --junitxml=$(RESULTS)/junit.xml $(PYTEST_ARGS)

demo: venv
	$(PY) -m etl.demo

# Each benchmark prints its figures beside a peer or a baseline measured in the same run.
# `make bench BENCH=stops_sync` runs one. They take minutes each (the dlt peer alone ~4 min).
BENCHES ?= client_throughput stops_sync rental_sync status_poll push_receiver audience_filter contacts_sync accounts spend_by_day scale_out cost_load
BENCH ?= $(BENCHES)

bench: $(VENV)/.stamp-bench deps-test
	@for b in $(BENCH); do \
	    echo "== bench/$$b.py"; \
	    $(PY) scripts/with_servers.py --postgresql -- $(PY) bench/$$b.py || exit 1; \
	done

soak: venv deps-test
	@mkdir -p $(RESULTS)
	SOAK_REPORT_DIR=$(RESULTS) $(PY) -m pytest -m soak --junitxml=$(RESULTS)/junit-soak.xml $(PYTEST_ARGS)

# etl/ under mypy --strict (pyproject.toml); part of `make test`.
typecheck: $(VENV)/.stamp-mypy
	$(VENV)/bin/mypy

# ruff's rule set is pyproject.toml's [tool.ruff.lint]; part of `make test`.
lint: $(VENV)/.stamp-lint typecheck
	$(VENV)/bin/ruff check etl tests scripts bench

clean:
	-@$(PYTHON) -c 'import sys; sys.path.insert(0, "tests"); from harness import reap_stale; reap_stale()'
	rm -rf $(VENV) *.egg-info build .pytest_cache .mypy_cache .ruff_cache .hypothesis $(RESULTS)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
