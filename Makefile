# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean pi-test pin

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/guardian serve

test: $(STAMP)
	$(VENV)/bin/ruff check guardian tests bench
	$(VENV)/bin/mypy guardian
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check guardian tests bench
	$(VENV)/bin/mypy guardian

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	bash bench/run.sh 2>&1 | tee bench/last-run.txt

# The appliance on a booted Debian 12 in systemd-nspawn (docs/install.md, "Tests"): minutes,
# root, not part of `make test`. PIBED_ARCH=arm64 runs it under qemu (slow).
PIBED ?= ../shared/pi/testbed.sh
PIBED_ARCH ?= amd64
pi-test:
	bash rpi/pi-test.sh "$(PIBED)" "$(PIBED_ARCH)" "$(CURDIR)"

# rpi/requirements.txt: exact versions with hashes, from pyproject.toml (docs/install.md).
pin:
	rm -rf .pin-venv
	$(PYTHON) -m venv .pin-venv
	.pin-venv/bin/pip install -q pip-tools
	printf '%s\n' \
	  "# Exact versions, with the hashes of every file PyPI has for them, of Guardian's dependencies" \
	  "# and its build backend: install.sh installs exactly these (pip --require-hashes), so every" \
	  "# Pi runs what the tests ran. Generated from pyproject.toml, do not edit by hand; after" \
	  "# changing the dependencies there, regenerate it with \`make pin\` (pip-compile from pip-tools," \
	  "# against pypi.org) and run the tests again." > rpi/requirements.txt
	env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	  .pin-venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --all-build-deps \
	  --constraint rpi/pin-constraints.txt --no-header -o - pyproject.toml >> rpi/requirements.txt
	rm -rf .pin-venv

clean:
	rm -rf $(VENV) .guardian-data
