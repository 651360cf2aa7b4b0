"""The operator page's live essentials and the integrations' faces, in a real headless Chromium
driving the real page of a running headless show that also listens to OSC (one show and one
browser for the module): tap, BPM, nudge, undo of remove and clear (also over OSC), refusals from
anyone on the page (OSC parse errors included), knobs the generator lacks, where files went, the
GPU line in words, and the MIDI and output panels from the state. No elapsed-time assertions."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from realtime.control.page_extras import gpu_words
from realtime.models import load_generator
from realtime.models.input_transform import features
from realtime.show.removed import Removed

from .conftest import SHOW, osc_message
from .test_page import CHROMIUM, DEADLINE, DRIVER, wait_for

NO_CHROMIUM = "chromium and chromium-driver not installed (apt-get install chromium chromium-driver)"


class LiveShow:
    """A headless show (64x64) of conftest's SHOW with OSC, the operator page and the telemetry
    poller, all started by one ShowSession (as `stylevj run` wires them), stepping at about 60 Hz
    on a thread of its own."""

    def __init__(self, G, folder: Path) -> None:
        self.G, self.folder = G, folder
        self.ready, self.stop_flag = threading.Event(), threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-live-show", daemon=True)
        self.thread.start()
        assert self.ready.wait(120), "the show did not start"
        if self.failure is not None:
            raise self.failure
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client.bind(("127.0.0.1", 0))
        self.client.settimeout(0.2)

    def _run(self) -> None:
        from realtime.control import OscServer
        from realtime.control.page import PageServer
        from realtime.display import HeadlessSurface
        from realtime.overlay.gpu import TelemetryPoller
        from realtime.presets import load_preset
        from realtime.session import ShowSession, build_show
        from realtime.show import Folders

        try:
            (self.folder / "show.toml").write_text(SHOW)
            folders = Folders.beside(self.folder, snapshots=self.folder / "snapshots")
            show = build_show(self.G, load_preset(self.folder / "show.toml"), HeadlessSurface((64, 64)), upload="host",
                              folders=folders)
            poller = TelemetryPoller(interval=0.2)
            self.osc = OscServer(show.submit, show.board, port=0)
            self.page = PageServer(show.submit, show.board, show.folders, port=0, telemetry=poller.latest)
            with ShowSession(show, osc=self.osc, page=self.page, telemetry=poller):
                self.show = show
                self.ready.set()
                while not self.stop_flag.is_set():
                    show.step()
                    time.sleep(1 / 60)
        except BaseException as exc:  # reported to the test
            self.failure = exc
            self.ready.set()

    def state(self):
        return self.show.board.latest()

    def sources(self) -> list[str]:
        return [k.source for k in self.state().keyframes]

    def send(self, data: bytes) -> None:
        self.client.sendto(data, self.osc.address)

    def reply(self, address: str) -> list:
        """The next OSC message to this client at `address` (others skipped)."""
        from pythonosc.osc_message import OscMessage

        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                message = OscMessage(self.client.recvfrom(65536)[0])
            except socket.timeout:
                continue
            if message.address == address:
                return list(message.params)
        raise AssertionError(f"no {address} reply")

    def close(self) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=30)
        self.client.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    show = LiveShow(load_generator("demo"), tmp_path_factory.mktemp("live-page"))
    yield show
    show.close()


@pytest.fixture(scope="module")
def driver(live):
    """One headless Chromium for the module, phone-sized (one column), on the show's page."""
    if not (CHROMIUM and DRIVER):
        pytest.skip(NO_CHROMIUM)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="stylevj-chromium-")
    options = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--window-size=412,2400"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    browser = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        browser.get(live.page.url)
        wait_for(lambda: css(browser, "#conn.on") and len(css(browser, ".kf")) == len(live.state().keyframes),
                 "the page to connect")
        wait_for(lambda: css(browser, "[data-param=fader]"), "the parameter table's knobs")
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def tap(driver, selector: str) -> None:
    """Tap an element as a person would, scrolled to the middle of the screen (clear of the
    sticky stage bar)."""
    element = css(driver, selector)[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", element)
    element.click()


def text_of(driver, selector: str) -> str:
    return " ".join(e.get_attribute("textContent") for e in css(driver, selector))


# ---- the undo history itself ----------------------------------------------------------------------


def test_the_undo_history_is_bounded_and_newest_first():
    removed = Removed(kept=2)
    removed.took(0, ("a",), "remove")
    removed.took(4, ("b",), "remove")
    removed.took(0, ("c", "d"), "clear")
    removed.took(0, (), "clear")  # an empty clear took nothing: nothing to undo
    assert len(removed) == 2
    assert removed.last().keyframes == ("c", "d") and removed.last().what == "clear"
    removed.drop()
    assert removed.last().index == 4 and removed.last().keyframes == ("b",)


# ---- undo over OSC: what remove and clear took comes back, in place ---------------------------------


def test_undo_over_osc_puts_back_what_remove_and_clear_took(live):
    wait_for(lambda: live.sources() == ["seed:1", "seed:2", "seed:3"], "the show's three keyframes")
    live.send(osc_message("/stylevj/keyframe/remove", 1))
    wait_for(lambda: live.sources() == ["seed:1", "seed:3"], "the removal")
    live.send(osc_message("/stylevj/keyframe/clear"))
    wait_for(lambda: live.sources() == [] and live.state().undo == 2, "the clear, with two undos waiting")
    assert live.state().to_json()["undo"] == 2

    live.send(osc_message("/stylevj/keyframe/undo"))  # the clear comes back ...
    wait_for(lambda: live.sources() == ["seed:1", "seed:3"], "the cleared keyframes back")
    live.send(osc_message("/stylevj/keyframe/undo"))  # ... then the removed one, where it stood
    wait_for(lambda: live.sources() == ["seed:1", "seed:2", "seed:3"], "the removed keyframe back in place")
    assert live.state().undo == 0

    failed = live.state().commands.failed
    live.send(osc_message("/stylevj/keyframe/undo"))  # nothing left: refused in one line, to the sender
    (reason,) = live.reply("/stylevj/error")
    assert "nothing to undo" in reason
    wait_for(lambda: live.state().commands.failed == failed + 1, "the refusal counted")
    assert live.sources() == ["seed:1", "seed:2", "seed:3"]


# ---- the page ---------------------------------------------------------------------------------------


def test_live_essentials_on_the_page(live, driver):
    # the stage bar: fader and blackout from the parameter table, always on screen
    assert css(driver, "#stage-bar [data-param=fader] input[type=range]")
    assert css(driver, "#stage-bar button[data-param=blackout]")

    # nudge: along the path by the arrow keys' step, either way
    live.send(osc_message("/stylevj/goto", 1.0))
    wait_for(lambda: live.state().position == pytest.approx(1.0), "the show at keyframe 1")
    tap(driver, "#nudge-forward")
    wait_for(lambda: live.state().position == pytest.approx(1.05), "a nudge forward")
    tap(driver, "#nudge-back")
    tap(driver, "#nudge-back")
    wait_for(lambda: live.state().position == pytest.approx(0.95), "two nudges back")

    # BPM entry sets the clock's tempo, taps reach the show (none refused); on the fixed clock the
    # page shows that tempo and its source, and the beat dot blinks
    from selenium.webdriver.support.select import Select

    applied, failed = live.state().commands.applied, live.state().commands.failed
    css(driver, "#bpm")[0].send_keys("128\n")
    wait_for(lambda: live.state().params.tempo == 128.0, "the tempo from the BPM entry")
    wait_for(lambda: float(css(driver, "[data-param=tempo] input[type=number]")[0].get_attribute("value")) == 128.0,
             "the tempo knob following it")
    tap(driver, "#tap")
    tap(driver, "#tap")
    wait_for(lambda: live.state().commands.applied >= applied + 3, "the tempo and two taps applied")
    assert live.state().commands.failed == failed
    clock_menu = css(driver, "#beat-params [data-param=clock] select")[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", clock_menu)
    Select(clock_menu).select_by_value("fixed")
    wait_for(lambda: live.state().to_json()["clock"]["source"] == "fixed", "the fixed clock")
    wait_for(lambda: text_of(driver, "#tempo-words").startswith("128.0 BPM · fixed"), "the tempo and source on the page")
    wait_for(lambda: css(driver, "#beat-dot.on"), "the beat dot blinking")

    # remove the selected keyframe, undo it; clear takes two taps, then undo brings all back
    assert css(driver, "#kf-undo")[0].get_attribute("disabled") is not None
    tap(driver, ".kf:nth-of-type(2)")
    tap(driver, "#kf-remove")
    wait_for(lambda: live.sources() == ["seed:1", "seed:3"], "the removal from the page")
    wait_for(lambda: css(driver, "#kf-undo")[0].get_attribute("disabled") is None, "undo offered")
    assert "(1)" in css(driver, "#kf-undo")[0].text
    tap(driver, "#kf-undo")
    wait_for(lambda: live.sources() == ["seed:1", "seed:2", "seed:3"], "the undo from the page")
    wait_for(lambda: any("put back at 1" in t.text for t in css(driver, ".toast")), "the undo told on the page")
    tap(driver, "#kf-clear")  # one tap only arms it, for a few seconds
    assert "again" in css(driver, "#kf-clear")[0].text and len(live.state().keyframes) == 3
    wait_for(lambda: css(driver, "#kf-clear")[0].text == "Clear all", "the lone tap forgotten")
    assert len(live.state().keyframes) == 3
    driver.execute_script("arguments[0].click(); arguments[0].click()", css(driver, "#kf-clear")[0])  # two taps
    wait_for(lambda: live.sources() == [], "the clear from the page")
    tap(driver, "#kf-undo")
    wait_for(lambda: live.sources() == ["seed:1", "seed:2", "seed:3"], "the clear undone")


def test_refusals_from_anyone_show_on_the_page(live, driver):
    state_before = live.page.page_state(live.state(), {}, {})
    assert "osc" not in state_before  # OSC's part comes through the session's wiring, as it runs
    refused = live.osc.report()["refused"]
    live.send(b"garbage!")  # not OSC at all: refused by the OSC server, never reaching the show
    live.send(osc_message("/stylevj/no/such/thing", 1))
    live.send(osc_message("/stylevj/goto/keyframe", 77))  # refused by the show when applied
    wait_for(lambda: live.osc.report()["refused"] == refused + 3, "three OSC refusals counted")
    report = live.osc.report()
    recent = [e["message"] for e in report["recent"]]  # made here (the show's own refusal is the show's to list)
    assert recent[-2].startswith("malformed packet") and recent[-1] == "unknown address /stylevj/no/such/thing"
    assert report["last"] == recent[-1] and all(e["from"] == "osc 127.0.0.1" for e in report["recent"])

    listed = lambda: text_of(driver, "#errors")  # noqa: E731
    wait_for(lambda: "unknown address /stylevj/no/such/thing" in listed(), "the OSC refusal listed on the page")
    wait_for(lambda: "malformed packet" in listed(), "the garbage packet listed on the page")
    wait_for(lambda: "keyframe 77 does not exist" in listed(), "the show's refusal of an OSC command listed")
    assert "osc 127.0.0.1 /stylevj/goto/keyframe" in listed()
    wait_for(lambda: any("unknown address" in t.text for t in css(driver, ".toast")), "another sender's refusal toasted")
    status = text_of(driver, "#status")
    assert f"{report['refused']} refused" in status and "last: unknown address" in status
    badge = css(driver, "#error-badge")[0]
    assert badge.is_displayed() and int(badge.text.split()[-1]) >= 3


def test_knobs_the_generator_lacks_are_hidden_with_their_reason(live, driver):
    knobs = ["translate_x", "translate_y", "rotate"]
    if "stylegan3" in features(live.G):
        assert all(css(driver, f"[data-param={k}]")[0].is_displayed() for k in knobs)
        assert not css(driver, "#lacking")[0].is_displayed()
        return
    assert live.state().to_json()["generator"] == {"features": []}
    wait_for(lambda: css(driver, "#lacking")[0].is_displayed(), "the line saying what the hidden knobs need")
    assert not any(css(driver, f"[data-param={k}]")[0].is_displayed() for k in knobs)
    assert css(driver, "#lacking")[0].text == "translate x, translate y, rotate: need a StyleGAN3 network"
    assert css(driver, "[data-param=speed]")[0].is_displayed()


def test_where_files_went_and_the_gpu_in_words(live, driver):
    tap(driver, "#snapshot")
    path = wait_for(lambda: css(driver, "#saved dd[data-saved=snapshot]")[0].text, "the snapshot's path on the page")
    assert Path(path).is_file() and Path(path).parent == live.folder / "snapshots"
    assert live.page.page_state(live.state(), {}, {})["saved"]["snapshot"] == path

    rows = """return [...document.querySelectorAll('#status dt')].map((dt) => [dt.textContent, dt.nextSibling.textContent])"""
    gpu = wait_for(lambda: [v for k, v in driver.execute_script(rows) if k == "GPU"], "the GPU line")  # read at once: redrawn each state
    assert not any("NVMLError" in line for line in gpu)


def test_nvml_error_names_become_words():
    assert gpu_words("NVMLError_LibraryNotFound") == "no NVIDIA GPU or driver"
    assert gpu_words("NVMLError_DriverNotLoaded: Driver Not Loaded") == "no NVIDIA GPU or driver"
    assert gpu_words("NVMLError_NoPermission") == "no GPU reading (the NVIDIA driver answered NoPermission)"
    assert gpu_words("no NVIDIA driver on this machine") == "no NVIDIA driver on this machine"
    assert gpu_words("") == "" and gpu_words(None) is None


def test_the_midi_and_output_faces(live, driver):
    hello = json.loads(live.page._controls)
    if "/stylevj/midi/learn" not in hello["addresses"]:
        assert not css(driver, "button.learn")  # no learn button where learning cannot happen
    else:
        from realtime.show import commands as c

        assert not css(driver, "#midi-box")[0].is_displayed()  # no controller: no MIDI panel, no learn buttons
        assert not any(b.is_displayed() for b in css(driver, "button.learn"))
        # a controller appears (what the MIDI adapter submits when it opens a port)
        live.show.submit(c.SetMidiPorts(inputs=("nanoKONTROL2 MIDI 1",)), "midi")
        wait_for(lambda: css(driver, "[data-param=speed] button.learn")[0].is_displayed(), "a learn button beside speed")
        assert "nanoKONTROL2" in css(driver, "#midi-ports")[0].text
        tap(driver, "[data-param=speed] button.learn")
        wait_for(lambda: live.state().to_json()["midi"]["learning"] == "speed", "learning armed from the page")
        wait_for(lambda: "learning speed" in css(driver, "#midi-learning")[0].text, "learning shown on the page")
        assert "on" in css(driver, "[data-param=speed] button.learn")[0].get_attribute("class")
        # key L learns the knob touched last (here: truncation's number box, then focus moves away)
        css(driver, "[data-param=truncation] input[type=range]")[0].click()
        driver.execute_script("document.activeElement.blur()")
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(driver).send_keys("l").perform()
        wait_for(lambda: live.state().to_json()["midi"]["learning"] == "truncation", "key L learning truncation")
        # a control moved: the mapping is listed, and Forget removes it
        live.show.submit(c.MidiMap(param="truncation", kind="cc", number=7, channel=1, port="nanoKONTROL2 MIDI 1"), "midi")
        wait_for(lambda: css(driver, "#midi-mappings li[data-mapping=truncation]"), "the mapping on the page")
        assert "cc 7 ch 1" in css(driver, "#midi-mappings li")[0].text
        tap(driver, "#midi-mappings li[data-mapping=truncation] button")
        wait_for(lambda: live.state().to_json()["midi"]["mappings"] == [], "the mapping forgotten from the page")
    outputs = live.state().to_json()["outputs"]
    box = css(driver, "#outputs-box")[0]
    assert box.is_displayed() == bool(outputs or "/stylevj/output/add" in hello["addresses"])


def test_the_page_sends_by_osc_address_only_what_it_may():
    import re

    from realtime.control.page_commands import PAGE_ADDRESSES, PageError, make_from_address, page_addresses
    from realtime.show import commands as c

    script = (Path(__file__).resolve().parent.parent / "realtime" / "control" / "page_files" / "page.js").read_text()
    spelled = set(re.findall(r'"(/stylevj/[a-z/]+)"', script))
    assert spelled == {"/stylevj/" + path for path in PAGE_ADDRESSES}  # no more, no fewer than allowed
    with pytest.raises(PageError, match="cannot send '/stylevj/keyframe/clear'"):
        make_from_address("/stylevj/keyframe/clear", [])  # in the OSC table, but not the page's by address
    if "/stylevj/midi/learn" in page_addresses():
        assert make_from_address("/stylevj/midi/learn", ["speed"]) == c.MidiLearn("speed")
        with pytest.raises(PageError, match="takes"):
            make_from_address("/stylevj/midi/forget", [])
