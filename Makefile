# Two commands for a fresh machine:
#   make run    set up, then serve the API on port 8000 (PORT overrides) with demo data
#   make test   set up, then run the linters and the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
NPM_STAMP := node_modules/.installed-$(shell sha256sum package-lock.json | cut -c1-12)

.PHONY: setup run test lint devdb bench clean types browser-deps

# What the browser tests need from Debian: its Chromium (driven by Playwright for Python
# through executable_path; never `playwright install`), ffmpeg for the fake-camera clips
# and CJK fonts so Chinese renders. Installed only when missing (apt needs root or sudo).
DEBIAN_PACKAGES := chromium ffmpeg fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

setup: $(STAMP) devdb

# pip >= 25.1 installs the dependency groups of pyproject.toml without installing
# the project itself. face_recognition goes in with --no-deps: its metadata asks
# for dlib, which would compile for 15 minutes; dlib-bin is the prebuilt dlib.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --group runtime --group dev
	$(PY) -m pip install --quiet --no-deps --group face-nodeps
	rm -f $(VENV)/.installed-*
	touch $@

# The front ends' tools (typed client generator, mini-program tests), from the lock file.
$(NPM_STAMP): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Builds the embedded FerretDB once; the binary is cached by a hash of its sources.
devdb: $(STAMP)
	$(PY) -m devdb.launcher build

run: setup
	APP_ENV=$${APP_ENV:-dev} $(PY) app.py serve --demo --with-worker --standins

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy .
	$(VENV)/bin/lint-imports

browser-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: setup $(NPM_STAMP) browser-deps lint
	npm test
	APP_ENV=test $(PY) -m pytest

# Regenerate the mini-program's TypeScript types after changing the API contract.
types: $(STAMP) $(NPM_STAMP)
	mkdir -p var
	$(PY) -m api.document > var/openapi.json
	npx --no-install openapi-typescript var/openapi.json -o miniapp_stub/api/types.d.ts

# Each benchmark prints its ratio against a baseline measured in the same run.
bench: setup
	APP_ENV=test $(PY) -m bench.guard_vs_update
	APP_ENV=test $(PY) -m bench.face_checks
	APP_ENV=test $(PY) -m bench.one_to_many
	APP_ENV=test $(PY) -m bench.light_calls
	APP_ENV=test $(PY) -m bench.scale
	APP_ENV=test $(PY) -m bench.contributions
	$(PY) -m bench.startup

clean:
	rm -rf var/devdb .pytest_cache .mypy_cache .ruff_cache .hypothesis node_modules
