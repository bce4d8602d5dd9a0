# 党群 Dangqun — the two commands: `make demo` and `make test`.
# Needs only Python 3.11 (and make); everything else is installed into .venv from PyPI.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint format migrations clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Dangqun needs Python 3.11; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: install  ## migrate, seed the demo community, run API + bot + mock WeChat in one process
	$(BIN)/dangqun demo

test: install  ## the whole suite (PostgreSQL/Redis when DANGQUN_TEST_DATABASE_URL/_REDIS_URL are set)
	$(BIN)/python -m pytest

lint: install  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check server bot dangqun miniapp_mock tests
	$(BIN)/ruff format --check server bot dangqun miniapp_mock tests
	$(BIN)/mypy server bot dangqun

format: install
	$(BIN)/ruff format server bot dangqun miniapp_mock tests
	$(BIN)/ruff check --fix server bot dangqun miniapp_mock tests

migrations: install  ## write a migration for model changes
	$(BIN)/tortoise -c server.core.db.TORTOISE_ORM makemigrations

clean:
	rm -rf $(VENV) var
