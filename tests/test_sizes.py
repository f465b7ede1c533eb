"""Byte counts are written one way everywhere (guardian/sizes.py)."""

from __future__ import annotations

import pytest

from guardian.sizes import size_text


@pytest.mark.parametrize(("size", "text"), [
    (0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1024, "1 KiB"), (20_000, "19.5 KiB"),
    (3 * 2**20, "3 MiB"), (int(1.25 * 2**30), "1.2 GiB"), (5 * 2**40, "5120 GiB"),
])
def test_sizes_in_words(size, text):
    assert size_text(size) == text
