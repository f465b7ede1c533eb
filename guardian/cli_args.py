"""What the command line accepts for a device and a moment, checked against the configuration.

A device is named as the settings page shows it, in any case ("kid tablet" is "Kid tablet");
an unknown name is refused with the names there are, so a typo never reads as "nothing
logged". A moment for `check --at` is a time of day (today), a day and a time ("sat 22:30"),
or a full ISO 8601 date and time; days and times are read as schedules read them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta

from guardian.config import DAYS, Config, ConfigError, DeviceConfig, normalise_mac, parse_clock, parse_day


class UsageError(Exception):
    """An argument the command cannot use; the command line prints it and exits with status 2."""


def device_name(config: Config, given: str) -> str:
    """The configured name of the device called `given`, matched regardless of case."""
    return _device(config, given).name


def _device(config: Config, given: str) -> DeviceConfig:
    # The configuration refuses names that differ only in capitals, so at most one matches.
    wanted = given.strip().casefold()
    found = next((d for d in config.devices if d.name.casefold() == wanted), None)
    if found is not None:
        return found
    if not config.devices:
        raise UsageError(f"no device is named {given!r}: no devices are named yet (see the settings page's Devices)")
    names = ", ".join(repr(d.name) for d in config.devices)
    raise UsageError(f"no device is named {given!r}; the devices are {names}")


def client_address(config: Config, given: str, device_for: Callable[[str], str | None],
                   neighbours: Callable[[], Iterable[tuple[str, str]]] = tuple) -> str:
    """An IP address as given, or the address a device named `given` asks from: one of its
    configured addresses, or for a device known by its MAC address, the address the network
    has for that MAC now (`neighbours()` yields (ip, mac) pairs). `device_for(ip)` is the
    policy's own identification, so the answer is an address the policy takes for the device."""
    try:
        return str(ipaddress.ip_address(given))
    except ValueError:
        pass
    try:
        device = _device(config, given)
    except UsageError as exc:
        raise UsageError(f"--client {given!r} is neither an IP address nor a device's name: {exc}") from None
    macs = {normalise_mac(item) for item in device.match} - {None}
    candidates = [ip for ip, mac in neighbours() if mac in macs]
    for item in device.match:
        if normalise_mac(item):
            continue
        network = ipaddress.ip_network(item, strict=False)
        # A network's first host (the address itself for a single address), then a few more.
        candidates += [str(host) for _, host in zip(range(4), _hosts(network), strict=False)]
    for ip in candidates:
        if device_for(ip) == device.name:
            return ip
    raise UsageError(f"--client {given!r}: {device.name} is known by its MAC address only and is not on the "
                     "network now; give the address it uses (--client 192.168.1.23)")


def _hosts(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Iterable[ipaddress.IPv4Address |
                                                                                ipaddress.IPv6Address]:
    if network.num_addresses == 1:
        return [network.network_address]
    return network.hosts()


def moment(given: str, today: date) -> datetime:
    """`--at`: "22:30" (today), "sat 22:30" / "Saturday 22:30" (that day this week, from today
    on) or ISO 8601 ("2026-12-05T22:30"); naive, local time in the configured zone."""
    text = given.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    words = text.split()
    day = today
    if len(words) == 2:
        weekday = parse_day(words[0])
        if weekday is None:
            raise UsageError(f"--at {given!r}: {words[0]!r} is not a day ({', '.join(DAYS)})")
        day = today + timedelta(days=(DAYS.index(weekday) - today.weekday()) % 7)
    elif len(words) != 1:
        raise UsageError(f"--at {given!r}: give a time (22:30), a day and a time (sat 22:30) or a date and time "
                         "(2026-12-05T22:30)")
    try:
        clock = parse_clock(words[-1], "--at")
    except ConfigError as exc:
        raise UsageError(f"--at {given!r}: {words[-1]!r} is not a time of day as HH:MM on the 24-hour clock, "
                         "like 22:30") from exc
    hours, minutes = clock.split(":")
    return datetime.combine(day, time(int(hours), int(minutes)))
