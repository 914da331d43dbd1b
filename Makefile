# Lakehouse — one command to run the platform, one to test it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
EXTRAS ?= all,dev
# pytest-xdist workers for `make test`: one per core, at most 4 (TEST_WORKERS=0: one process).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 4 ? 4 : n )))

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench up down clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(PY):
	@echo "==> creating the virtualenv $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --upgrade pip

# pip's own log goes to $(VENV)/install.log; the terminal gets one line per phase and a
# running count of packages, then a summary (or the log's tail and what to do on failure).
$(STAMP): pyproject.toml | $(PY)
	@echo "==> installing the project with extras [$(EXTRAS)] (a few minutes the first time)"
	@set -o pipefail; start=$$(date +%s); \
	$(PIP) install --progress-bar off -e '.[$(EXTRAS)]' 2>&1 | tee $(VENV)/install.log | \
	  awk '/^Collecting /{n++; printf "\r    resolved %d packages", n; fflush()} \
	       /^Installing collected/{printf "\r    resolved %d packages; installing them...\n", n; fflush()}' \
	  || { echo; tail -n 15 $(VENV)/install.log; \
	       echo "make install failed: full pip log in $(VENV)/install.log"; exit 1; }; \
	echo "==> installed in $$(( $$(date +%s) - start )) s; run \`make run\` or \`make test\`"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with every extra

run: install ## Run the whole platform on embedded defaults (lakehouse demo)
	$(VENV)/bin/lakehouse demo

test: install ## Run the whole test suite
	@$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (check PYTEST_ARGS)"; exit 0; fi; \
	exit $$rc

lint: install ## Static checks: ruff, compose, Dockerfiles, shell, Ansible, Terraform, checkov, promtool
	VENV=$(VENV) bash scripts/lint.sh

bench: install ## Benchmarks at scale; prints figures and ratios against baselines
	$(PY) -m benchmarks.run $(BENCH_ARGS)

up: ## Start the container stack (docker compose)
	docker compose up -d --build

down: ## Stop the container stack
	docker compose down

clean: ## Remove generated data and caches (keeps .venv)
	rm -rf data .pytest_cache
