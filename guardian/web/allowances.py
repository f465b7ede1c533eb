"""Pauses and temporary allowances as a parent sees them: one line per thing allowed.

Extending a pause or an allowance ("+15 min") adds an entry that starts when the running
one ends, so the store may hold several entries for one thing; they are shown as one,
with the latest end, and "end now" ends them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guardian.policy.pauses import Pause

from .state import services

EXTEND_CHOICES = (15, 60)


@dataclass
class Running:
    kind: str  # "pause" | "allow"
    scope: str  # "profile" | "device"
    name: str
    host: str | None
    expires: float
    ids: list[str] = field(default_factory=list)

    @property
    def what(self) -> str:
        if self.kind == "end":
            return f"{self.host} ended early"
        return "Filtering paused" if self.kind == "pause" else f"{self.host} allowed"

    @property
    def who(self) -> str:
        return f"{'profile' if self.scope == 'profile' else 'device'} {self.name}"


def running(kind: str | None = None, scope: str | None = None, name: str | None = None) -> list[Running]:
    """Active pauses and allowances, grouped per thing, soonest to end first."""
    groups: dict[tuple[str, str, str, str | None], Running] = {}
    for entry in services().pauses.active():
        if (kind and entry.kind != kind) or (scope and entry.scope != scope) or (name and entry.name != name):
            continue
        key = (entry.kind, entry.scope, entry.name, entry.host)
        group = groups.setdefault(key, Running(entry.kind, entry.scope, entry.name, entry.host, entry.expires))
        group.expires = max(group.expires, entry.expires)
        group.ids.append(entry.id)
    return sorted(groups.values(), key=lambda g: g.expires)


def group_of(entry_id: str) -> tuple[Pause, list[Pause]] | None:
    """The active entry with this id and every active entry for the same thing."""
    active = services().pauses.active()
    entry = next((e for e in active if e.id == entry_id), None)
    if entry is None:
        return None
    same = [e for e in active if (e.kind, e.scope, e.name, e.host) == (entry.kind, entry.scope, entry.name, entry.host)]
    return entry, same
