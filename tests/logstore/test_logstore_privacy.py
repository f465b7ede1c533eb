"""The [log] detail levels: what each one keeps, and live changes."""

from __future__ import annotations

import pytest

from guardian.logstore import LogStore

ALL_TIME = 4_000_000_000.0


def _blocked(make_record):
    return make_record(host="games.example", target="/play?level=3", action="blocked", status=403,
                       rule="||games.example^", list_id="games", reason="games.example is on list games",
                       schedule="school-night")


@pytest.mark.parametrize(
    ("detail", "host", "target", "client", "rule"),
    [
        ("full", "games.example", "/play?level=3", "192.168.1.20", "||games.example^"),
        ("host", "games.example", None, "192.168.1.20", "||games.example^"),
        ("none", None, None, None, None),
    ],
)
def test_detail_levels(db_path, clock, make_record, detail, host, target, client, rule):
    with LogStore(db_path, detail=detail, clock=clock, flush_interval=0.01) as store:
        store.record(_blocked(make_record))
    (rec,) = store.queries.search().records
    assert (rec.host, rec.target, rec.client_addr, rec.rule, rec.detail) == (host, target, client, rule, detail)
    # What every level keeps: enough for counts per device, action, list and schedule.
    assert (rec.device, rec.action, rec.status, rec.bytes_to_client, rec.list_id, rec.schedule) == (
        "kid-tablet", "blocked", 403, 5000, "games", "school-night")
    if detail == "none":
        assert rec.port is None and rec.reason is None


def test_counts_still_work_with_nothing_but_counts(db_path, clock, make_record):
    with LogStore(db_path, detail="none", clock=clock, flush_interval=0.01) as store:
        store.record(_blocked(make_record))
        store.record(make_record())
        store.rollup()
    q = store.queries
    assert q.totals(0, ALL_TIME).share_blocked == 0.5
    assert [(d.device, d.requests, d.blocked) for d in q.top_devices(0, ALL_TIME)] == [("kid-tablet", 2, 1)]
    assert q.top_hosts(0, ALL_TIME) == []  # no host was kept


def test_changing_detail_applies_to_new_records_only(db_path, clock, make_record, flushed):
    with LogStore(db_path, detail="full", clock=clock, flush_interval=0.01) as store:
        store.record(make_record(target="/first"))
        store.detail = "host"
        store.record(make_record(target="/second"))
        store.detail = "none"
        store.record(make_record(target="/third"))
        assert store.detail == "none"
        with pytest.raises(ValueError):
            store.detail = "paths"
    records = store.queries.search().records
    assert [(r.detail, r.host, r.target) for r in reversed(records)] == [
        ("full", "example.com", "/first"), ("host", "example.com", None), ("none", None, None)]


@pytest.mark.parametrize("detail", ["full", "host", "none"])
def test_a_plain_row_is_the_full_row_without_its_words(make_record, detail):
    """The writer's short row for a record with nothing to say holds exactly what to_row
    keeps of it at every level; the words left out are all None and `times` is 1."""
    from guardian.logstore.privacy import PLAIN_COLUMNS, ROW_COLUMNS, has_no_words, plain_row, to_row

    for record in (make_record(), make_record(cache="HIT", action="cached"), make_record(device=None, port=8081)):
        assert has_no_words(record)
        full = dict(zip(ROW_COLUMNS, to_row(record, detail), strict=True))
        plain = dict(zip(PLAIN_COLUMNS, plain_row(record, detail), strict=True))
        assert plain == {name: full[name] for name in PLAIN_COLUMNS}
        assert {name: full[name] for name in ROW_COLUMNS if name not in PLAIN_COLUMNS} == {
            "reason": None, "rule": None, "list_id": None, "schedule": None, "error_kind": None, "times": 1}
    for says in ({"reason": "why"}, {"rule": "||x^"}, {"list_id": "ads"}, {"schedule": "bedtime"},
                 {"error_kind": "dns", "action": "error"}, {"action": "blocked", "status": 403}):
        assert not has_no_words(make_record(**says)), says
