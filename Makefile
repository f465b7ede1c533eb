# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/guardian serve

test: $(STAMP)
	$(VENV)/bin/ruff check guardian tests bench
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check guardian tests bench

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	bash bench/run.sh 2>&1 | tee bench/last-run.txt

clean:
	rm -rf $(VENV) .guardian-data
