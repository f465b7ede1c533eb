"""The record queue: arrival order across devices, in batches of any size."""

from __future__ import annotations

import random

from guardian.logstore.fairqueue import FairQueue


def test_one_device_in_arrival_order_in_batches() -> None:
    queue: FairQueue[int] = FairQueue(100)
    for n in range(10):
        queue.put("a", n)
    assert queue.take(4) == [0, 1, 2, 3]
    assert queue.take(0) == []
    assert queue.take(10) == [4, 5, 6, 7, 8, 9]
    assert len(queue) == 0 and queue.take(5) == []


def test_several_devices_come_out_in_arrival_order() -> None:
    queue: FairQueue[str] = FairQueue(100)
    order = ["a", "b", "a", "c", "c", "b", "a", "d", "a", "b"]
    for n, client in enumerate(order):
        queue.put(client, f"{client}{n}")
    expected = [f"{client}{n}" for n, client in enumerate(order)]
    assert queue.take(3) == expected[:3]
    assert queue.take(4) == expected[3:7]
    queue.put("c", "c10")
    assert queue.take(100) == [*expected[7:], "c10"]
    assert len(queue) == 0


def test_random_puts_and_takes_against_one_list_in_arrival_order() -> None:
    """Puts from a few devices and takes of random sizes, against one plain list in arrival
    order (no drops here: which record a full queue drops is test_log_flood's)."""
    rnd = random.Random(7)
    queue: FairQueue[int] = FairQueue(10**6)
    model: list[int] = []
    for item in range(20_000):
        if rnd.random() < 0.1:
            limit = rnd.randint(1, 60)
            assert queue.take(limit) == model[:limit]
            del model[:limit]
        else:
            assert queue.put(rnd.choice(["flood"] * 3 + list("abcd")), item) == 0
            model.append(item)
        assert len(queue) == len(model)
    assert queue.take(len(model)) == model
    assert len(queue) == 0
