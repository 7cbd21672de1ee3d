# Control Tower: `make demo` runs the whole product; `make test` runs every check and test.
# Both need only Python 3.11 (or 3.12) and make; everything else is installed here.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint bench chromium clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# Browser tests drive Debian's Chromium by path; Playwright never downloads a browser of its own.
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

demo: install
	$(VENV)/bin/controltower demo

lint: install
	$(VENV)/bin/ruff check .
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --fail-on-warn --file /dev/null
	DJANGO_SETTINGS_MODULE=sandbox.settings $(PY) -m django makemigrations --check --dry-run sandbox

test: install chromium lint
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS)

bench: install
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) var tests/artifacts
