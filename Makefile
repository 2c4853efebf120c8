# The two commands: `make run` (the dashboard with a demo project) and
# `make test` (the whole suite). Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
# The dashboard's ES modules are bundled from frontend/ into static/dist/.
FRONTEND_STAMP := frontend/node_modules/.installed-$(shell cat frontend/package-lock.json | sha1sum | cut -c1-12)
FRONTEND_SOURCES := frontend/build.mjs $(shell find frontend/src -name '*.js')
# Debian packages: what the local engine runs jobs with (sandbox, git, the
# container runtime and the static tools put into job images), then what only
# the suite needs (the browser tests' Chromium, a local image registry, a
# Docker daemon of the suite's own).
SYSTEM_PACKAGES := bubblewrap git podman runc slirp4netns uidmap busybox-static bash-static
TEST_SYSTEM_PACKAGES := $(SYSTEM_PACKAGES) chromium docker-registry docker.io iproute2

.PHONY: install system-packages test-system-packages run test lint format lock bench clean

install: system-packages $(STAMP) static/dist/.built

# Installed with apt-get where we may (root, or sudo without a password);
# otherwise the command fails naming what is missing.
system-packages:
	scripts/ensure-system-packages $(SYSTEM_PACKAGES)

test-system-packages:
	scripts/ensure-system-packages $(TEST_SYSTEM_PACKAGES)

$(STAMP): requirements.lock
	scripts/ensure-python "$(PYTHON)"
	test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.lock
	rm -f $(VENV)/.installed-*
	touch $@

$(FRONTEND_STAMP): frontend/package-lock.json
	scripts/ensure-node
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	rm -f frontend/node_modules/.installed-*
	touch $@

static/dist/.built: $(FRONTEND_STAMP) $(FRONTEND_SOURCES)
	cd frontend && node build.mjs
	touch $@

run: install
	$(BIN)/python -m gradient.launcher run

test: install test-system-packages
	$(BIN)/python -m gradient.launcher exec -- $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate requirements.lock from pyproject.toml's pins in a scratch venv.
lock:
	rm -rf .lock-venv && "$(PYTHON)" -m venv .lock-venv
	.lock-venv/bin/pip install --disable-pip-version-check -q ".[dev]"
	(echo "# Every package the project installs, pinned (make lock regenerates it)."; \
	 .lock-venv/bin/pip freeze --exclude gradient-workflows) > requirements.lock
	rm -rf .lock-venv

bench: install
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) data frontend/node_modules static/dist
