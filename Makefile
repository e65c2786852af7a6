# yuanjiao: `make run` starts the demo, `make test` runs the whole suite. Both set up what is
# missing first (a virtualenv, the Python packages, and Debian's ffmpeg, chromium, minisign, nginx
# (the county-cache test), postgresql (the headend tests run on SQLite and on a real PostgreSQL
# server), faketime (the station under a wrong clock), cage and xwayland (the kiosk unit's command)
# and a CJK font via apt-get) and are safe to
# run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: setup system-packages js-tools run test test-fast lint bench clean messages

setup: system-packages $(STAMP) js-tools

# acorn (npm, devDependency) checks in the tests that every served script parses as ES5.
js-tools: system-packages
	@test -f node_modules/acorn/bin/acorn || { command -v npm >/dev/null 2>&1 && npm ci --no-audit --no-fund --loglevel=error; } || echo "npm not found: the ES5 check of the TV scripts will fail (install nodejs and npm)"

# Install a Debian package only when what it provides is absent.
system-packages:
	@missing=""; \
	for cmd in ffmpeg:ffmpeg chromium:chromium minisign:minisign faketime:faketime cage:cage Xwayland:xwayland; do \
	  command -v $${cmd%%:*} >/dev/null 2>&1 || missing="$$missing $${cmd##*:}"; \
	done; \
	{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || missing="$$missing nginx"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	dpkg-query -W -f='$${Status}' fonts-wqy-microhei 2>/dev/null | grep -q "ok installed" || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

run: setup
	$(BIN)/python scripts/demo.py

# Style and layers first (seconds), then every test.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Two pytest workers (pytest-xdist): most tests wait on ffmpeg, Chromium, PostgreSQL or a socket,
# so two at once take much less wall time on a 2-core machine than one.
PYTEST_JOBS ?= 2
# The tests' files (about 400 MB) on a RAM disk when there is one with room: the journal, SQLite and
# the sync store fsync as on a box, and on a disk shared with the other tests' ffmpeg and PostgreSQL
# each fsync waited up to 80 ms (the suite took 13 min instead of under 10). Empty: pytest's default.
PYTEST_TMP ?= $(shell [ -d /dev/shm ] && [ "$$(df -Pk /dev/shm | awk 'NR==2 {print $$4}')" -gt 4000000 ] && echo /dev/shm/yuanjiao-tests)
test: setup lint
	$(BIN)/python -m pytest -n $(PYTEST_JOBS) --durations=25 $(if $(PYTEST_TMP),--basetemp=$(PYTEST_TMP)) $(PYTEST_ARGS)

# The part that needs no ffmpeg, Chromium, nginx or PostgreSQL: seconds, for the edit-test loop.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q $(PYTEST_ARGS)

bench: setup
	for b in scripts/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Refresh the UI catalogues after changing UI text (message ids are English; see station/i18n.py).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --project yuanjiao -o station/locale/messages.pot .
	$(BIN)/pybabel update -i station/locale/messages.pot -d station/locale --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf var .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
