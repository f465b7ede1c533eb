# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean pi-test pin

# The editable install: setuptools adds a notice box ("Editable installation ... be careful with
# folders ... with the same name as your package") that pip shows even with -q. It is advice, not
# a problem (the checkout's guardian/ is the package), so that one message is filtered by its text
# (-W matches the start of the message); any other warning still shows.
PIP := $(PY) -W "ignore:Editable installation:UserWarning" -m pip

# The install compiles the request path (setup.py) beside its sources, so it runs again when
# one of those sources changes: Python would otherwise run the old compiled copy.
COMPILED := $(shell sed -n 's/^    "\(guardian\/[^"]*\.py\)",.*$$/\1/p' setup.py)

$(STAMP): pyproject.toml setup.py $(COMPILED)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip
	@$(PIP) install -q -e '.[test]'
	@touch $(STAMP)

# Only what a first run needs: where the proxy and the settings page listen, the set-up code,
# and any warning. `guardian serve` without --quiet logs everything. ARGS: more serve options
# (make run ARGS="--listen 0.0.0.0:3128").
run: $(STAMP)
	@$(VENV)/bin/guardian serve --quiet $(ARGS)

test: $(STAMP)
	$(VENV)/bin/ruff check guardian tests bench
	$(VENV)/bin/mypy guardian
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check guardian tests bench
	$(VENV)/bin/mypy guardian

bench: $(STAMP)
	$(PIP) install -q -e '.[test,bench]'
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
	rm -rf $(VENV) .guardian-data build guardian_compiled__mypyc.*.so guardian/compiled_sources.json
	find guardian -name '*.so' -delete
