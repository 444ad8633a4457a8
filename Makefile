# Laotie — one entry point for people and CI. Everything runs through uv and the lock file.
SHELL := /bin/bash
# uv, pinned: the one on PATH if it is this version, else a copy that the machine's Python
# installs into .laotie/uv (pip --target) on first use. Never a downloaded interpreter.
UV_VERSION := 0.13.8
LOCAL_UV := $(CURDIR)/.laotie/uv/bin/uv
UV ?= $(shell [ "$$(uv --version 2>/dev/null | cut -d' ' -f2)" = "$(UV_VERSION)" ] && command -v uv || echo $(LOCAL_UV))
export UV_PYTHON_DOWNLOADS ?= never
export UV_PYTHON ?= $(shell python3 -c 'import sys; print(sys.executable)')
RUN := $(UV) run --locked
PYTEST_ARGS ?=

.PHONY: help sync up down status clean run bench smoke detectors detectors-train test test-unit test-integration lint fmt topics token dlq deploy deploy-tools deploy-check contracts

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

sync: | $(UV) ## install the workspace (Python packages from uv.lock)
	@$(UV) sync --locked --quiet

$(LOCAL_UV):
	@echo "installing uv $(UV_VERSION) into .laotie/uv with $$(python3 --version)"
	@python3 -m pip install --quiet --disable-pip-version-check --target $(CURDIR)/.laotie/uv "uv==$(UV_VERSION)"

up: sync ## start Kafka, Postgres and every service; endpoints in .laotie/stack.env
	@$(RUN) laotie up

down: sync ## stop everything `make up` started
	@$(RUN) laotie down

status: sync ## what runs and whether it answers
	@$(RUN) laotie status

# make run plays on its own fresh stack (.laotie/run), beside any `make up` stack.
run: export LAOTIE_HOME := $(CURDIR)/.laotie/run
# Compressed clocks, so 48-hour rules fire within the run: one product "hour" is a second.
run: export SHIP_WITHIN_HOUR_S := 1
run: export REFUND_ANSWER_S := 3
run: export PAYMENT_TIMEOUT_S := 20
run: export CONFIRM_WINDOW_S := 30
run: export RETURN_WINDOW_S := 30
run: export RECEIPT_WINDOW_S := 30
# Moderation's appeal window (7 natural days): long enough for the evening's appeals to be
# filed in time, short enough for a silent shop's points to be booked before the report.
run: export APPEAL_WINDOW_S := 20
# Chuanliu tops a live session up every 10 minutes; the evening lasts about one.
run: export TOP_UP_EVERY_S := 3
run: sync ## the whole system doing its job locally, ending with a report (SEED=n to replay)
	@$(RUN) laotie up --fresh || { $(RUN) laotie down; exit 1; }; \
	$(RUN) laotie demo $(if $(SEED),--seed $(SEED)); rc=$$?; \
	$(RUN) laotie down; exit $$rc

bench: export LAOTIE_HOME := $(CURDIR)/.laotie/bench
bench: export LAOTIE_TOPIC_PARTITIONS := $(if $(PARTITIONS),orders.order=$(PARTITIONS))
bench: sync ## load a fresh stack and print figures (ORDERS=n, PARTITIONS=n for orders.order)
	@$(RUN) laotie up --fresh || { $(RUN) laotie down; exit 1; }; \
	$(RUN) laotie bench $(if $(ORDERS),--orders $(ORDERS)); rc=$$?; \
	$(RUN) laotie down; exit $$rc

dlq: sync ## dead letters on the `make up` stack: make dlq SERVICE=scoring [ACTION=show|replay] [REFS=0:12] [REASON=text]
	@test -n "$(SERVICE)" || { echo "make dlq SERVICE=<orders|live|moderation|scoring|chuanliu>"; exit 2; }
	@$(RUN) laotie dlq $(or $(ACTION),list) $(SERVICE) $(REFS) $(if $(REASON),--reason '$(REASON)')

test: sync deploy-tools ## unit and integration tests (integration starts its own Kafka and Postgres)
	@$(RUN) pytest $(PYTEST_ARGS)

KUSTOMIZE_VERSION := v5.5.0
# $(call need,COMMAND,DEBIAN PACKAGE): installed from Debian's packages when missing (as root).
define need
	@command -v $(1) >/dev/null || { test "$$(id -u)" = 0 && \
	  { apt-get install -y -qq $(2) >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq $(2) >/dev/null; }; } || \
	  { echo "$(1) missing: apt-get install $(2) (Debian) as root"; exit 1; }; }
endef

deploy-tools: ## kustomize (Go proxy), the CRD schemas (npm), promtool (Debian) for deploy checks
	$(call need,go,golang-go)
	@test -x .laotie/bin/kustomize || { echo "installing kustomize $(KUSTOMIZE_VERSION) ..."; \
	  GOBIN=$(CURDIR)/.laotie/bin GOFLAGS= go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); }
	$(call need,npm,npm)
	@test -d deploy/validate/node_modules/@kubernetes-models || \
	  (cd deploy/validate && npm ci --no-audit --no-fund --loglevel=error)
	$(call need,promtool,prometheus)

contracts: sync ## compatibility gate, then regenerate schemas/, docs/asyncapi.yaml, docs/events.md
	@$(RUN) laotie contracts generate

deploy: sync ## regenerate deploy/ (manifests, rules, dashboards, runbooks) from code
	@$(RUN) laotie deploy generate

deploy-check: sync deploy-tools ## validate deploy/ offline: drift, kustomize, schemas, promtool
	@$(RUN) laotie deploy validate

test-unit: sync ## unit tests only, no infrastructure
	@$(RUN) pytest -m "not integration" $(PYTEST_ARGS)

test-integration: sync ## integration tests against a real broker and database
	@$(RUN) pytest -m integration $(PYTEST_ARGS)

lint: sync ## ruff and mypy
	@$(RUN) ruff check .
	@$(RUN) ruff format --check .
	@$(RUN) mypy libs/common/src libs/contracts/src tools/*/src services/*/src tests

fmt: sync ## format and fix what ruff can
	@$(RUN) ruff format .
	@$(RUN) ruff check --fix .

clean: down ## stop everything and delete local state (.laotie: data, logs, Kafka jars)
	@rm -rf .laotie

detectors: sync ## detectors' precision and recall: tuning corpus (gates) and unseen batch (reported)
	@$(RUN) python -m laotie_moderation.evaluate

detectors-train: sync ## retrain the detectors' learned models on the training corpora (models/*.json)
	@$(RUN) python -m laotie_moderation.train

topics: sync ## list the topic registry
	@$(RUN) laotie topics list

token: sync ## mint a dev token: make token ROLE=seller SUB=u1 SHOP=s1
	@$(RUN) laotie token --role $(or $(ROLE),operator) --sub $(or $(SUB),dev) $(if $(SHOP),--shop-id $(SHOP))
