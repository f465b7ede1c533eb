"""The memory budget for lists: a download that would take the lists over it is refused,
naming the list and what it needs, and the last good copy stays."""

from __future__ import annotations

from guardian.lists import FAILED_KEPT, OK, ListStore, RefreshPolicy, refresh_lists
from guardian.lists.download import Limits
from guardian.lists.refresh import FAILED, UPDATED

POLICY = RefreshPolicy(limits=Limits(connect_timeout=1.0, read_timeout=1.0, total_timeout=5.0), attempts=1)


def rules_with_options(count: int, prefix: str = "h") -> bytes:
    """Whole-host rules with an option, which go into the host table (about 800 bytes each)."""
    return "".join(f"||{prefix}{i:06d}.example^$third-party\n" for i in range(count)).encode()


def plain_hosts(count: int) -> bytes:
    """Plain hosts, which go into a compact table (about 12 bytes each)."""
    return "".join(f"0.0.0.0 h{i:06d}.example\n" for i in range(count)).encode()


def setup(tmp_path, server, kit, lists: dict[str, bytes], budget_mb: int = 8):
    for list_id, body in lists.items():
        server.routes[f"/{list_id}.txt"] = kit.Served(body)
    config = kit.make_config(tmp_path, [(list_id, server.url(f"/{list_id}.txt"), "auto") for list_id in lists],
                             extra=f"[refresh]\nmemory_budget_mb = {budget_mb}\n")
    return config, ListStore.for_data_dir(tmp_path)


def test_a_list_over_the_budget_is_refused_and_the_last_good_copy_kept(tmp_path, kit, server):
    config, store = setup(tmp_path, server, kit, {"big": rules_with_options(100)})
    (first,) = refresh_lists(config, store, policy=POLICY).results
    assert first.outcome == UPDATED
    assert store.load_meta("big").memory_bytes == 100 * 800
    server.routes["/big.txt"] = kit.Served(rules_with_options(14_000))
    (result,) = refresh_lists(config, store, policy=POLICY).results
    assert result.outcome == FAILED
    assert result.message == (f"{FAILED_KEPT}: rejected: the list 'big' is too big for this Guardian: it would "
                              "need about 11 MiB of memory, more than the 8 MiB set aside for lists (memory_budget_mb)")
    assert store.read_bytes("big") == rules_with_options(100)
    meta = store.load_meta("big")
    assert meta.status == FAILED_KEPT and meta.rules == 100 and "too big" in meta.error


def test_plain_hosts_are_cheap_enough_to_fit(tmp_path, kit, server):
    config, store = setup(tmp_path, server, kit, {"big": plain_hosts(14_000)})
    (result,) = refresh_lists(config, store, policy=POLICY).results
    assert result.outcome == UPDATED
    meta = store.load_meta("big")
    assert meta.status == OK and meta.memory_bytes == 14_000 * 12


def test_the_other_lists_count_against_the_budget(tmp_path, kit, server):
    config, store = setup(tmp_path, server, kit, {"first": rules_with_options(7_000, "a"),
                                                 "second": rules_with_options(100, "b")})
    assert all(result.outcome == UPDATED for result in refresh_lists(config, store, policy=POLICY).results)
    server.routes["/second.txt"] = kit.Served(rules_with_options(7_000, "b"))
    (result,) = refresh_lists(config, store, ["second"], policy=POLICY).results
    assert result.outcome == FAILED
    assert "would need about 5 MiB of memory beside the 5 MiB of the other lists" in result.message
    assert store.load_meta("second").rules == 100
    # with a larger budget the same download is accepted
    config, store = setup(tmp_path, server, kit, {"first": rules_with_options(7_000, "a"),
                                                 "second": rules_with_options(7_000, "b")}, budget_mb=16)
    (result,) = refresh_lists(config, store, ["second"], policy=POLICY).results
    assert result.outcome == UPDATED
