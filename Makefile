# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-unit services stop-services bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job on embedded defaults (SQLite files, embedded broker).
demo: install
	$(BIN)/yipanqi demo

## The whole suite on a real PostgreSQL and a real Apache Kafka, both started here.
test: install services
	. .run/pg.env && . .run/kafka.env && $(BIN)/python -m pytest $(PYTEST_ARGS)

## Pure-logic tests only: no servers.
test-unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

services:
	bash deploy/postgres.sh start
	bash deploy/kafka.sh fetch
	bash deploy/kafka.sh start

stop-services:
	-bash deploy/kafka.sh stop
	-bash deploy/postgres.sh stop

bench: install
	$(BIN)/yipanqi bench store --json

clean: stop-services
	rm -rf $(VENV) .run var *.egg-info
