# OmniChat: `make local` starts the whole local stack, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.omnichat-installed
# pip is not safe to run twice at once in one environment.
PIP := flock /tmp/omnichat-pip.lock $(PY) -m pip
HOST ?= 127.0.0.1
PORT ?= 8080
MODE ?= local
TEST_PG_URL ?= postgresql+pg8000://postgres@127.0.0.1:5432/test

.PHONY: local test install model clean bench

$(STAMP): pyproject.toml layers/omnichat/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[local,test]'
	@touch $@

install: $(STAMP)

model: install
	@$(PY) -m local.models fetch

local: install model
	$(PY) -m local.stack --host $(HOST) --port $(PORT) --mode $(MODE)

test: install model
	@if [ -z "$$OMNICHAT_TEST_DATABASE_URL" ] && $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2)" 2>/dev/null; then \
		export OMNICHAT_TEST_DATABASE_URL=$(TEST_PG_URL); echo "PostgreSQL answers: tests run on SQLite and PostgreSQL"; \
	fi; $(PY) -m pytest $(PYTEST_ARGS)

bench: install model
	$(PY) bench/chat_scale.py

clean:
	rm -rf $(VENV) .omnichat .pytest_cache
