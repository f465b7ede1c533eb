"""Filter-list subscriptions: the catalog, stored copies, downloads and the nightly refresh.

    store = ListStore.for_data_dir(config.data_dir)
    engine = FilterEngine.from_lists(sources_for(config, store), formats=formats_for(config))
    register_refresh_job(scheduler, get_config, store, on_updated=rebuild_and_swap)

Modules: catalog.py (the `lists/` folder: catalog.toml and built-in lists), store.py
(`<data_dir>/lists/<id>.txt` + `<id>.json`), download.py (conditional GET with limits),
validate.py (what a download must pass to replace the last good copy), refresh.py
(refreshing lists concurrently with retries; `texts_for`, `sources_for`), schedule.py (APScheduler
jobs and catch-up of missed runs), commands.py (`guardian lists ...`).
"""

from typing import TYPE_CHECKING, Any

from .catalog import CatalogEntry, load_catalog
from .download import Limits
from .refresh import ListResult, RefreshPolicy, RefreshSummary, formats_for, refresh_lists, sources_for, texts_for
from .store import FAILED_KEPT, FAILED_NONE, OK, UNCHANGED, ListMeta, ListStore

if TYPE_CHECKING:
    from .schedule import register_refresh_job

__all__ = [
    "FAILED_KEPT", "FAILED_NONE", "OK", "UNCHANGED", "CatalogEntry", "Limits", "ListMeta", "ListResult",
    "ListStore", "RefreshPolicy", "RefreshSummary", "formats_for", "load_catalog", "refresh_lists",
    "register_refresh_job", "sources_for", "texts_for",
]


def __getattr__(name: str) -> Any:
    # The schedule (APScheduler) is imported by whoever schedules, not by every user of the
    # store: a proxy worker reads lists but never schedules their refresh.
    if name == "register_refresh_job":
        from .schedule import register_refresh_job

        return register_refresh_job
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
