# Lakehouse — one command to run the platform, one to test it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
EXTRAS ?= all,dev

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench up down clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with every extra

run: install ## Run the whole platform on embedded defaults (lakehouse demo)
	$(VENV)/bin/lakehouse demo

test: install ## Run the whole test suite
	@$(VENV)/bin/pytest $(PYTEST_ARGS); rc=$$?; \
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
