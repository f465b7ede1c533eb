"""A refused form, said in the form's own words beside the field, with what was typed kept.

The configuration names its problems by key path ("profiles[1].schedules[0].to: the
window from 21:00 to 21:00 is empty"), which is right for a file and a command line
and means nothing on a phone. A form declares its fields (`FormFields`: the label each
field shows and the configuration key it writes); `refused()` turns a ConfigError or a
FieldError into a message per field ("Until: the same as From, so this window would be
empty") and the page is rendered again with every value the parent typed (`Refusal`,
read by the macros in `_field.html`). Nothing here edits anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flask import Flask, flash, g, request

from .forms import FieldError

_PATH = re.compile(r"^(?P<path>[a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (?P<problem>.+)$", re.S)
_LAST_KEY = re.compile(r"(?:^|\.)(?P<key>[a-z_]+)(?:\[\d+\])*$")
_WHAT = {"schedule of this profile": "schedule in this profile"}
_REWORD_LIMIT = 600  # the patterns below look for quoted names; keep their work small


@dataclass(frozen=True)
class FormFields:
    """A form's fields: `labels` maps each field's name to the label it shows; `keys` maps
    a configuration key to the field that writes it when the names differ ("block" is
    written by "rules"); `default` takes the problems that name no field."""

    labels: Mapping[str, str]
    keys: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)  # other labels FieldErrors use
    default: str | None = None

    def by_label(self, label: str) -> str | None:
        wanted = label.strip().casefold()
        for name, shown in (*self.labels.items(), *((a, a) for a in self.aliases)):
            if shown.casefold() == wanted:
                return self.aliases.get(name, name)
        return None


@dataclass
class Refusal:
    """One refused form: which one (its endpoint and `form` field), what was typed, and
    the message for each field (`general` when none fits)."""

    form: str
    values: dict[str, list[str]]
    messages: dict[str, str]
    general: str = ""

    def value(self, name: str) -> str:
        return (self.values.get(name) or [""])[0]

    def chosen(self, name: str) -> list[str]:
        return self.values.get(name) or []


def form_id(endpoint: str, key: str = "") -> str:
    return f"{endpoint}#{key}"


def _q(group: str) -> str:
    """A name as the configuration quotes it (Python's repr: 'Kids', or "Sam's tablet")."""
    return rf"(?P<{group}q>['\"])(?P<{group}>.*?)(?P={group}q)"


def _reworded(label: str, problem: str, labels: Mapping[str, str]) -> str:
    """The configuration's sentence about one value, as the form would say it."""
    problem = problem.strip().rstrip(".")
    if len(problem) > _REWORD_LIMIT:  # a name pasted into the file by hand: say it as it is
        return f"{label}: {problem}."
    if re.fullmatch(r"the window from (\S+) to \1 is empty", problem):
        return f"{label}: the same as {labels.get('from', 'From')}, so this window would be empty."
    if found := re.fullmatch(rf"{_q('a')} already identifies device {_q('b')}", problem, re.S):
        return f"This address already belongs to {found['b']}."
    if found := re.fullmatch(rf"{_q('a')} is used by another (?P<what>.+)", problem, re.S):
        return f"{label}: there is already a {_WHAT.get(found['what'], found['what'])} called {found['a']}."
    if found := re.fullmatch(rf"{_q('a')} differs from 'default', the profile every unnamed device uses.*",
                             problem, re.S):
        return f"{label}: “default” is the profile every unnamed device uses; choose another name."
    if found := re.fullmatch(rf"{_q('a')} differs from {_q('b')}, another (?P<what>.+?), only in capital letters.*",
                             problem, re.S):
        what = _WHAT.get(found["what"], found["what"])
        return (f"{label}: there is already a {what} called {found['b']}, and names count as the same "
                "whatever their capital letters.")
    if "is not a time of day" in problem:
        return f"{label}: a time of day like 21:30."
    if "is not an IP address, a network (CIDR) or a MAC address" in problem:
        return f"{label}: an IP address, a network like 192.168.1.0/24 or a MAC address."
    return f"{label}: {problem[:1].upper()}{problem[1:]}."


def messages_for(error: Exception, fields: FormFields) -> tuple[dict[str, str], str]:
    """({field: message}, general message) for a ConfigError or FieldError about this form."""
    text = str(error).strip()
    if isinstance(error, FieldError):
        label, _, rest = text.partition(": ")
        name = fields.by_label(label) if rest else None
        if name is not None:
            return {name: text}, ""
        return ({fields.default: text}, "") if fields.default else ({}, text)
    found = _PATH.match(text)
    if found is None:
        # a sentence from a page's own check ("a profile named 'kids' already exists")
        sentence = text[:1].upper() + text[1:].rstrip(".") + "."
        return ({fields.default: sentence}, "") if fields.default else ({}, sentence)
    key = _LAST_KEY.search(found.group("path"))
    name = fields.keys.get(key.group("key"), key.group("key")) if key else None
    if name is None or name not in fields.labels:
        # a problem elsewhere in the file: no field of this form can fix it
        return {}, text
    return {name: _reworded(fields.labels[name], found.group("problem"), fields.labels)}, ""


# What the pages call a configuration key, for a problem no declared form field takes.
_KEY_WORDS = {"to": "Until", "from": "From", "match": "Address", "block": "Rule", "allow": "Rule",
              "url": "Address", "bypass": "Site", "timezone": "Time zone", "services": "Services"}


def in_words(message: str) -> str:
    """A configuration problem without its key path, for a page's "Not saved" line: the
    path's last key becomes a label ("Until: the same as From, …")."""
    found = _PATH.match(message.strip())
    key = _LAST_KEY.search(found.group("path")) if found else None
    if found is None or key is None:
        return message
    name = key.group("key")
    label = _KEY_WORDS.get(name, name.replace("_", " ").capitalize())
    return _reworded(label, found.group("problem"), {"from": "From"})


def refused(error: Exception | str, fields: FormFields, page: Callable[[], str], status: int = 400,
            key_field: str = "form") -> tuple[str, int]:
    """Render `page` again with the refused form's messages and the values typed into it.
    `error` is an exception to word, or a sentence for the whole form (a conflict)."""
    messages: dict[str, str]
    if isinstance(error, str):
        messages, general = {}, error
    else:
        messages, general = messages_for(error, fields)
    values = {name: request.form.getlist(name) for name in request.form if name not in ("csrf_token", "version")}
    g.refusal = Refusal(form=form_id(request.endpoint or "", request.form.get(key_field, "")), values=values,
                        messages=messages, general=general)
    # said once at the top as well: on a long page the form may be out of sight
    summary = general or next(iter(messages.values()), "")
    flash(summary if summary.startswith("Not saved") else f"Not saved: {summary}", "error")
    return page(), status


def refusal(form: str) -> Refusal | None:
    """The refusal of the form `form` ("endpoint#key") in this request, if it was refused."""
    found: Refusal | None = g.get("refusal")
    return found if found is not None and found.form == form else None


def typed(form: str, name: str, default: object = "") -> str:
    """For a field's value: what the parent typed when this form was refused, else `default`."""
    found = refusal(form)
    return found.value(name) if found is not None else str(default)


def typed_all(form: str, name: str, default: list[str] | tuple[str, ...] = ()) -> list[str]:
    """For checkboxes and multiple choices: the values ticked when this form was refused."""
    found = refusal(form)
    return found.chosen(name) if found is not None else list(default)


def register(app: Flask) -> None:
    app.jinja_env.globals.update(refusal=refusal, typed=typed, typed_all=typed_all, form_id=form_id)
