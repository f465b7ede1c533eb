"""The one core a proxy process's request threads run on.

CPython runs one thread's Python at a time (the GIL), and a request lets go of it at every
socket call. Spread over several cores, the serving threads pass the GIL across them at
each of those calls: the thread that let go finds it taken when its call returns, and
sleeps until it is handed back. With 50 busy connections on a 2-core machine that was
about 7 context switches and 110 µs of CPU per request; with the same threads kept on one
core, 1.2 and 70 µs, and half the p99 (docs/benchmarks.md, "One core per process").

So the threads that serve requests start on one core and every thread they start
inherits it (the kernel copies a thread's CPU mask to the threads it creates). A single
process starts its log writers there too (service.py); the rest (the settings page, list
refreshes, helper processes, a supervisor) keeps every core. Worker processes each take a
different core, from the last one down: on a Raspberry Pi the first core takes the
network card's interrupts. A CPU mask the kernel refuses (the cores allowed changed
meanwhile, or a system call filter: rpi/guardian.service lets this one call through)
leaves threads where they are: placement is worth having, never worth failing for.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

log = logging.getLogger(__name__)


def core_for(slot: int) -> int | None:
    """The core for proxy process number `slot` (0 for a single process), or None when this
    process may only run on one core anyway."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None
    return allowed[-1 - slot % len(allowed)]


@contextlib.contextmanager
def threads_started_on(core: int | None) -> Iterator[None]:
    """Threads started inside the block run on `core` (None: wherever the caller may run)."""
    if core is None:
        yield
        return
    with _placed({core}) as refused:
        if refused is not None:  # a core taken away meanwhile, or a system call filter
            log.info("proxy threads left on every core: placing them on core %d was refused (%s)",
                     core, refused.strerror)
        yield


@contextlib.contextmanager
def on_every_core() -> Iterator[None]:
    """Inside the block the calling thread may run on any core the process may: a tunnel's
    relay moves its bytes in the kernel, and kept on the proxy's core that work would queue
    behind the requests served there."""
    with _placed(os.sched_getaffinity(os.getpid())):  # the main thread's, which is never placed
        yield


@contextlib.contextmanager
def _placed(cores: set[int]) -> Iterator[OSError | None]:
    """The calling thread on `cores` inside the block, and back where it was after it; the
    block is given the kernel's refusal, if it refused (the thread stays where it was)."""
    before = os.sched_getaffinity(0)
    if before == cores:
        yield None
        return
    try:
        os.sched_setaffinity(0, cores)
    except OSError as exc:
        yield exc
        return
    try:
        yield None
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, before)
