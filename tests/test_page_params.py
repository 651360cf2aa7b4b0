"""The operator page's knobs come from the parameter table (issue 22): `GET /api/params` serves
`realtime.params.PARAMS` behind the page's own guards, and a real headless Chromium shows one
control per entry, each driving the show's `params.<name>` through SetParam; the fader and
blackout sit in the stage bar. Effects are read back from the show's published state, waited for
with a deadline (no elapsed-time assertions)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from realtime.control.page import API_PARAMS, PageServer
from realtime.control.page_commands import PageError, make_command
from realtime.params import PARAMS
from realtime.show import Folders, StateBoard
from realtime.show import commands as c

from .test_page import browser, css, demo, get, live, needs_chromium, open_page, wait_for  # noqa: F401 - fixtures

PAGE_FILES = Path(__file__).resolve().parent.parent / "realtime" / "control" / "page_files"
STAGE_BAR = ("fader", "blackout")  # the only knobs the page places by name


def table_json() -> dict:
    """What the page must be served: the table exactly as `Param.to_json()` gives it, through JSON."""
    return json.loads(json.dumps({"params": [p.to_json() for p in PARAMS]}))


def bare_page(tmp_path, host: str = "127.0.0.1") -> PageServer:
    """A page server with no show behind it (the routes and their guards need none)."""
    return PageServer(lambda command, origin: True, StateBoard(), Folders.beside(tmp_path), host=host, port=0).start()


# ---- GET /api/params: the table, guarded like the page ---------------------------------------------


def test_api_params_serves_the_table_as_json(tmp_path):
    page = bare_page(tmp_path)
    try:
        status, headers, body = get(page.address, API_PARAMS)
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == table_json()
        assert [e["name"] for e in json.loads(body)["params"]] == [p.name for p in PARAMS]
        assert headers["Cache-Control"] == "no-store" and "default-src 'self'" in headers["Content-Security-Policy"]
        before = page.counters.refused
        assert get(page.address, API_PARAMS, {"Host": "evil.example:80"})[0] == 403  # DNS rebinding: refused
        assert page.counters.refused == before + 1
    finally:
        page.stop()


def test_api_params_beyond_loopback_needs_the_token(tmp_path):
    page = bare_page(tmp_path, host="127.0.0.2")  # not 127.0.0.1: treated like a LAN address
    try:
        assert page.token
        for path in (API_PARAMS, f"{API_PARAMS}?token=not-the-token"):
            before = page.counters.refused
            status, _, body = get(page.address, path)
            assert status == 403 and b"forbidden" in body and b"speed" not in body
            assert page.counters.refused == before + 1
        status, _, body = get(page.address, f"{API_PARAMS}?token={page.token}")
        assert status == 200 and json.loads(body) == table_json()
        cookie = get(page.address, f"/?token={page.token}")[1]["Set-Cookie"].split(";")[0]
        assert get(page.address, API_PARAMS, {"Cookie": cookie})[0] == 200  # the page's cookie will do
    finally:
        page.stop()


def test_the_page_sets_any_table_knob_checked_where_it_is_made():
    assert make_command("SetParam", {"name": "fader", "value": 0.5}) == c.SetParam(name="fader", value=0.5)
    assert make_command("ToggleParam", {"name": "blackout"}) == c.ToggleParam(name="blackout")
    for name, args, reason in (("SetParam", {"name": "fader", "value": 2}, "within [0, 1]"),
                               ("SetParam", {"name": "nothing", "value": 1}, "nothing"),
                               ("SetParam", {"name": "spline", "value": "wobbly"}, "spline"),
                               ("SetParam", {"name": "fader"}, "missing value"),
                               ("ToggleParam", {"name": "fader"}, "fader")):
        with pytest.raises(PageError, match=re.escape(reason)):
            make_command(name, args)


def test_the_page_files_name_no_knob_of_the_table():
    """Every knob is drawn from /api/params: index.html holds no control of one, and page.js sends
    no one-knob command (each knob is SetParam, its name from the table)."""
    script, html = (PAGE_FILES / "page.js").read_text(), (PAGE_FILES / "index.html").read_text()
    for p in PARAMS:
        for spelled in (p.name, p.name.replace("_", "-")):
            assert f'id="{spelled}"' not in html and f"data-param={spelled}" not in html, f"index.html draws {p.name}"
    for old in ("SetSpeed", "SetTruncation", "SetSpline", "SetAlpha", "SetConstantSpeed", "SetNoise", "SetPanel",
                "SetOverlayOpacity", "ToggleOverlay"):
        assert old not in script, f"page.js sends {old}"
    assert re.findall(r'send\("(Set\w*Param|Toggle\w*Param)"', script) == ["SetParam"]


# ---- in a real browser -------------------------------------------------------------------------------


def param_value(live, name: str):
    return live.state().params[name]


@needs_chromium
def test_the_page_draws_one_control_per_table_knob(live, browser):
    from selenium.webdriver.support.select import Select

    driver = browser()
    open_page(driver, live)
    controls = wait_for(lambda: (lambda found: found if len(found) == len(PARAMS) else None)(css(driver, "[data-param]")),
                        "one control per parameter")
    assert sorted(e.get_attribute("data-param") for e in controls) == sorted(p.name for p in PARAMS)
    for p in PARAMS:
        el = css(driver, f"[data-param={p.name}]")[0]
        assert p.doc in el.get_attribute("title")
        if p.unit:  # textContent: a knob the generator lacks is drawn, hidden (tests/test_page_live.py)
            assert p.unit in el.get_attribute("textContent")
        if p.kind in ("float", "int"):
            number = css(driver, f"[data-param={p.name}] input[type=number]")[0]
            assert (float(number.get_attribute("min")), float(number.get_attribute("max"))) == (p.low, p.high)
            wait_for(lambda: float(number.get_attribute("value")) == pytest.approx(param_value(live, p.name), rel=1e-3),
                     f"{p.name}'s live value")
        elif p.kind == "choice":
            assert [o.get_attribute("value") for o in css(driver, f"[data-param={p.name}] option")] == list(p.check.choices)
    assert [e.get_attribute("data-param") for e in css(driver, "#stage-bar [data-param]")] == list(STAGE_BAR)

    # each kind of control drives its knob: a menu, a toggle (the rest below, and the sliders in test_page)
    Select(css(driver, "[data-param=spline] select")[0]).select_by_value("linear")
    wait_for(lambda: param_value(live, "spline") == "linear", "the spline from the menu")
    closed = param_value(live, "closed")
    css(driver, "[data-param=closed] input[type=checkbox]")[0].click()
    wait_for(lambda: param_value(live, "closed") is (not closed), "closed from its toggle")
    live.show.submit(c.SetParam(name="noise", value="random"), "test")  # as OSC would: the page follows
    wait_for(lambda: Select(css(driver, "[data-param=noise] select")[0]).first_selected_option.get_attribute("value")
             == "random", "the noise menu following the show")
    assert live.state().commands.failed == 0


@needs_chromium
def test_the_fader_and_blackout_drive_the_stage(live, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = browser()
    open_page(driver, live)
    fader = wait_for(lambda: css(driver, "#stage-bar [data-param=fader] input[type=range]")[0], "the fader")
    assert param_value(live, "fader") == 1.0
    ActionChains(driver).move_to_element_with_offset(fader, -fader.size["width"] // 4, 0).click().perform()
    level = wait_for(lambda: (lambda v: v if v < 0.9 else None)(param_value(live, "fader")), "the fader pulled down")
    assert 0.0 < level < 0.9
    shown = css(driver, "[data-param=fader] input[type=number]")[0]
    wait_for(lambda: float(shown.get_attribute("value")) == pytest.approx(level, rel=1e-3), "the fader's number")

    blackout = css(driver, "#stage-bar button[data-param=blackout]")[0]
    assert param_value(live, "blackout") is False and blackout.get_attribute("aria-pressed") == "false"
    blackout.click()
    wait_for(lambda: param_value(live, "blackout") is True, "blackout on in the show")
    wait_for(lambda: blackout.get_attribute("aria-pressed") == "true", "the lit blackout button")
    blackout.click()
    wait_for(lambda: param_value(live, "blackout") is False, "blackout off again")

    live.show.submit(c.SetParam(name="blackout", value=True), "test")  # another sender: the button follows
    wait_for(lambda: blackout.get_attribute("aria-pressed") == "true", "the button following the show")
    live.show.submit(c.SetParam(name="fader", value=0.5), "test")
    wait_for(lambda: float(shown.get_attribute("value")) == 0.5, "the fader following the show")
    assert live.state().commands.failed == 0
