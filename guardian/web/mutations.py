"""Changes to the configuration document, one function per thing a page can change.

Each takes the tomlkit document of the configuration file (so comments and layout
survive) and changes only what it must. Impossible requests (a profile that does not
exist, deleting `default`) raise ConfigError with a sentence for people; everything
else is checked afterwards by `parse_config`, so these need not re-check every rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import tomlkit
from tomlkit import TOMLDocument
from tomlkit.items import AoT, Array, Table

from guardian.config import Config, ConfigError, check_device_match
from guardian.tls.bypass import bypass_match


def _aot(doc: TOMLDocument, key: str) -> AoT:
    if key not in doc:
        doc.append(key, tomlkit.aot())
    return doc[key]


def _find(doc: TOMLDocument, key: str, name: str) -> Table | None:
    for table in doc.get(key) or ():
        if table.get("name") == name:
            return table
    return None


def _refuse_same_name(what: str, names: Iterable[str], name: str, but: str | None = None) -> None:
    """Refuse `name` when one of `names` other than `but` is the same whatever its capitals
    (names are one to a parent: "Kids" and "kids")."""
    taken = next((other for other in names if other != but and other.casefold() == name.casefold()), None)
    if taken is not None:
        raise ConfigError(f"there is already a {what} called {taken}" + ("" if taken == name else
                          " (names count as the same whatever their capital letters)"))


def _names(doc: TOMLDocument, key: str) -> list[str]:
    return [str(table.get("name", "")) for table in doc.get(key) or ()]


def _table(doc: TOMLDocument, key: str) -> Table:
    """A top-level table such as [log], created (before the arrays of tables) if missing."""
    if key not in doc:
        doc[key] = tomlkit.table()
    return doc[key]


def profile(doc: TOMLDocument, name: str, config: Config) -> Table:
    """The `[[profiles]]` table named `name`. The default profile may be implicit (absent
    from the file, taking every enabled list): its first edit writes it out as it was."""
    table = _find(doc, "profiles", name)
    if table is not None:
        return table
    if name != "default":
        raise ConfigError(f"there is no profile named {name!r}")
    table = tomlkit.table()
    table["name"] = "default"
    table["lists"] = list(config.profile("default").lists)
    _aot(doc, "profiles").append(table)
    return table


def add_profile(doc: TOMLDocument, name: str, config: Config) -> None:
    _refuse_same_name("profile", (p.name for p in config.profiles), name)
    profile(doc, "default", config)  # keep the implicit default as it is
    table = tomlkit.table()
    table["name"] = name
    table["lists"] = list(config.profile("default").lists)
    _aot(doc, "profiles").append(table)


def rename_profile(doc: TOMLDocument, old: str, new: str, config: Config) -> None:
    if old == "default":
        raise ConfigError("the default profile cannot be renamed")
    _refuse_same_name("profile", (p.name for p in config.profiles), new, but=old)
    profile(doc, old, config)["name"] = new
    for device in doc.get("devices") or ():
        if device.get("profile") == old:
            device["profile"] = new


def delete_profile(doc: TOMLDocument, name: str, config: Config) -> None:
    if name == "default":
        raise ConfigError("the default profile cannot be deleted")
    users = [d.name for d in config.devices if d.profile == name]
    if users:
        raise ConfigError(f"the profile {name!r} is used by {', '.join(users)}: give them another profile first")
    profiles = doc.get("profiles") or []
    index = next((i for i, table in enumerate(profiles) if table.get("name") == name), None)
    if index is None:
        raise ConfigError(f"there is no profile named {name!r}")
    del profiles[index]


def add_rule(doc: TOMLDocument, name: str, kind: str, rule: str, config: Config) -> None:
    table = profile(doc, name, config)
    if kind not in table:
        table[kind] = tomlkit.array()
    if rule in table[kind]:
        raise ConfigError(f"{rule!r} is already in the {kind} rules of {name!r}")
    table[kind].append(rule)


def remove_rule(doc: TOMLDocument, name: str, kind: str, rule: str, config: Config) -> None:
    rules = profile(doc, name, config).get(kind)
    if rules is None or rule not in rules:
        raise ConfigError(f"{rule!r} is not in the {kind} rules of {name!r}")
    del rules[list(rules).index(rule)]


def set_profile_options(doc: TOMLDocument, name: str, lists: list[str], safe_search: bool, youtube: str,
                        config: Config, pac_fallback: str | None = None) -> None:
    table = profile(doc, name, config)
    table["lists"] = lists
    table["safe_search"] = safe_search
    table["youtube"] = youtube
    if pac_fallback is not None and (pac_fallback != "none" or "pac_fallback" in table):
        table["pac_fallback"] = pac_fallback


def set_downloads_and_privacy(doc: TOMLDocument, name: str, file_types: list[str], privacy: dict[str, Any],
                              config: Config) -> None:
    """The profile's blocked file kinds, and its privacy keys that differ from the household's
    (the others are left out so a later household change still reaches this profile)."""
    table = profile(doc, name, config)
    if file_types:
        table["block_file_types"] = file_types
    elif "block_file_types" in table:
        del table["block_file_types"]
    household = config.privacy
    own = {key: value for key, value in privacy.items() if getattr(household, key) != value}
    if own:
        privacy_table = tomlkit.table()
        for key, value in own.items():
            privacy_table[key] = value
        table["privacy"] = privacy_table
    elif "privacy" in table:
        del table["privacy"]


def set_profile_https(doc: TOMLDocument, name: str, block_page: bool, inspect: str, hosts: list[str],
                      config: Config) -> None:
    """The profile's HTTPS keys; defaults are left out of the file (validation checks the hosts)."""
    table = profile(doc, name, config)
    for key, value, default in (("https_block_page", block_page, True), ("inspect_https", inspect, "off"),
                                ("inspect_hosts", hosts, [])):
        if value != default or key in table:
            table[key] = value


def _bypass(doc: TOMLDocument, config: Config) -> Array:
    """The file's `[https] bypass`. Setting the key replaces the shipped list, so the
    first edit writes out the list in force (the shipped one) before changing it."""
    https = _table(doc, "https")
    if "bypass" not in https:
        entries = tomlkit.array()
        entries.extend(config.https.bypass)
        https["bypass"] = entries.multiline(True)
    return https["bypass"]


def add_bypass(doc: TOMLDocument, host: str, config: Config) -> None:
    covering = bypass_match(host, config.https.bypass)
    if covering == host:
        raise ConfigError(f"{host} is already on the list of sites Guardian never decrypts")
    if covering is not None:
        raise ConfigError(f"{host} is already covered by {covering} on the list of sites Guardian never decrypts")
    _bypass(doc, config).append(host)


def remove_bypass(doc: TOMLDocument, host: str, config: Config) -> None:
    if host not in config.https.bypass:
        raise ConfigError(f"{host} is not on the list of sites Guardian never decrypts")
    entries = _bypass(doc, config)
    # the file may spell it "*.Host" or "host."; compare the way the configuration reads it
    index = next((i for i, item in enumerate(entries)
                  if str(item).strip().lower().removeprefix("*.").strip(".") == host), None)
    if index is None:
        raise ConfigError(f"{host} is not on the list of sites Guardian never decrypts")
    del entries[index]


def add_schedule(doc: TOMLDocument, name: str, schedule: dict[str, Any], config: Config) -> None:
    table = profile(doc, name, config)
    if "schedules" not in table:
        table.append("schedules", tomlkit.aot())
    entry = tomlkit.table()
    for key, value in schedule.items():
        entry[key] = value
    table["schedules"].append(entry)


def remove_schedule(doc: TOMLDocument, name: str, schedule: str, config: Config) -> None:
    schedules = profile(doc, name, config).get("schedules") or []
    index = next((i for i, table in enumerate(schedules) if table.get("name") == schedule), None)
    if index is None:
        raise ConfigError(f"the profile {name!r} has no schedule named {schedule!r}")
    del schedules[index]


def add_device(doc: TOMLDocument, name: str, match: str, profile_name: str) -> None:
    _refuse_same_name("device", _names(doc, "devices"), name)
    table = tomlkit.table()
    table["name"] = name
    table["match"] = [match]
    table["profile"] = profile_name
    _aot(doc, "devices").append(table)


def update_device(doc: TOMLDocument, old: str, name: str, profile_name: str) -> None:
    table = _find(doc, "devices", old)
    if table is None:
        raise ConfigError(f"there is no device named {old!r}")
    _refuse_same_name("device", _names(doc, "devices"), name, but=old)
    table["name"] = name
    table["profile"] = profile_name


def add_device_match(doc: TOMLDocument, name: str, match: str) -> None:
    """One more address (a MAC, a second IP) for a named device; validation refuses one
    another device already has."""
    table = _find(doc, "devices", name)
    if table is None:
        raise ConfigError(f"there is no device named {name!r}")
    if "match" not in table:
        table["match"] = tomlkit.array()
    if match in _normal_matches(table["match"]):
        raise ConfigError(f"{name} already has the address {match}")
    table["match"].append(match)


def _normal_matches(matches: Array) -> list[str | None]:
    """A device's addresses as the configuration reads them (the file may spell a MAC
    "AA-BB-…"); None for one it cannot read, which validation reports."""
    found: list[str | None] = []
    for item in matches:
        try:
            found.append(check_device_match(str(item), "match"))
        except ConfigError:
            found.append(None)
    return found


def remove_device_match(doc: TOMLDocument, name: str, match: str) -> None:
    """Drop one of a device's addresses; its last one stays (forget the device instead)."""
    table = _find(doc, "devices", name)
    matches = table.get("match") if table is not None else None
    normal = _normal_matches(matches) if matches is not None else []
    if matches is None or match not in normal:
        raise ConfigError(f"{name} has no address {match}")
    if len(normal) == 1:
        raise ConfigError(f"{match} is the only address of {name}; forget the device instead")
    del matches[normal.index(match)]


def remove_device(doc: TOMLDocument, name: str) -> None:
    devices = doc.get("devices") or []
    index = next((i for i, table in enumerate(devices) if table.get("name") == name), None)
    if index is None:
        raise ConfigError(f"there is no device named {name!r}")
    del devices[index]


def set_list_enabled(doc: TOMLDocument, list_id: str, enabled: bool) -> None:
    for table in doc.get("lists") or ():
        if table.get("id") == list_id:
            table["enabled"] = enabled
            return
    raise ConfigError(f"no list has the id {list_id!r}")


def set_values(doc: TOMLDocument, values: dict[str, Any]) -> None:
    """Set dotted keys: {"log.detail": "host", "timezone": "Europe/Paris"}."""
    for dotted, value in values.items():
        *tables, key = dotted.split(".")
        target: Any = doc
        for name in tables:
            target = _table(target, name) if target is doc else target.setdefault(name, tomlkit.table())
        target[key] = value


def replace_document(doc: TOMLDocument, new: TOMLDocument, keep: tuple[str, ...]) -> None:
    """Make `doc` the restored document `new`, with its comments, but keeping this file's
    values of the top-level keys in `keep` (such as data_dir, which belongs to this machine)."""
    kept = {key: doc[key] for key in keep if key in doc}
    doc.clear()
    del doc.body[:]  # clear() leaves comments and blank lines behind
    for key, value in kept.items():
        if key not in new:
            doc.append(key, value)  # top-level keys come first, before any table
    for new_key, value in new.body:
        if new_key is None:
            doc.add(value)
        else:
            doc.append(new_key, kept.get(new_key.key, value))
