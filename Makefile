# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
FERRETDB := .cache/bin/ferretdb

.PHONY: install demo test bench clean chromium

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

demo: install
	$(BIN)/tpdask --data_dir data/demo demo

# Debian's Chromium and ChromeDriver for the browser tests (tests/test_web_browser.py), and
# 7-Zip, which reads the archiver's output in tests/test_archive_blocks.py.
# Quick when both are there; as root, installs them (apt-get update first only when the
# package lists are missing or too old to install from); otherwise says what to run.
chromium:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && command -v 7z >/dev/null; then :; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "chromium/chromedriver/7z missing: run 'sudo apt-get install chromium chromium-driver 7zip' (their tests fail under CI=true, skip otherwise)"; \
	else \
	  echo "installing Debian's chromium, chromium-driver and 7zip ..."; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q chromium chromium-driver 7zip >/tmp/tpdask-apt.log 2>&1 || \
	  { apt-get update -q >>/tmp/tpdask-apt.log 2>&1 && \
	    apt-get install -y -q chromium chromium-driver 7zip >>/tmp/tpdask-apt.log 2>&1; } || \
	  { tail -20 /tmp/tpdask-apt.log; exit 1; }; \
	fi

# Builds FerretDB once (cached in .cache/bin), starts it on a free loopback port, runs
# pytest against it (2 processes, each taking whole test files, so a module's shared fixtures
# are built once) and stops it afterwards, also when tests fail; prints the 20 slowest tests.
test: install chromium
	$(PY) scripts/ferretdb.py --bin $(FERRETDB) -- $(PY) -m pytest -v -p no:cacheprovider --durations=20 -n 2 --dist loadfile tests

bench: install
	$(BIN)/tpdask --data_dir data/bench-run bench

clean:
	rm -rf $(VENV) data/demo data/bench-run
