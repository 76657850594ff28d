# The commands people type. `make demo` runs the system end to end; `make test` runs the suite.
# Both start a real Kafka and a real PostgreSQL on this machine without Docker.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(VENV)/bin/pytest
export MUBA_CACHE ?= $(CURDIR)/.cache

# Kafka brokers: 1 (a laptop) or 3 (`make infra-up BROKERS=3`: replication factor 3,
# min.insync.replicas 2, any one broker may die without a loss). Use the same BROKERS for every
# make command while that cluster runs.
BROKERS ?= $(or $(KAFKA_BROKERS),1)
export KAFKA_BROKERS := $(BROKERS)
_KAFKA_BOOTSTRAP := $(shell KAFKA_BROKERS=$(BROKERS) bash deploy/local/kafka.sh bootstrap 2>/dev/null)

# Where the local servers listen; the services and the tests read these.
export KAFKA_BOOTSTRAP_SERVERS     ?= $(or $(_KAFKA_BOOTSTRAP),127.0.0.1:9092)
export MUBA_ADMIN_DATABASE_URL     ?= postgresql://postgres@127.0.0.1:5432/muba
export REGISTRY_DATABASE_URL       ?= postgresql://registry:registry@127.0.0.1:5432/muba
export SPONSORSHIP_DATABASE_URL    ?= postgresql://sponsorship:sponsorship@127.0.0.1:5432/muba
export NOTIFICATIONS_DATABASE_URL  ?= postgresql://notifications:notifications@127.0.0.1:5432/muba
export BPJS_DATABASE_URL           ?= postgresql://bpjs:bpjs@127.0.0.1:5432/muba
export MUBA_KAFKA_LIBS             ?= $(MUBA_CACHE)/kafka/libs
# Kafka passwords (one file per principal) and the TLS CA: made by infra-up, never committed.
export MUBA_SECRETS_DIR            ?= $(MUBA_CACHE)/secrets
# The partners the demo uploads as (each gets its principal, intake topic and ACLs).
DEMO_PARTNERS ?= desa-online operator-sekayu

.PHONY: help install infra-up infra-down infra-status topics migrate test test-unit lint demo demo-year up screenshots chaos bench bench-scale docs check-contracts release-contracts dlq env clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml tests/contracts/package-lock.json subscribers/typescript/package-lock.json
	@bash deploy/local/bootstrap.sh
	@touch $@

install: $(VENV)/.installed ## system packages, the virtualenv and the Kafka jars

infra-up: install ## start Kafka (BROKERS=1|3, SASL + ACLs) and PostgreSQL, provision principals, topics, ACLs
	@bash deploy/local/postgres.sh up
	@bash deploy/local/kafka.sh up
	@$(PY) -m shared.kafka_admin provision --prefix "" $(foreach p,$(DEMO_PARTNERS),--partner $(p))

topics: install ## principals, every topic of shared/topics.py (configs fixed) and the ACLs (idempotent)
	@$(PY) -m shared.kafka_admin provision --prefix "" $(foreach p,$(DEMO_PARTNERS),--partner $(p))

infra-down: ## stop Kafka (every node) and PostgreSQL
	@bash deploy/local/kafka.sh down
	@bash deploy/local/postgres.sh down

infra-status: ## are they running, which versions
	@rc=0; bash deploy/local/postgres.sh status || rc=1; bash deploy/local/kafka.sh status || rc=1; exit $$rc

migrate: infra-up ## apply every service's migrations (and the BPJS simulator's)
	@for s in registry sponsorship notifications; do $(PY) -m services.$$s migrate || exit 1; done
	@$(PY) -m simulators.bpjs migrate

env: ## the variables that point a shell at the local servers
	@env | grep -E '^(KAFKA_BOOTSTRAP_SERVERS|KAFKA_BROKERS|MUBA_ADMIN_DATABASE_URL|[A-Z]+_DATABASE_URL|MUBA_KAFKA_LIBS|MUBA_SECRETS_DIR)=' | sed 's/^/export /'

test: infra-up ## the whole suite against the real servers
	@$(PYTEST) -q -n 2 --dist loadfile --durations=25

test-unit: install ## the fast unit tests only (no servers)
	@$(PYTEST) -q tests/unit

lint: install ## ruff and mypy
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy services shared simulators deploy muba testkit

demo: infra-up ## the pipeline end to end with sample data, then a summary
	@$(PY) -m deploy.demo

demo-year: infra-up ## a programme year in minutes: invoices, payments, lapse, renewal, fallback sponsors (WORKERS=2000)
	@$(if $(WORKERS),DEMO_YEAR_WORKERS=$(WORKERS) )$(PY) -m deploy.year

up: infra-up ## run the services, the BPJS simulator and the dashboard (:8007) in the foreground (Ctrl+C stops them)
	@$(PY) -m deploy.stack

screenshots: infra-up ## the dashboard's office and company views in Chromium, into docs/screenshots/ (PNG)
	@DASHBOARD_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PYTEST) -q -p no:cacheprovider tests/e2e/test_dashboard_browser.py

N ?=
SEED ?=
FAULTS ?=
chaos: infra-up ## fault campaign + independent checker, < 15 min (N=3000 SEED= FAULTS=sigkill,...; BROKERS=3 for node kills)
	@$(PY) -m deploy.chaos $(if $(N),--registrations $(N)) $(if $(SEED),--seed $(SEED)) $(if $(FAULTS),--faults $(FAULTS))

bench: infra-up ## throughput, latency and CPU per worker of the whole pipeline vs the limit program doing its durable work (N=10000)
	@$(PY) -m deploy.bench $(if $(N),--workers $(N))

bench-scale: infra-up ## cost per worker at N=10k, 100k and 1M, PostgreSQL and Kafka bytes, a chart (SIZES=10000,100000)
	@$(PY) -m deploy.bench.scale $(if $(SIZES),--sizes $(SIZES))

docs: install ## write each service's AsyncAPI document into docs/asyncapi/, and the subscriber's models from them
	@$(PY) -m deploy.docs
	@npm run --silent --prefix subscribers/typescript generate

check-contracts: install ## fail on any change to a released event version a subscriber could trip on
	@$(PY) -m shared.compatibility check

release-contracts: install ## release the schemas of new event versions (docs/contracts/released/; never rewrites one)
	@$(PY) -m shared.compatibility release

dlq: ## list dead letters (replay: python -m shared.dlq replay --topic TOPIC)
	@$(PY) -m shared.dlq list

clean: infra-down ## stop the servers and remove their data
	@bash deploy/local/kafka.sh reset
	@bash deploy/local/postgres.sh reset
