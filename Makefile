# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
FERRETDB := .cache/bin/ferretdb

.PHONY: install demo test bench ferretdb clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: install
	$(BIN)/tpdask --data_dir data/demo demo

# Builds FerretDB once (cached in .cache/bin), starts it on a free loopback port, runs
# pytest against it and stops it afterwards, also when tests fail.
test: install
	$(PY) scripts/ferretdb.py --bin $(FERRETDB) -- $(PY) -m pytest -v -p no:cacheprovider tests

bench: install
	$(BIN)/tpdask --data_dir data/bench-run bench

clean:
	rm -rf $(VENV) data/demo data/bench-run
