"""Household policy: which device asks, which of its profile's rules apply right now
(schedules, pauses, allowances), safe search, and the block page.

    policy = Policy(config, list_texts, cache_dir=..., neighbours=NeighbourTable(),
                    seen=SeenDevices.for_data_dir(data_dir),
                    pauses=PauseStore.for_data_dir(data_dir))
    holder = PolicyHolder(policy)        # the proxy's Decider
    holder.swap(Policy(new_config, texts, previous=holder.policy, ...))   # on reload

Modules: devices.py (who), schedules.py (when), pauses.py (temporary exceptions),
rulesets.py (the parents' rules), safesearch.py, blockpage.py, decide.py (the
precedence), commands.py (what the command line calls).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .decide import Policy, PolicyHolder
    from .devices import NeighbourTable, SeenDevices
    from .pauses import Pause, PauseStore
    from .rulesets import CUSTOM_LIST

# Loaded on first use: the configuration checks names against light modules of this
# package (services, parent_rules) and must not pull in the filter engine to do it.
_HOMES = {
    "Policy": "decide", "PolicyHolder": "decide", "NeighbourTable": "devices", "SeenDevices": "devices",
    "Pause": "pauses", "PauseStore": "pauses", "CUSTOM_LIST": "rulesets",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)


__all__ = ["CUSTOM_LIST", "NeighbourTable", "Pause", "PauseStore", "Policy", "PolicyHolder", "SeenDevices"]
