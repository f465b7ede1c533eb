"""Byte counts in words, the one way every command, message and page writes them."""

from __future__ import annotations

_UNITS = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def size_text(size: float) -> str:
    """`512 bytes`, `19.5 KiB`, `3 MiB`, `1.2 GiB` (binary units, as the limits are set)."""
    for unit, scale in _UNITS:
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size:.0f} byte" + "s" * (size != 1)
