# yuanjiao: `make run` starts the demo, `make test` runs the whole suite. Both set up what is
# missing first (a virtualenv, the Python packages, and Debian's ffmpeg, chromium, minisign and a
# CJK font via apt-get) and are safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: setup system-packages run test bench clean

setup: system-packages $(STAMP)

# Install a Debian package only when what it provides is absent.
system-packages:
	@missing=""; \
	for cmd in ffmpeg:ffmpeg chromium:chromium minisign:minisign; do \
	  command -v $${cmd%%:*} >/dev/null 2>&1 || missing="$$missing $${cmd##*:}"; \
	done; \
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

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	for b in scripts/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf var .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
