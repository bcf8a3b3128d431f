# Rollbook — two commands on a fresh machine with Python 3.11 and make:
#   make run    install into .venv, migrate, load demo data, serve on 127.0.0.1:8000
#   make test   the whole test suite (SQLite by default; set ROLLBOOK_DATABASE_URL for PostgreSQL)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run install migrate demo serve test lint bench clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/rollbook migrate

demo: migrate
	$(BIN)/rollbook demo

run: demo
	$(BIN)/rollbook serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
