"""The build: the modules every request runs through, compiled to C by mypyc.

pyproject.toml holds everything else. mypyc turns these type-checked modules into C
extensions with the same behaviour (the whole test suite runs against them), and a request
then costs about two thirds of its CPU time (docs/benchmarks.md, "Compiled request path").
GUARDIAN_PURE_PYTHON=1 builds without them: Guardian then runs the same source as plain
Python, more slowly. guardian/compiled.py checks at start that what was compiled is still
what the source says.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent

# On every request's path; each is plain typed Python. mypyc gives a local variable one type
# for a whole function, so each `except ... as NAME` names its exception differently
# (tests/test_compiled.py checks).
COMPILED = [
    "guardian/accesslog.py",
    "guardian/memo.py",
    "guardian/records.py",
    "guardian/proxy/connections.py",
    "guardian/proxy/context.py",
    "guardian/proxy/framing.py",
    "guardian/proxy/handler.py",
    "guardian/proxy/hooks.py",
    "guardian/proxy/http1.py",
    "guardian/proxy/parking.py",
    "guardian/proxy/relay.py",
    "guardian/proxy/responses.py",
    "guardian/proxy/stream.py",
    "guardian/proxy/upstream.py",
    "guardian/policy/decide.py",
    "guardian/policy/devices.py",
    "guardian/policy/exchange.py",
    "guardian/policy/filetypes.py",
    "guardian/policy/pauses.py",
    "guardian/policy/privacy.py",
    "guardian/policy/rulesets.py",
    "guardian/policy/settings_page.py",
    "guardian/cache/cache.py",
    "guardian/cache/collapse.py",
    "guardian/cache/lookup.py",
    "guardian/cache/rules.py",
    "guardian/cache/store.py",
    "guardian/filters/domains.py",
    "guardian/filters/engine.py",
    "guardian/filters/patterns.py",
    "guardian/filters/request_types.py",
    "guardian/logstore/fairqueue.py",
    "guardian/logstore/store.py",
    "guardian/logstore/writer.py",
    "guardian/tls/inspect.py",  # its connection is the core's: Python cannot subclass a compiled class
]
RECORD = HERE / "guardian" / "compiled_sources.json"


def compiled_extensions() -> list[Extension]:
    if os.environ.get("GUARDIAN_PURE_PYTHON") == "1":
        # An earlier build's compiled copies would still be imported first: remove them.
        for built in [*HERE.glob("guardian_compiled__mypyc.*"), *(HERE / "guardian").rglob("*.so")]:
            built.unlink()
        RECORD.unlink(missing_ok=True)
        return []
    from mypyc.build import mypycify

    # What was compiled, so a changed source is noticed (guardian/compiled.py).
    digests = {path: hashlib.sha256((HERE / path).read_bytes()).hexdigest() for path in COMPILED}
    RECORD.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    # pip builds in an environment without Guardian's dependencies: what the compiled modules
    # use of them is then typed Any, as their calls into Python are anyway. One C file per
    # module: gcc then peaks at about 130 MB (the handler's) instead of about 600 MB on one
    # large file, so mypyc's own 270 MB is the build's peak, and requests cost the same
    # (docs/benchmarks.md).
    return mypycify(["--ignore-missing-imports", *COMPILED], opt_level="3", group_name="guardian_compiled",
                    multi_file=True)


setup(ext_modules=compiled_extensions())
