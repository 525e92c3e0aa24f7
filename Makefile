# Clickstreamer: two commands do everything on a fresh machine.
#   make up     bring the stack up (venv, local file backend, stack `dev`, pulumi up)
#   make test   install what the tests need and run every suite against real engines
# Everything downloaded lands in ignored folders: .venv, .venv-flink, .cache, .pulumi-state.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
STACK ?= dev
REPO := $(abspath .)
CACHE := $(REPO)/.cache
VENV := $(REPO)/.venv
FLINK_VENV := $(REPO)/.venv-flink
STATE_DIR := $(REPO)/.pulumi-state
PIP_CACHE := $(CACHE)/pip
PYTEST_ARGS ?=

# The local file backend and its passphrase file (created on first use, never committed), unless
# the caller already chose a backend / passphrase.
export PULUMI_BACKEND_URL ?= file://$(STATE_DIR)
PASSPHRASE_FILE := $(STATE_DIR)/passphrase

.PHONY: help up down preview test test-unit test-schema test-grafana test-integration test-flink-job test-e2e test-collector \
        test-dates test-shifted venv venv-flink jars pulumi-cli system-packages bench clean

help:
	@echo "make up      - create the venv, select/create stack '$(STACK)' on $(PULUMI_BACKEND_URL), pulumi up"
	@echo "make down    - pulumi destroy the stack (keeps the data volumes unless dropDataOnDestroy)"
	@echo "make preview - pulumi preview"
	@echo "make test    - install test dependencies and run all test suites"
	@echo "make bench   - run the benchmarks in bench/"

# ---------------------------------------------------------------- environments
$(VENV)/.installed: requirements.txt requirements-dev.txt collector/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --cache-dir $(PIP_CACHE) --upgrade pip
	$(VENV)/bin/pip install -q --cache-dir $(PIP_CACHE) -r requirements-dev.txt
	touch $@

$(FLINK_VENV)/.installed: flink_job/requirements.txt flink_job/requirements-dev.txt
	$(PYTHON) -m venv $(FLINK_VENV)
	$(FLINK_VENV)/bin/pip install -q --cache-dir $(PIP_CACHE) --upgrade pip
	$(FLINK_VENV)/bin/pip install -q --cache-dir $(PIP_CACHE) -r flink_job/requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
venv-flink: $(FLINK_VENV)/.installed

# Jar sets for the real engines the tests run, the job's Java functions, and the operators' CRDs
# the Kubernetes unit tests check against (all from Maven Central, cached in .cache/).
jars: venv
	PYTHONPATH=$(REPO) $(VENV)/bin/python tests/support/maven.py kafka flink
	PYTHONPATH=$(REPO) $(VENV)/bin/python -c "from tests.support.flink import udf_jar; print(udf_jar())"
	PYTHONPATH=$(REPO) $(VENV)/bin/python -m tests.unit.crds.fetch

# Debian packages the tests use (libfaketime for the date-independence runs).
system-packages:
	scripts/install-system-packages.sh

# Pulumi CLI built from the Go module proxy, for the tests (no prebuilt binary is reachable on our
# machines; it lacks the docker and random providers, so `make up` needs a regular Pulumi install).
pulumi-cli:
	scripts/build-pulumi-cli.sh

# ---------------------------------------------------------------- the stack
$(PASSPHRASE_FILE):
	mkdir -p $(STATE_DIR)
	umask 077 && head -c 32 /dev/urandom | base64 > $@

define with_stack
	@command -v pulumi >/dev/null || { echo "The Pulumi CLI is required: https://www.pulumi.com/docs/install/"; exit 1; }
	@command -v docker >/dev/null || { echo "Docker is required: https://docs.docker.com/engine/install/"; exit 1; }
	mkdir -p $(STATE_DIR)
	export PULUMI_CONFIG_PASSPHRASE_FILE=$${PULUMI_CONFIG_PASSPHRASE_FILE:-$(PASSPHRASE_FILE)}; \
	  pulumi stack select --create $(STACK) --non-interactive && \
	  $(1)
endef

up: venv $(PASSPHRASE_FILE)
	$(call with_stack,pulumi up --yes --stack $(STACK))
	@echo; echo "Outputs (secrets: pulumi stack output --show-secrets):"; \
	  PULUMI_CONFIG_PASSPHRASE_FILE=$${PULUMI_CONFIG_PASSPHRASE_FILE:-$(PASSPHRASE_FILE)} pulumi stack output --stack $(STACK)

preview: venv $(PASSPHRASE_FILE)
	$(call with_stack,pulumi preview --stack $(STACK))

down: venv $(PASSPHRASE_FILE)
	$(call with_stack,pulumi destroy --yes --stack $(STACK))
	@echo; echo "Kept (dropDataOnDestroy is false unless you set it): the stack's data volumes, reattached by the next"; \
	  echo "'make up' of stack $(STACK). Delete them for good with: docker volume rm \$$(docker volume ls -q --filter label=clickstreamer.stack=$(STACK))"; \
	  docker volume ls --filter label=clickstreamer.stack=$(STACK) 2>/dev/null || true

# ---------------------------------------------------------------- tests
test: venv venv-flink jars pulumi-cli system-packages
	$(MAKE) --no-print-directory test-unit test-schema test-grafana test-flink-job test-integration test-collector test-e2e test-dates

test-unit: venv
	PYTHONPATH=$(REPO) $(VENV)/bin/python -m pytest tests/unit -q $(PYTEST_ARGS)

test-schema: venv
	PYTHONPATH=$(REPO) $(VENV)/bin/python -m pytest tests/schema -q $(PYTEST_ARGS)

test-grafana: venv
	PYTHONPATH=$(REPO) $(VENV)/bin/python -m pytest tests/grafana -q $(PYTEST_ARGS)

test-flink-job: venv-flink jars
	PYTHONPATH=$(REPO) $(FLINK_VENV)/bin/python -m pytest tests/flink_job -q $(PYTEST_ARGS)

test-integration: venv venv-flink jars
	PYTHONPATH=$(REPO) $(VENV)/bin/python -m pytest tests/integration -q $(PYTEST_ARGS)

# The website collector against a real Kafka broker and the registry stand-in, the tracker in
# Debian's headless Chromium (system-packages), and a broker killed under load.
test-collector: venv jars system-packages
	PYTHONPATH=$(REPO) $(VENV)/bin/python -m pytest tests/collector -q $(PYTEST_ARGS)

test-e2e: venv
	PYTHONPATH=$(REPO) $(VENV)/bin/python -m pytest tests/e2e -q -rs $(PYTEST_ARGS)

# Date independence (README, "Testing"): the tests that place data by the clock and meet a TTL or
# now(), a year forward and a year back, under libfaketime (the clock of the test process and of
# what it starts: the in-process ClickHouse engine, the ClickHouse server). Processes with Kafka
# clients cannot run under it (librdkafka's timed waits hang), so `test-shifted` shifts the tests'
# own clock there (CLICKSTREAMER_CLOCK_SHIFT, tests/support/clock.py) and dates the data a year
# off the engines' clocks.
FAKED_CLOCK_TESTS := tests/schema/test_schema.py tests/grafana/test_panel_queries.py
SHIFTED_CLOCK_TESTS := tests/schema/test_kafka_ingest.py
test-dates: venv system-packages
	for shift in +365d -365d; do \
	  echo "[test-dates] clock shifted by $$shift"; \
	  PYTHONPATH=$(REPO) faketime -f "$$shift" $(VENV)/bin/python -m pytest $(FAKED_CLOCK_TESTS) -q -p no:cacheprovider $(PYTEST_ARGS); \
	done

# Every suite whose outcome could depend on the date, under one shift: SHIFT=-365d make test-shifted.
SHIFT ?= +365d
test-shifted: venv venv-flink jars system-packages
	PYTHONPATH=$(REPO) faketime -f "$(SHIFT)" $(VENV)/bin/python -m pytest tests/schema tests/grafana \
	  --ignore=$(SHIFTED_CLOCK_TESTS) -q -p no:cacheprovider $(PYTEST_ARGS)
	PYTHONPATH=$(REPO) CLICKSTREAMER_CLOCK_SHIFT=$(SHIFT) $(VENV)/bin/python -m pytest $(SHIFTED_CLOCK_TESTS) -q $(PYTEST_ARGS)
	PYTHONPATH=$(REPO) CLICKSTREAMER_CLOCK_SHIFT=$(SHIFT) $(FLINK_VENV)/bin/python -m pytest tests/flink_job -q $(PYTEST_ARGS)
	PYTHONPATH=$(REPO) CLICKSTREAMER_CLOCK_SHIFT=$(SHIFT) $(VENV)/bin/python -m pytest tests/integration -q $(PYTEST_ARGS)

bench: venv venv-flink jars system-packages
	PYTHONPATH=$(REPO) $(VENV)/bin/python bench/clickhouse_queries.py
	PYTHONPATH=$(REPO) $(FLINK_VENV)/bin/python bench/flink_throughput.py
	PYTHONPATH=$(REPO) $(VENV)/bin/python bench/collector_load.py

clean:
	rm -rf $(VENV) $(FLINK_VENV) $(CACHE)
