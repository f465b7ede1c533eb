"""The one decision: who is asking, which rules apply to them now, and what they get.

Precedence (first that applies decides; docs/policy.md has the table):
  0. a plain-HTTP request for Guardian's own settings page -> allowed, to its address (settings_page.py)
  1. device -> profile (unknown devices use the profile "default")
  2. a pause or an allowance for the device or its profile -> allowed
  3. an active schedule: `block = "all"` -> blocked; its own rules matching -> blocked
  4. the profile's `allow` rules -> allowed
  5. the profile's `block` rules -> blocked
  6. the profile's subscribed lists (their exceptions included) -> blocked or allowed
  7. otherwise allowed
An allowed request to a search or video host of a profile with safe search gets the
vendor's safe address as `connect_host` (and the safe parameter for plain HTTP).

Strategy: `Policy` is an immutable snapshot of everything a decision needs, built off
the request path from the configuration and the lists' texts: per profile the compiled
rules, schedules and safe-search table; one FilterEngine per distinct set of subscribed
lists (shared by the profiles with that set, and reused from the previous snapshot when
the lists did not change). `PolicyHolder` swaps snapshots with one reference assignment,
so a rebuild never blocks or disturbs a request in flight. What changes at run time
(pauses, the neighbour table, devices seen) lives in shared objects the snapshot points to.

A decision does no DNS and no network I/O: the host is matched as a name, and only a
blocked or an allowed Verdict leaves here; the proxy core connects afterwards, if at all.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from guardian.config import Config, ProfileConfig, household_service_table
from guardian.filters import FilterEngine, infer_request_type
from guardian.filters.compact import ListFile
from guardian.filters.request_types import infer_type_from_fields
from guardian.proxy.hooks import RequestInfo, Verdict
from guardian.service_catalog import ServiceIndex, default_catalog, merge

from .blockpage import BlockInfo, page_response, stand_in_response, wants_page
from .devices import DeviceDirectory, NeighbourTable, SeenDevices
from .exchange import ExchangeRules, Review, ScheduledFileTypes
from .filetypes import FileTypeRules
from .inspection import inspection_of
from .limits import UsageMeter
from .pauses import PauseStore
from .privacy import PrivacyRules
from .removeparam import parse_removeparam
from .rulesets import CUSTOM_LIST, RuleSet, compile_rules, split_rules
from .safesearch import SafeSearch, YouTubeRestrict
from .schedules import Window, ZoneClock, compile_window, until_text
from .service_rules import Activity, ServiceRules
from .settings_page import SettingsPageRoute

EngineKey = tuple[tuple[str, str, str | ListFile], ...]  # ((list id, format, text or file), ...) by id


class _Schedule(NamedTuple):
    name: str
    label: str  # "Bedtime": the name as a sentence starts
    window: Window
    block_all: bool
    rules: RuleSet | None


def missing_list_problem(list_id: str) -> str:
    return f"list {list_id!r} has no stored copy yet; not applied"


class _Profile(NamedTuple):
    name: str
    schedules: tuple[_Schedule, ...]
    allow: RuleSet | None
    block: RuleSet | None
    engine: FilterEngine | None
    safe: SafeSearch | None
    exchange: ExchangeRules | None  # file kinds and privacy for allowed plain-HTTP requests
    https_block_page: bool
    inspect: str  # "off" | "hosts" | "all"
    inspect_hosts: frozenset[str]
    services: ServiceRules | None = None  # last, with a default: blocked services, windows, limits


class _Who(NamedTuple):
    """A configured device (or 'any other device') with its profile, and the Verdict for
    a request nothing matched: built once, as the core only reads Verdicts."""

    device: str | None
    profile: _Profile
    allowed: Verdict


def _who(device: str | None, profile: _Profile) -> _Who:
    edits = profile.exchange.constant_edits if profile.exchange is not None else None
    return _Who(device, profile, Verdict(allowed=True, device=device, profile=profile.name, edits=edits))


class Policy:
    def __init__(
        self,
        config: Config,
        list_texts: Mapping[str, str | ListFile],
        *,
        cache_dir: Path | None = None,
        neighbours: NeighbourTable | None = None,
        seen: SeenDevices | None = None,
        pauses: PauseStore | None = None,
        previous: Policy | None = None,
        usage: UsageMeter | None = None,
        clock: Callable[[], float] = time.time,
        build_aside: bool = False,
    ) -> None:
        """Build a snapshot. `list_texts` maps list ids to their stored text or file (missing or
        disabled lists are left out and noted in `problems`); `previous` lends its
        engines for lists whose text did not change; `build_aside`: an index with no cache is
        built in a helper process (guardian/filters/aside.py)."""
        self.config = config
        self._build_aside = build_aside
        self.clock = clock  # Unix time of a decision made "now"; tests move it
        self.zone = config.zone()
        self.problems: list[str] = []
        self.missing_lists: list[str] = []  # subscribed and enabled, but with no stored copy
        self._clock = ZoneClock(self.zone)
        self._seen = seen
        self._pauses = pauses
        self._list_names = {entry.id: entry.name for entry in config.lists}
        self.services = ServiceIndex(merge(default_catalog(), [household_service_table(s) for s in config.services]))
        # Without a shared meter (guardian check, tests) limits still apply, counted here.
        self.usage = usage if usage is not None else UsageMeter(self.zone, clock=clock)
        self.conflicts: list[str] = []  # parents' allow rules that a service block outranks
        self._bypass = frozenset(config.https.bypass)
        self._engines: dict[EngineKey, FilterEngine] = {}
        old_engines = previous._engines if previous is not None else {}
        profiles = {
            p.name: self._compile_profile(p, list_texts, cache_dir, old_engines) for p in config.profiles
        }
        self._settings_page = SettingsPageRoute(config.web)
        self._profiles = profiles
        self._unknown = _who(None, profiles["default"])
        self.service_rules = {name: p.services for name, p in profiles.items() if p.services is not None}
        self._devices: DeviceDirectory[_Who] = DeviceDirectory(
            ((d.match, _who(d.name, profiles[d.profile])) for d in config.devices), neighbours
        )

    # ------------------------------------------------------------ building

    def _compile_profile(
        self, profile: ProfileConfig, list_texts: Mapping[str, str | ListFile], cache_dir: Path | None,
        old_engines: dict[EngineKey, FilterEngine],
    ) -> _Profile:
        where = f"profile {profile.name!r}"
        blocks, allows = split_rules(profile.block, profile.allow)
        schedules = tuple(
            _Schedule(s.name, s.name[:1].upper() + s.name[1:], compile_window(s), s.block_all,
                      None if s.block_all else compile_rules(s.block, f"{where}, schedule {s.name!r}", self.problems))
            for s in profile.schedules
        )
        safe = SafeSearch(profile.safe_search, profile.youtube)
        return _Profile(
            name=profile.name,
            schedules=schedules,
            allow=compile_rules(allows, f"{where}, allow", self.problems, "allow"),
            block=compile_rules(blocks, f"{where}, block", self.problems),
            engine=self._lists_engine(profile, list_texts, cache_dir, old_engines),
            safe=safe if safe.enabled else None,
            exchange=self._exchange_rules(profile, list_texts),
            services=self._service_rules(profile, allows),
            https_block_page=profile.https_block_page,
            inspect=profile.inspect_https,
            inspect_hosts=frozenset(profile.inspect_hosts),
        )

    def _exchange_rules(self, profile: ProfileConfig,
                        list_texts: Mapping[str, str | ListFile]) -> ExchangeRules | None:
        texts = {list_id: list_texts[list_id] for list_id in profile.lists
                 if list_id in list_texts and self.config.list_by_id(list_id).enabled}
        privacy = PrivacyRules(self.config.privacy_for(profile), parse_removeparam(texts))
        scheduled = tuple(
            ScheduledFileTypes(s.name, s.name[:1].upper() + s.name[1:], compile_window(s),
                               FileTypeRules(s.block_file_types))
            for s in profile.schedules if s.block_file_types
        )
        always = FileTypeRules(profile.block_file_types) if profile.block_file_types else None
        if always is None and not scheduled and privacy.does_nothing:
            return None
        return ExchangeRules(profile.name, always, scheduled, privacy)
    def _service_rules(self, profile: ProfileConfig, allows: list[str]) -> ServiceRules | None:
        rules = ServiceRules.build(profile, self.services, self.usage)
        if rules is not None and not rules.allow_rules_win:
            for written in allows:
                host = written.strip().removeprefix("@@").removeprefix("||").rstrip("^").lower()
                found = self.services.lookup(host)
                if found and any(s in rules.mentioned for s in found):
                    name = self.services.services[found[0]].name
                    self.conflicts.append(
                        f"Profile {profile.name}: the allow rule {written.strip()} does not lift the rules for "
                        f"{name}; its block or limit wins (turn on 'allow rules win' to change that)")
        return rules

    def _lists_engine(
        self, profile: ProfileConfig, list_texts: Mapping[str, str | ListFile], cache_dir: Path | None,
        old_engines: dict[EngineKey, FilterEngine],
    ) -> FilterEngine | None:
        parts = []
        for list_id in sorted(profile.lists):
            entry = self.config.list_by_id(list_id)
            if not entry.enabled:
                continue
            text = list_texts.get(list_id)
            if text is None:
                if list_id not in self.missing_lists:  # once, however many profiles use it
                    self.missing_lists.append(list_id)
                    self.problems.append(missing_list_problem(list_id))
                continue
            parts.append((list_id, entry.format, text))
        if not parts:
            return None
        key: EngineKey = tuple(parts)
        engine = self._engines.get(key) or old_engines.get(key)
        if engine is None:
            engine = FilterEngine.from_lists(
                {lid: text for lid, _, text in parts}, formats={lid: fmt for lid, fmt, _ in parts}, cache_dir=cache_dir,
                aside=self._build_aside,
            )
        self._engines[key] = engine
        return engine

    # ------------------------------------------------------------ deciding

    def decide(self, request: RequestInfo, now: datetime | None = None, *, count: bool = True) -> Verdict:
        """`count` False: a re-decision of an open connection, which is not new use."""
        page = self._settings_page.verdict(request)
        if page is not None:
            return page
        timestamp = self.clock() if now is None else now.timestamp()
        verdict = self._decide(request, timestamp, count)
        if count and verdict.activity is not None:
            verdict.activity(timestamp, None)
        return verdict

    def _decide(self, request: RequestInfo, timestamp: float, count: bool) -> Verdict:
        who = self._devices.identify(request.client_ip)
        if who is None:
            who = self._unknown
            if self._seen is not None and count:
                self._seen.note(request.client_ip, timestamp)
        if request.method == "CONNECT":
            return self._evaluate(who, request.client_ip, "CONNECT", request.host, None, "",
                                  None, None, None, timestamp)
        headers = request.headers
        url = request.url
        request_type = infer_type_from_fields(request.method, url, headers)
        verdict = self._evaluate(who, request.client_ip, request.method, request.host, url,
                                 request.target, headers.get("referer"), request_type, headers.get("accept"),
                                 timestamp)
        exchange = who.profile.exchange
        if exchange is not None and verdict.allowed:
            verdict = self._review(exchange, who, request, url, request_type, verdict, timestamp)
        safe = who.profile.safe
        if verdict.allowed and safe is not None and request.scheme == "https":
            # Inside an inspected tunnel YouTube's own header works too, beside its restricted address.
            mode = safe.youtube_restrict(request.host)
            if mode is not None:
                verdict = dataclasses.replace(verdict, edits=YouTubeRestrict(mode, verdict.edits))
        return verdict

    def _review(self, exchange: ExchangeRules, who: _Who, request: RequestInfo, url: str,
                request_type: str | None, verdict: Verdict, timestamp: float) -> Verdict:
        """File kinds and privacy for an allowed request (see exchange.py)."""
        headers = request.headers
        minute = self._clock.minute_of_week(timestamp) if exchange.has_schedules else 0

        def block(reason: str, schedule: str | None) -> Verdict:
            return self._block(who, request.client_ip, request.method, request.host, url, request_type,
                               headers.get("accept"), reason, None, None, schedule)

        review: Review = exchange.review(request.host, verdict.target or request.target, minute, headers, block)
        if review.blocked is not None:
            paused = self._pauses is not None and \
                self._pauses.find(who.profile.name, who.device, request.host, timestamp) is not None
            if not paused:
                schedule = review.blocked.schedule
                return block(review.blocked.reason(who.profile.name), schedule.name if schedule else None)
            return verdict
        if review.target is None and review.edits is verdict.edits:
            return verdict
        reason = verdict.reason
        if review.removed:
            note = f"Tracking parameters removed: {', '.join(review.removed)}"
            reason = f"{reason}; {note}" if reason else note
        return Verdict(allowed=True, connect_host=verdict.connect_host, target=review.target or verdict.target,
                       device=verdict.device, profile=verdict.profile, reason=reason, rule=verdict.rule,
                       list_id=verdict.list_id, schedule=verdict.schedule, edits=review.edits,
                       activity=verdict.activity)

    def list_rule_counts(self) -> dict[str, int]:
        """Rules in force per list id, for every list some profile uses (built-in ones too)."""
        counts: dict[str, int] = {}
        for engine in self._engines.values():
            for list_id, report in engine.report.items():
                counts[list_id] = report.rule_count
        return counts

    def device_for(self, client_ip: str) -> str | None:
        """The named device at `client_ip`, None for a device not named in the settings."""
        who = self._devices.identify(client_ip)
        return who.device if who is not None else None

    def profile_for(self, client_ip: str) -> str:
        """The name of the profile a device at `client_ip` gets (its PAC file depends on it)."""
        return (self._devices.identify(client_ip) or self._unknown).profile.name

    def explain(
        self,
        url: str,
        client_ip: str,
        at: datetime | None = None,
        source_url: str | None = None,
        request_type: str | None = None,
    ) -> dict[str, Any]:
        """The decision for a URL (or a bare host, decided as a CONNECT would be) as
        `guardian check --json` prints it. A naive `at` is local time in the configured zone."""
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=self.zone)
        timestamp = time.time() if at is None else at.timestamp()
        who = self._devices.identify(client_ip) or self._unknown
        note = None
        if "://" in url:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
            parts.port  # noqa: B018 -- raises ValueError for a port out of range, as a bad URL should
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            if request_type is None:
                request_type = infer_request_type("GET", url, {})
            verdict = self._evaluate(who, client_ip, "GET", host, url, target, source_url, request_type,
                                     None, timestamp)
            if parts.scheme.lower() == "https" and not self._inspection(who.profile, host.lower())[0]:
                # The proxy sees only the CONNECT to the host: that is what this address gets.
                whole = verdict
                verdict = self._evaluate(who, client_ip, "CONNECT", host, None, "", None, None, None, timestamp)
                if target != "/" or whole.allowed != verdict.allowed or whole.rule != verdict.rule:
                    note = https_note(host, whole, verdict)
        else:
            host = url.strip().lower().partition(":")[0].rstrip(".")
            verdict = self._evaluate(who, client_ip, "CONNECT", host, None, "",
                                     None, None, None, timestamp)
        exchange = who.profile.exchange
        if verdict.allowed and exchange is not None and "://" in url:
            verdict, file_note = self._explain_file_kind(exchange, who, url, verdict, timestamp)
            if file_note is not None:
                note = f"{note} {file_note}" if note else file_note
        return {
            "action": "allow" if verdict.allowed else "block",
            "reason": verdict.reason or "No rule matched",
            "rule": verdict.rule,
            "list": verdict.list_id,
            "schedule": verdict.schedule,
            "device": verdict.device,
            "profile": verdict.profile,
            "note": note,
        }

    def _explain_file_kind(self, exchange: ExchangeRules, who: _Who, url: str, verdict: Verdict,
                           timestamp: float) -> tuple[Verdict, str | None]:
        """An explained URL whose path names a blocked file kind: blocked on plain HTTP; on
        HTTPS the tunnel hides the path, which the explanation must say."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        minute = self._clock.minute_of_week(timestamp) if exchange.has_schedules else 0
        found = exchange.file_kind_of(target, minute)
        if found is None:
            return verdict, None
        reason = found.reason(who.profile.name)
        hostname = parts.hostname or ""
        if parts.scheme.lower() == "https" and not self._inspection(who.profile, hostname.rstrip(".").lower())[0]:
            return verdict, (f"{reason} on plain HTTP, but this is HTTPS: Guardian cannot see which file "
                             "is fetched inside the encrypted connection, so the download is not stopped.")
        paused = self._pauses is not None and \
            self._pauses.find(who.profile.name, who.device, hostname, timestamp) is not None
        if paused:
            return verdict, None
        return Verdict(allowed=False, device=who.device, profile=who.profile.name, reason=reason,
                       schedule=found.schedule.name if found.schedule else None), None

    def usage_report(self, url: str, client_ip: str, at: datetime | None = None) -> dict[str, Any]:
        """`service`, `limit`, `used_minutes`, `left_minutes` for guardian check: the
        service `url` (or a bare host) belongs to and the time left under its limit."""
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=self.zone)
        timestamp = time.time() if at is None else at.timestamp()
        who = self._devices.identify(client_ip) or self._unknown
        host = (urlsplit(url).hostname or "") if "://" in url else url.strip().lower().partition(":")[0]
        host = host.rstrip(".")
        found = self.services.lookup(host)
        report: dict[str, Any] = {"service": found[0] if found else None, "service_name": None, "limit": None,
                                  "used_minutes": None, "left_minutes": None}
        if not found:
            return report
        report["service_name"] = self.services.services[found[0]].name
        rules = who.profile.services
        if rules is None:
            return report
        outcome = rules.check(found, who.device, client_ip, self._clock.minute_of_week(timestamp), timestamp)
        if outcome is not None and outcome.limit is not None:
            holder, name, allowed = outcome.limit
            day, _ = self.usage.day_of(timestamp)
            used = self.usage.used(day, holder, name)
            report.update(limit=name, used_minutes=used, left_minutes=max(0, allowed - used))
        return report

    def _evaluate(
        self, who: _Who, client_ip: str, method: str, host: str, url: str | None, target: str,
        source_url: str | None, request_type: str | None, accept: str | None, timestamp: float,
    ) -> Verdict:
        """The precedence table, in order. `url` None means a CONNECT to `host`."""
        profile = who.profile
        if self._pauses is not None:
            entry = self._pauses.find(profile.name, who.device, host, timestamp)
            if entry is not None:
                return self._allow(who, host, url, target, entry.describe(self.zone), None, None)
        counts: Activity | None = None

        if profile.schedules:
            minute = self._clock.minute_of_week(timestamp)
            for schedule in profile.schedules:
                if not schedule.window.active(minute):
                    continue
                if self._pauses is not None and \
                        self._pauses.schedule_ended(profile.name, who.device, schedule.name, timestamp):
                    continue  # a parent ended it early ("end bedtime now")
                rule = None
                if not schedule.block_all:
                    rule = schedule.rules.match(host, url, source_url, request_type) if schedule.rules else None
                    if rule is None:
                        continue
                reason = f"{schedule.label} {until_text(minute, schedule.window.ends_at(minute))}"
                return self._block(who, client_ip, method, host, url, request_type, accept, reason,
                                   rule, CUSTOM_LIST if rule else None, schedule.name)

        services = profile.services
        if services is not None:
            found = self.services.lookup(host)
            outcome = None if found is None else services.check(
                found, who.device, client_ip, self._clock.minute_of_week(timestamp), timestamp)
            if outcome is not None:
                lifted = services.allow_rules_win and profile.allow is not None and \
                    profile.allow.match(host, url, source_url, request_type) is not None
                if outcome.reason is not None and not lifted:
                    return self._block(who, client_ip, method, host, url, request_type, accept, outcome.reason,
                                       None, None, outcome.schedule)
                if outcome.counts and not lifted:
                    counts = Activity(self.usage, outcome.counts)

        if profile.allow is not None:
            rule = profile.allow.match(host, url, source_url, request_type)
            if rule is not None:
                return self._allow(who, host, url, target, "Allowed by a parent's rule", rule, CUSTOM_LIST, counts)

        if profile.block is not None:
            rule = profile.block.match(host, url, source_url, request_type)
            if rule is not None:
                return self._block(who, client_ip, method, host, url, request_type, accept,
                                   "A parent blocked this site", rule, CUSTOM_LIST, None)

        engine = profile.engine
        if engine is not None:
            decision = engine.match(url, source_url, request_type) if url is not None else engine.match_host(host)
            if decision.blocked:
                name = self._list_names.get(decision.list or "", decision.list)
                return self._block(who, client_ip, method, host, url, request_type, accept,
                                   f'On the block list "{name}"', decision.rule, decision.list, None)
            if decision.rule is not None:
                name = self._list_names.get(decision.list or "", decision.list)
                return self._allow(who, host, url, target, f'Allowed by an exception in the list "{name}"',
                                   decision.rule, decision.list, counts)
        return self._allow(who, host, url, target, None, None, None, counts)

    def inspects(self, profile_name: str, host: str) -> bool:
        """Whether this profile's HTTPS connections to `host` are decrypted, so rules with a
        path or a request type apply to them (docs/https.md)."""
        profile = self._profiles.get(profile_name)
        return profile is not None and self._inspection(profile, host.rstrip(".").lower())[0]

    def _inspection(self, profile: _Profile, host: str) -> tuple[bool, str | None]:
        """(inspect?, why not in words when the bypass list says no)."""
        inspect, bypassed = inspection_of(profile.inspect, profile.inspect_hosts, host, self._bypass)
        return inspect, "Not inspected: on the list of sites Guardian never decrypts" if bypassed else None

    def _allow(self, who: _Who, host: str, url: str | None, target: str, reason: str | None,
               rule: str | None, list_id: str | None, activity: Activity | None = None) -> Verdict:
        intercept = None
        if url is None and who.profile.inspect != "off":
            inspect, why_not = self._inspection(who.profile, host)
            intercept = "inspect" if inspect else None
            reason = reason or why_not
        safe = who.profile.safe
        if safe is not None:
            safe_host = safe.connect_host(host)
            if safe_host is not None:
                return Verdict(
                    allowed=True, connect_host=safe_host,
                    target=SafeSearch.target(safe_host, target) if url is not None else None,
                    device=who.device, profile=who.profile.name,
                    reason=reason or SafeSearch.reason(safe_host), rule=rule, list_id=list_id,
                    activity=activity, intercept=intercept,
                )
        if reason is None and activity is None and intercept is None:
            return who.allowed
        return Verdict(allowed=True, device=who.device, profile=who.profile.name, reason=reason, rule=rule,
                       list_id=list_id, activity=activity, intercept=intercept)

    def _block(
        self, who: _Who, client_ip: str, method: str, host: str, url: str | None,
        request_type: str | None, accept: str | None, reason: str, rule: str | None, list_id: str | None,
        schedule: str | None,
    ) -> Verdict:
        if url is not None and wants_page(method, request_type, accept):
            detail = None
            if rule is not None:
                source = "a parent's own rules" if list_id == CUSTOM_LIST else \
                    f'the list "{self._list_names.get(list_id or "", list_id)}"'
                detail = f"Rule {rule} from {source}"
            info = BlockInfo(url, reason, detail, who.device, client_ip, who.profile.name, host)
            status, headers, body = page_response(info)
        else:
            status, headers, body = stand_in_response(request_type if url is not None else None, reason)
        intercept = None
        if url is None:
            # A tunnel this profile inspects: each request inside is decided on its own URL (a rule
            # with a path or a type can only be applied there). Otherwise the core may answer a
            # blocked tunnel inside TLS, so the page shows instead of a browser error.
            if who.profile.inspect != "off" and self._inspection(who.profile, host)[0]:
                intercept = "inspect"
            elif who.profile.https_block_page:
                intercept = "page"
        return Verdict(allowed=False, status=status, headers=headers, body=body, device=who.device,
                       profile=who.profile.name, reason=reason, rule=rule, list_id=list_id, schedule=schedule,
                       intercept=intercept)


def https_note(host: str, whole: Verdict, connect: Verdict) -> str:
    """What to tell a parent about an https:// address, given what its whole address
    would get (`whole`) and what its connection gets (`connect`)."""
    note = (f"Over HTTPS Guardian sees only the site name ({host}), not the page, so this is what the "
            "connection to the site gets.")
    if whole.allowed != connect.allowed or whole.rule != connect.rule:
        if not whole.allowed and whole.rule:
            note += (f" The rule {whole.rule} names a page, so it does not apply to https:// addresses: "
                     f"it blocks only http://{host} addresses.")
        elif whole.allowed and whole.rule:
            note += f" The rule {whole.rule} names a page, so it does not apply to https:// addresses."
    return note


class PolicyHolder:
    """The proxy's Decider: delegates to the current snapshot, swapped in one assignment."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    @property
    def policy(self) -> Policy:
        return self._policy

    def swap(self, new: Policy) -> Policy:
        """Install `new`; returns the old one. Requests already deciding finish with it."""
        old, self._policy = self._policy, new
        return old

    def decide(self, request: RequestInfo) -> Verdict:
        return self._policy.decide(request)

    def still_allowed(self, request: RequestInfo) -> bool:
        """Would an open connection for `request` be allowed now? (No use is counted.)"""
        return self._policy.decide(request, count=False).allowed
