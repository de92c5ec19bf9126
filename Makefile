# OmniChat: `make local` starts the whole local stack, `make test` runs the whole suite,
# `make lint` checks style, types and the template, `make floors` tests the lowest allowed dependencies.
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
# pytest-xdist workers; tests sharing a module or package fixture share a worker (tests/conftest.py).
TEST_WORKERS ?= 3
# The installed pytest plugins, loaded by name rather than auto-loaded: pytest rewrites the
# asserts of every module in an auto-loaded plugin's package (schemathesis, hypothesis, anyio:
# 265 modules, parsed anew by every worker, ~4 s of CPU each); named, only the plugin's own
# module is. The same plugins either way (read when `make test` runs, after the install).
TEST_PLUGINS = $(shell $(PY) -c "import importlib.metadata as m; print(','.join(sorted({e.value for d in m.distributions() for e in d.entry_points if e.group == 'pytest11'})))")
FRONTEND_STAMP := frontend/node_modules/.package-lock.json

.PHONY: local test lint floors install model clean bench

$(STAMP): pyproject.toml layers/omnichat/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[local,test,lint]'
	@touch $@

# The page's tools (vite, svelte-check), exactly as package-lock.json pins them.
$(FRONTEND_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

install: $(STAMP) $(FRONTEND_STAMP)

model: install
	@$(PY) -m local.models fetch

local: install model
	$(PY) -m local.stack --host $(HOST) --port $(PORT) --mode $(MODE)

test: install model
	@if [ -z "$$OMNICHAT_TEST_DATABASE_URL" ] && $(PY) -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2)" 2>/dev/null; then \
		export OMNICHAT_TEST_DATABASE_URL=$(TEST_PG_URL); echo "PostgreSQL answers: tests run on SQLite and PostgreSQL"; \
	fi; PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTEST_PLUGINS=$(TEST_PLUGINS) \
		$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest ran no test: that is a failure"; fi; exit $$status

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy layers/omnichat/omnichat omnichat_cli
	cd frontend && npm run --silent check
	$(PY) -m tests.stack.template_checks

# The lowest versions requirements.txt and pyproject.toml allow, in a throwaway venv, and
# the tests that exercise those libraries (see .ci/floors).
floors:
	bash .ci/floors

bench: install model
	$(PY) bench/chat_scale.py

clean:
	rm -rf $(VENV) .omnichat .pytest_cache
