"""Refused forms speak the form's words beside the field, never a configuration path,
and keep every value the parent typed, also after a "changed somewhere else" refusal."""

from __future__ import annotations

import html
import re

from tests.web.conftest import Web, page_field

PATH = re.compile(r"(profiles|devices|lists)\[\d+\]")


def problem(page: str, field: str) -> str:
    found = re.search(rf'<span class="field-error" id="problem-{field}" role="alert">(.*?)</span>', page, re.S)
    assert found, f"no message beside {field}"
    return html.unescape(found.group(1))


def field_value(page: str, name: str, form_action: str) -> str:
    form = re.search(rf'<form method="post" action="{re.escape(form_action)}".*?</form>', page, re.S)
    assert form, form_action
    value = re.search(rf'name="{name}"[^>]*value="([^"]*)"', form.group(0))
    assert value, name
    return html.unescape(value.group(1))


def test_an_empty_window_is_refused_beside_until_with_everything_kept(admin: Web) -> None:
    before = admin.household.config_path.read_text()
    response = admin.post("/profiles/schedules/add", {"profile": "kids", "name": "Homework time",
                                                       "days": ["mon", "wed"], "from": "21:00", "to": "21:00",
                                                       "what": "some",
                                                       "rules": "youtube.com\ntiktok.com"})
    page = response.text
    assert response.status_code == 400
    assert problem(page, "to") == "Until: the same as From, so this window would be empty."
    assert not PATH.search(page) and "schedules[" not in page
    assert admin.household.config_path.read_text() == before
    form = page[page.index('action="/profiles/schedules/add"'):]
    form = form[:form.index("</form>")]
    assert 'value="Homework time"' in form and 'name="from" required value="21:00"' in form
    assert re.findall(r'name="days" value="(\w+)" checked', form) == ["mon", "wed"]
    assert 'value="some" checked' in form and "youtube.com\ntiktok.com</textarea>" in form
    assert "<details open" in page[page.index("Add a schedule") - 80:page.index("Add a schedule")]


def test_a_name_taken_whatever_its_capitals_is_said_beside_the_name(admin: Web) -> None:
    admin.post("/profiles/schedules/add", {"profile": "kids", "name": "Bedtime", "days": ["mon"], "from": "21:00",
                                           "to": "07:00", "what": "all"})
    page = admin.post("/profiles/schedules/add", {"profile": "kids", "name": "bedtime", "days": ["tue"],
                                                  "from": "20:00", "to": "06:30", "what": "all"}).text
    assert problem(page, "name").startswith("Name: there is already a schedule in this profile called Bedtime")
    assert [s.name for s in admin.household.config.profile("kids").schedules] == ["Bedtime"]
    page = admin.post("/profiles/create", {"name": "KIDS"}).text
    assert problem(page, "name").startswith("There is already a profile called kids")
    assert field_value(page, "name", "/profiles/create") == "KIDS"
    page = admin.post("/profiles/rename", {"profile": "kids", "name": "Default"}).text
    assert problem(page, "name") == ("There is already a profile called default (names count as the same "
                                     "whatever their capital letters).")
    assert [p.name for p in admin.household.config.profiles] == ["default", "kids"]


def test_an_address_another_device_has_is_said_in_words(admin: Web) -> None:
    response = admin.post("/devices/name", {"form": "new", "match": "127.0.0.2", "name": "Twin", "profile": "kids"})
    page = response.text
    assert response.status_code == 400
    assert problem(page, "match") == "This address already belongs to Sam's tablet."
    assert not PATH.search(page)
    new_form = page[page.index('<input type="hidden" name="form" value="new">'):]
    assert 'value="127.0.0.2"' in new_form[:600] and 'value="Twin"' in new_form[:800]
    assert re.search(r"<option selected>kids</option>", new_form[:1200])
    response = admin.post("/devices/name", {"form": "new", "match": "not an address", "name": "Twin",
                                            "profile": "kids"})
    assert problem(response.text, "match").startswith("Address: an IP address, a network")


def test_after_a_conflict_the_page_is_current_and_what_was_typed_is_kept(admin: Web) -> None:
    page = admin.get("/profiles/edit?name=kids").text
    stale = page_field(page, "version")
    admin.post("/profiles/rules/add", {"profile": "kids", "kind": "block", "rule": "meanwhile.example"})
    response = admin.post("/profiles/schedules/add", {"profile": "kids", "name": "Reading", "days": ["sat"],
                                                      "from": "19:00", "to": "20:00", "what": "all",
                                                      "version": stale})
    page = response.text
    assert response.status_code == 409 and "changed somewhere else" in page
    assert "meanwhile.example" in page  # the current settings
    form = page[page.index('action="/profiles/schedules/add"'):]
    form = form[:form.index("</form>")]
    assert 'value="Reading"' in form and 'value="19:00"' in form and 'value="20:00"' in form
    assert re.findall(r'name="days" value="(\w+)" checked', form) == ["sat"]
    version = page_field(form, "version")
    assert version != stale
    admin.post("/profiles/schedules/add", {"profile": "kids", "name": "Reading", "days": ["sat"], "from": "19:00",
                                           "to": "20:00", "what": "all", "version": version})
    assert [s.name for s in admin.household.config.profile("kids").schedules] == ["Reading"]


def test_a_refused_rule_keeps_what_was_typed(admin: Web) -> None:
    response = admin.post("/profiles/rules/add", {"profile": "kids", "kind": "allow", "rule": "tik tok"})
    page = response.text
    assert problem(page, "rule").startswith("Rule: ")
    allow_form = page[page.index('<input type="hidden" name="kind" value="allow">'):]
    assert 'value="tik tok"' in allow_form[:600]
    block_form = page[page.index('<input type="hidden" name="kind" value="block">'):]
    assert 'value="tik tok"' not in block_form[:600]


def test_other_forms_say_not_saved_without_a_key_path() -> None:
    from guardian.web.field_errors import in_words

    assert in_words("profiles[1].schedules[0].to: the window from 21:00 to 21:00 is empty") == \
        "Until: the same as From, so this window would be empty."
    assert in_words("devices[2].match[0]: '127.0.0.2' already identifies device 'Kid tablet'") == \
        "This address already belongs to Kid tablet."
    assert in_words("profiles[0].limits[1].name: 'games' differs from 'Games', another limit, only in capital "
                    "letters; give both the same spelling") == \
        ("Name: there is already a limit called Games, and names count as the same whatever their capital "
         "letters.")
    assert in_words("there is no profile named 'x'") == "there is no profile named 'x'"


def _form(page: str, action: str) -> str:
    form = page[page.index(f'action="{action}"'):]
    return form[:form.index("</form>")]


def test_a_refused_limit_is_said_beside_minutes_with_everything_kept(admin: Web) -> None:
    before = admin.household.config_path.read_text()
    response = admin.post("/profiles/limits/add", {"profile": "kids", "service": "youtube", "minutes": "45",
                                                   "weekend_minutes": "2000", "shared": "on"})
    page = response.text
    assert response.status_code == 400
    assert problem(page, "weekend_minutes") == "Weekend minutes: from 0 to 1440."
    assert admin.household.config_path.read_text() == before
    form = _form(page, "/profiles/limits/add")
    assert '<option value="youtube" selected>' in form and form.count(" selected>") == 1
    assert 'value="45"' in form and 'value="2000"' in form and 'name="shared" checked' in form
    assert "<details open" in page[page.index("Add a limit") - 80:page.index("Add a limit")]


def test_a_second_limit_of_one_service_is_refused_in_words_and_kept(admin: Web) -> None:
    admin.post("/profiles/limits/add", {"profile": "kids", "service": "youtube", "minutes": "60"})
    response = admin.post("/profiles/limits/add", {"profile": "kids", "service": "youtube", "minutes": "90"})
    page = response.text
    assert response.status_code == 400 and "limits[" not in page and not PATH.search(page)
    assert "YouTube" in problem(page, "service")
    form = _form(page, "/profiles/limits/add")
    assert 'value="90"' in form and '<option value="youtube" selected>' in form
    assert [(lim.name, lim.minutes) for lim in admin.household.config.profile("kids").limits] == [("YouTube", 60)]


def test_an_empty_time_window_is_refused_beside_to_with_everything_kept(admin: Web) -> None:
    response = admin.post("/profiles/services/window", {"profile": "kids", "name": "Saturday games",
                                                        "days": ["sat", "sun"], "from": "15:00", "to": "15:00"})
    page = response.text
    assert response.status_code == 400
    assert problem(page, "to") == "To: the same as From, so this window would be empty."
    assert "schedules[" not in page and not PATH.search(page)
    form = _form(page, "/profiles/services/window")
    assert 'value="Saturday games"' in form and form.count('value="15:00"') == 2
    assert re.findall(r'name="days" value="(\w+)" checked', form) == ["sat", "sun"]
    page = admin.post("/profiles/services/window", {"profile": "kids", "name": "Games", "from": "15:00",
                                                    "to": "16:00"}).text
    assert problem(page, "days") == "Days: tick at least one day."
    assert 'value="Games"' in _form(page, "/profiles/services/window")


def test_a_limit_after_a_conflict_keeps_what_was_typed(admin: Web) -> None:
    stale = page_field(admin.get("/profiles/services?name=kids").text, "version")
    admin.post("/profiles/rules/add", {"profile": "kids", "kind": "block", "rule": "meanwhile.example"})
    response = admin.post("/profiles/limits/add", {"profile": "kids", "service": "youtube", "minutes": "30",
                                                   "weekend_minutes": "90", "version": stale})
    page = response.text
    assert response.status_code == 409 and "changed somewhere else" in page
    form = _form(page, "/profiles/limits/add")
    assert 'value="30"' in form and 'value="90"' in form and '<option value="youtube" selected>' in form
    assert page_field(form, "version") != stale
    assert admin.household.config.profile("kids").limits == ()


GENERAL = {"timezone": "Europe/Paris", "refresh": "every 6h", "window_from": "02:00", "window_to": "04:00",
           "detail": "host", "keep_days": "14", "cache_mb": "32", "clients": "192.168.1.0/24\n10.0.0.0/8"}


def _general_kept(page: str, **changed: str) -> None:
    form = _form(page, "/settings/general")
    typed = {**GENERAL, **changed}
    assert f"<option selected>{typed['timezone']}</option>" in form
    assert f"<option selected>{typed['detail']}</option>" in form
    for name in ("refresh", "window_from", "window_to", "keep_days", "cache_mb"):
        assert field_value(page, name, "/settings/general") == typed[name], name
    assert f'name="clients" rows="4">{html.escape(typed["clients"])}</textarea>' in form


def test_a_refused_setting_is_said_beside_its_field_and_every_value_is_kept(admin: Web) -> None:
    before = admin.household.config_path.read_text()
    for bad, field, said in (({"keep_days": "0"}, "keep_days", "Keep the log (days): from 1 to 3650."),
                             ({"clients": "192.168.1.0/24\neveryone"}, "clients",
                              "Allowed networks: 'everyone' is not a network like 192.168.1.0/24."),
                             ({"refresh": "hourly"}, "refresh", "List refresh: daily, off, or every N hours"),
                             ({"window_to": "9am"}, "window_to", "Refresh until: a time of day like 21:30."),
                             ({"timezone": "Mars/Olympus"}, "timezone", "Time zone: choose one from the list.")):
        response = admin.post("/settings/general", {**GENERAL, **bad})
        page = response.text
        assert response.status_code == 400, bad
        assert problem(page, field).startswith(said)
        if field != "timezone":  # a zone not in the list cannot be shown selected
            _general_kept(page, **bad)
    assert admin.household.config_path.read_text() == before


def test_settings_after_a_conflict_keep_what_was_typed(admin: Web) -> None:
    stale = page_field(admin.get("/settings").text, "version")
    admin.post("/profiles/rules/add", {"profile": "kids", "kind": "block", "rule": "meanwhile.example"})
    response = admin.post("/settings/general", {**GENERAL, "version": stale})
    page = response.text
    assert response.status_code == 409 and "changed somewhere else" in page
    _general_kept(page)
    assert admin.household.config.timezone == "Europe/London"
    version = page_field(_form(page, "/settings/general"), "version")
    assert version != stale
    admin.post("/settings/general", {**GENERAL, "version": version})
    assert admin.household.config.timezone == "Europe/Paris"
    response = admin.post("/settings/network", {"proxy_listen": "0.0.0.0:3130", "web_listen": "0.0.0.0:8090",
                                                "version": stale})
    assert response.status_code == 409
    assert field_value(response.text, "proxy_listen", "/settings/network") == "0.0.0.0:3130"
    assert field_value(response.text, "web_listen", "/settings/network") == "0.0.0.0:8090"
    response = admin.post("/settings/bypass/add", {"site": "mybank.example", "version": stale})
    assert response.status_code == 409
    assert field_value(response.text, "site", "/settings/bypass/add") == "mybank.example"


def test_a_refused_address_is_said_beside_it_and_both_are_kept(admin: Web) -> None:
    before = admin.household.config_path.read_text()
    response = admin.post("/settings/network", {"proxy_listen": "0.0.0.0:3130", "web_listen": "0.0.0.0:99999"})
    page = response.text
    assert response.status_code == 400
    assert problem(page, "web_listen") == "Settings page address: port 99999 is out of range (1 to 65535)."
    assert "web.listen" not in page
    assert field_value(page, "proxy_listen", "/settings/network") == "0.0.0.0:3130"
    assert field_value(page, "web_listen", "/settings/network") == "0.0.0.0:99999"
    assert admin.household.config_path.read_text() == before


def test_a_site_already_on_the_list_is_said_beside_it(admin: Web) -> None:
    admin.post("/settings/bypass/add", {"site": "mybank.example"})
    page = admin.post("/settings/bypass/add", {"site": "login.mybank.example"}).text
    assert problem(page, "site") == ("Site: login.mybank.example is already covered by mybank.example on the list "
                                     "of sites Guardian never decrypts.")
    assert field_value(page, "site", "/settings/bypass/add") == "login.mybank.example"


def test_the_settings_file_after_a_conflict_keeps_the_text_typed(admin: Web) -> None:
    page = admin.get("/settings/file").text
    stale = page_field(page, "version")
    admin.post("/profiles/rules/add", {"profile": "kids", "kind": "block", "rule": "meanwhile.example"})
    typed = admin.household.config_path.read_text().replace('"Europe/London"', '"Europe/Paris"')
    response = admin.post("/settings/file", {"text": typed, "version": stale})
    page = response.text
    assert response.status_code == 409 and "changed somewhere else" in page
    box = re.search(r'<textarea class="config-text"[^>]*>(.*?)</textarea>', page, re.S)
    assert box and html.unescape(box.group(1)) == typed
    assert admin.household.config.timezone == "Europe/London"
    version = page_field(page, "version")
    assert version != stale
    admin.post("/settings/file", {"text": typed, "version": version})
    assert admin.household.config.timezone == "Europe/Paris"


def test_refused_extra_minutes_are_said_in_their_row_with_the_figure_kept(admin: Web) -> None:
    admin.post("/profiles/limits/add", {"profile": "kids", "service": "youtube", "minutes": "60"})
    response = admin.post("/profiles/limits/more", {"form": "Sam's tablet|YouTube", "profile": "kids",
                                                    "device": "Sam's tablet", "service": "youtube",
                                                    "minutes": "2000"}, version=False)
    page = response.text
    assert response.status_code == 400
    row = page[page.index('name="form" value="Sam&#39;s tablet|YouTube"'):]
    row = row[:row.index("</form>")]
    assert 'name="minutes" value="2000"' in row
    assert problem(row, "minutes") == "Minutes: from 1 to 1440."


def test_service_windows_after_a_conflict_keep_the_choice(admin: Web) -> None:
    for name, start in (("Saturday games", "10:00"), ("Sunday games", "14:00")):
        admin.post("/profiles/services/window", {"profile": "kids", "name": name, "days": ["sat", "sun"],
                                                 "from": start, "to": "16:00"})
    stale = page_field(admin.get("/profiles/services?name=kids").text, "version")
    admin.post("/profiles/rules/add", {"profile": "kids", "kind": "block", "rule": "meanwhile.example"})
    response = admin.post("/profiles/services/windows", {"profile": "kids", "service": "roblox",
                                                         "windows": ["Sunday games"], "version": stale})
    page = response.text
    assert response.status_code == 409 and "changed somewhere else" in page
    form = _form(page, "/profiles/services/windows")
    assert '<option value="roblox" selected>' in form and form.count(" selected>") == 1
    assert re.findall(r'name="windows" value="([^"]+)" checked', form) == ["Sunday games"]
    response = admin.post("/profiles/services/schedule", {"profile": "kids", "service": "youtube",
                                                          "schedule": "Sunday games", "version": stale})
    form = _form(response.text, "/profiles/services/schedule")
    assert response.status_code == 409 and '<option value="youtube" selected>' in form
    assert "<option selected>Sunday games</option>" in form
    kids = admin.household.config.profile("kids")
    assert kids.services.allow_only_during == () and all(not s.block_services for s in kids.schedules)


def test_a_refused_password_is_said_beside_its_field_and_never_written_back(admin: Web) -> None:
    response = admin.post("/settings/password", {"current": "wrong guess", "password": "a new long password",
                                                 "confirm": "a new long password"}, version=False)
    page = response.text
    assert response.status_code == 400 and problem(page, "current") == "Current password: not right."
    assert "wrong guess" not in page and "a new long password" not in page
    response = admin.post("/settings/password", {"current": "correct horse battery", "password": "short",
                                                 "confirm": "short"}, version=False)
    assert problem(response.text, "password").startswith("New password: the password needs at least")
    assert 'value="short"' not in response.text
