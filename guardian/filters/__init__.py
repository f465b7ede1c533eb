"""Guardian's filter engine: Adblock Plus / uBlock Origin network rules, hosts files and
domain lists, matched per request.

    engine = FilterEngine.from_lists({"easylist": text, "custom": "||x.example^"})
    engine.match(url, source_url=None, request_type=None).blocked

Modules: rules.py parses a rule, hosts.py reads hosts files and domain lists, index.py
files rules where a request looks for them, patterns.py turns patterns into regexes and
tokens, engine.py decides, cache.py keeps the built index on disk, request_types.py
names request types and infers them from headers, commands.py serves the command line.
"""

from .engine import Decision, FilterEngine
from .report import ParseReport
from .request_types import infer_request_type
from .rules import check_rule

__all__ = ["Decision", "FilterEngine", "ParseReport", "check_rule", "infer_request_type"]
