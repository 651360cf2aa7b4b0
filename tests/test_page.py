"""The operator page: a real headless Chromium (Selenium, Debian's chromium + chromium-driver)
drives the real page served by a running headless show; every effect is checked in the show's
own published state. The server's safety (token, host, origin, folders) is checked with plain
HTTP and WebSocket clients. No elapsed-time assertions: conditions are waited for, generously."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from realtime.params import TABLE

from realtime.control.page import PageServer
from realtime.control.page_commands import PAGE_COMMANDS, PageError, make_command
from realtime.models import load_generator
from realtime.latent.hearing import Heard
from realtime.show import commands as c

from .conftest import SHOW

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                    reason="chromium and chromium-driver not installed (apt-get install chromium chromium-driver)")
DEADLINE = 60.0  # seconds: generous, for two shared cores; nothing here measures time


def wait_for(condition, what: str, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - an element not there yet, a stale element
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class PageShow:
    """A headless show (64x64) of conftest's SHOW with its operator page, run by a ShowSession on
    a render thread of its own (the page is served while the show steps at about 60 Hz)."""

    def __init__(self, G, folder: Path, host: str = "127.0.0.1", text: str = SHOW) -> None:
        self.G, self.folder, self.host, self.text = G, folder, host, text
        self.ready, self.stop_flag = threading.Event(), threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-show", daemon=True)
        self.thread.start()
        assert self.ready.wait(120), "the show did not start"
        if self.failure is not None:
            raise self.failure

    def _run(self) -> None:
        from realtime.display import HeadlessSurface
        from realtime.overlay import build_overlays
        from realtime.presets import OverlaySettings, load_preset
        from realtime.session import ShowSession, build_show
        from realtime.show import Folders

        try:
            (self.folder / "show.toml").write_text(self.text)
            overlays = build_overlays(OverlaySettings())
            show = build_show(self.G, load_preset(self.folder / "show.toml"), HeadlessSurface((64, 64)), upload="host",
                              folders=Folders.beside(self.folder), overlays=overlays.panels)
            self.page = PageServer(show.submit, show.board, show.folders, host=self.host, port=0)
            with ShowSession(show, page=self.page):
                self.show = show
                self.ready.set()
                while not self.stop_flag.is_set():
                    show.step()
                    time.sleep(1 / 60)
            overlays.close()
        except BaseException as exc:  # reported to the test
            self.failure = exc
            self.ready.set()

    def state(self):
        return self.show.board.latest()

    def sources(self) -> list[str]:
        return [k.source for k in self.state().keyframes]

    def close(self) -> None:
        self.stop_flag.set()
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


@pytest.fixture
def live(demo, tmp_path):
    show = PageShow(demo, tmp_path)
    yield show
    show.close()


@pytest.fixture
def browser():
    """A factory of headless Chromium sessions (each with its own profile), all quit at the end."""
    if not (CHROMIUM and DRIVER):
        pytest.skip("chromium and chromium-driver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers, profiles = [], []

    def open_browser():
        options = webdriver.ChromeOptions()
        profile = tempfile.mkdtemp(prefix="stylevj-chromium-")
        profiles.append(profile)
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                    "--window-size=800,1600"):
            options.add_argument(arg)
        options.binary_location = CHROMIUM
        driver = webdriver.Chrome(options=options, service=Service(DRIVER))
        drivers.append(driver)
        return driver

    yield open_browser
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


def tap(driver, element) -> None:
    """Tap an element as a person would: scrolled into the middle of the screen first, so the
    sticky stage bar at the top never covers it."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", element)
    element.click()


def css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def names_on(driver) -> list[str]:
    return [e.text for e in css(driver, ".kf .name")]


def open_page(driver, live: PageShow) -> None:
    driver.get(live.page.url)
    wait_for(lambda: len(css(driver, ".kf")) == len(live.state().keyframes) and css(driver, "#conn.on"), "the page to connect")


# ---- the page in a browser --------------------------------------------------------------------------


@needs_chromium
def test_the_page_drives_the_show(live, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    driver = browser()
    open_page(driver, live)
    assert names_on(driver) == ["seed 1", "seed 2", "seed 3"]
    wait_for(lambda: css(driver, "#picture")[0].get_attribute("src").startswith("blob:"), "the live picture")
    assert live.show.thumbnails  # the show makes thumbnails while a page watches

    # add a keyframe by seed, with truncation
    css(driver, "#seed")[0].send_keys("42")
    css(driver, "#psi")[0].send_keys("0.7")
    css(driver, "#add-seed")[0].click()
    wait_for(lambda: live.sources() == ["seed:1", "seed:2", "seed:3", "seed:42@0.7"], "the seed keyframe in the show")
    wait_for(lambda: len(names_on(driver)) == 4, "the new card on the page")

    # drag the first keyframe onto the third: MoveKeyframe(0, 2)
    grip, target = css(driver, ".kf .grip")[0], css(driver, ".kf")[2]
    ActionChains(driver).click_and_hold(grip).move_by_offset(8, 0).move_to_element(target).release().perform()
    wait_for(lambda: live.sources() == ["seed:2", "seed:3", "seed:1", "seed:42@0.7"], "the reordered path")
    wait_for(lambda: names_on(driver)[:3] == ["seed 2", "seed 3", "seed 1"], "the reordered strip")

    # move the speed slider to the right of its middle (0): the show plays forward, the number agrees
    assert live.state().speed == 0.0
    slider = css(driver, "[data-param=speed] input[type=range]")[0]
    ActionChains(driver).move_to_element_with_offset(slider, slider.size["width"] // 4, 0).click().perform()
    speed = wait_for(lambda: live.state().speed if live.state().speed > 0 else None, "a forward speed")
    shown = float(css(driver, "[data-param=speed] input[type=number]")[0].get_attribute("value"))
    assert shown == pytest.approx(speed, rel=1e-3)
    assert speed <= TABLE["speed"].high

    # pause, tap a keyframe (the show goes there), rename it
    css(driver, "#play")[0].click()
    wait_for(lambda: live.state().paused, "pause")
    tap(driver, css(driver, ".kf")[1])
    wait_for(lambda: live.state().position == 1.0, "the tapped keyframe")
    field = css(driver, "#kf-name")[0]
    field.clear()
    field.send_keys("the bridge")
    css(driver, "#kf-rename")[0].click()
    wait_for(lambda: live.state().keyframes[1].name == "the bridge", "the renamed keyframe")
    wait_for(lambda: names_on(driver)[1] == "the bridge", "the new name on the strip")

    # save a preset: the file appears in the presets folder, with the page's path
    css(driver, "#preset-name")[0].send_keys("from-the-page")
    css(driver, "#save-preset")[0].click()
    saved = live.folder / "from-the-page.toml"
    wait_for(saved.exists, "the saved preset")
    from realtime.presets import load_preset

    preset = wait_for(lambda: load_preset(saved), "a complete preset file")
    assert [k.seed for k in preset.keyframes] == [2, 3, 1, 42]
    assert preset.keyframes[1].name == "the bridge"
    wait_for(lambda: "from-the-page.toml" in [o.text for o in css(driver, "#presets option")], "the preset in the list")

    # a refused command comes back to the page with its reason; nothing is applied
    counters = live.page.counters
    rejected = counters.rejected
    field = css(driver, "#preset-name")[0]
    field.clear()
    field.send_keys("../escape")
    css(driver, "#save-preset")[0].click()
    wait_for(lambda: any("must be a plain name inside the presets folder" in t.text for t in css(driver, ".toast")),
             "the refusal's reason on the page")
    assert counters.rejected == rejected + 1 and not (live.folder.parent / "escape.toml").exists()

    # remove every keyframe; with an empty strip and no keyframe file, the file button sends nothing
    for count in range(len(live.state().keyframes), 0, -1):
        wait_for(lambda n=count: len(css(driver, ".kf")) == n, "the strip")
        tap(driver, css(driver, ".kf")[0])
        css(driver, "#kf-remove")[0].click()
        wait_for(lambda n=count: len(live.state().keyframes) == n - 1, "a removal")
    assert live.state().keyframes == ()
    wait_for(lambda: not css(driver, "#kf-remove")[0].is_displayed(), "no selection once the strip is empty")
    messages = counters.messages
    css(driver, "#add-file")[0].click()  # no keyframe file in the folder: nothing sent
    css(driver, "#add-current")[0].click()  # sent after it on the same socket: once applied, anything before it was too
    wait_for(lambda: [k.source for k in live.state().keyframes] == ["snapshot"], "the keyframe added after the click")
    assert counters.messages == messages + 1 and live.state().commands.failed == 0


@needs_chromium
def test_a_second_page_sees_the_first_ones_changes_and_a_reload_catches_up(live, browser):
    first, second = browser(), browser()
    open_page(first, live)
    open_page(second, live)
    css(first, "#seed")[0].send_keys("7")
    css(first, "#add-seed")[0].click()
    wait_for(lambda: names_on(second) == ["seed 1", "seed 2", "seed 3", "seed 7"], "the first page's keyframe on the second")
    truncation = css(first, "[data-param=truncation] input[type=number]")[0]
    truncation.clear()
    truncation.send_keys("0.25\n")
    wait_for(lambda: live.state().truncation == 0.25, "the truncation in the show")
    wait_for(lambda: float(css(second, "[data-param=truncation] input[type=number]")[0].get_attribute("value")) == 0.25,
             "the truncation on the second page")
    css(first, "#play")[0].click()  # playing -> paused
    wait_for(lambda: live.state().paused, "pause")
    wait_for(lambda: css(second, "#play")[0].text == "Play", "the second page's play button")
    second.refresh()  # a page that reconnects gets the whole state again
    wait_for(lambda: names_on(second) == ["seed 1", "seed 2", "seed 3", "seed 7"] and css(second, "#conn.on"),
             "the reloaded page")
    assert css(second, "#play")[0].text == "Play"
    wait_for(lambda: live.page.clients == 2, "two pages connected")


def pictures_on(driver) -> list[str]:
    """The data: URLs of the strip's keyframe pictures ("" for a card whose picture is not there yet)."""
    return [e.get_attribute("src") or "" for e in css(driver, ".kf img.picture")]


@needs_chromium
def test_each_keyframe_gets_its_picture_in_the_strip_made_once(live, browser):
    import base64
    import io

    import numpy as np
    from PIL import Image

    driver = browser()
    open_page(driver, live)
    css(driver, "#seed")[0].send_keys("42")
    css(driver, "#add-seed")[0].click()
    wait_for(lambda: live.sources() == ["seed:1", "seed:2", "seed:3", "seed:42"], "the seed keyframe in the show")
    urls = wait_for(lambda: (lambda u: u if len(u) == 4 and all(x.startswith("data:image/jpeg;base64,") for x in u) else None)(
        pictures_on(driver)), "every keyframe's picture in the strip")
    assert len(set(urls)) == 4  # each keyframe its own picture
    img = css(driver, ".kf img.picture")[3]
    assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0  # it decoded
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(urls[3].split(",", 1)[1]))).convert("RGB"))
    assert max(pixels.shape[:2]) <= 96 and pixels.std() > 5 and pixels.max() > 40  # a picture, not a blank
    pictures = live.show.keyframe_pictures
    assert pictures.made == 4 and pictures.cost_ms > 0
    number = live.state().keyframe_pictures[3].number

    # a rename or a move keeps the keyframe's W+, so its picture is not made again
    tap(driver, css(driver, ".kf")[3])
    field = css(driver, "#kf-name")[0]
    field.clear()
    field.send_keys("the answer")
    css(driver, "#kf-rename")[0].click()
    wait_for(lambda: names_on(driver)[3] == "the answer" and pictures_on(driver)[3] == urls[3], "the renamed card, same picture")
    assert live.state().keyframe_pictures[3].number == number and pictures.made == 4
    assert live.state().commands.failed == 0


@needs_chromium
def test_a_keyframe_file_in_the_keyframes_folder_is_listed_and_added(live, browser):
    from selenium.webdriver.support.select import Select

    from realtime.latent import keyframe_from_seed, save_keyframe

    driver = browser()
    open_page(driver, live)
    assert [o.get_attribute("value") for o in css(driver, "#kf-files option")] == [""]  # none yet
    (live.folder / "keyframes").mkdir()
    save_keyframe(keyframe_from_seed(live.G, 9, name="nine"), live.folder / "keyframes" / "nine.safetensors")
    (live.folder / "keyframes" / "notes.txt").write_text("not a keyframe")
    wait_for(lambda: [o.get_attribute("value") for o in css(driver, "#kf-files option")] == ["nine.safetensors"],
             "the keyframe file listed on the page (and nothing else)")
    Select(css(driver, "#kf-files")[0]).select_by_value("nine.safetensors")
    css(driver, "#add-file")[0].click()
    wait_for(lambda: len(live.sources()) == 4 and live.sources()[3].endswith("nine.safetensors"), "the file's keyframe in the show")
    assert live.sources()[3].startswith("file:")
    wait_for(lambda: names_on(driver)[3:] == ["nine"] and pictures_on(driver)[3].startswith("data:image/jpeg"),
             "the file's card with its picture")
    assert live.state().commands.failed == 0


def test_keyframe_pictures_are_made_once_per_w_plus_and_hold_no_command(demo):
    import dataclasses

    from realtime.latent import keyframe_from_seed
    from realtime.show.loader import Loader
    from realtime.show.thumbnail import KEYFRAME_PICTURE_SIZE, KeyframePictures, render_keyframe

    one, two = keyframe_from_seed(demo, 1), keyframe_from_seed(demo, 2)
    pictures = KeyframePictures(jobs=1)
    assert pictures.wanted([one, two, one]) == [one.w]  # one on the way at a time
    pictures.asked(one.w)
    assert pictures.wanted([one, two]) == []
    pixels = render_keyframe(demo, one.w)
    assert max(pixels.shape[:2]) == KEYFRAME_PICTURE_SIZE and not pixels.flags.writeable and pixels.std() > 5
    made = pictures.store(one.w, pixels, 1.0)
    renamed = dataclasses.replace(one, name="renamed")  # the same W+: the same picture
    assert pictures.all_of([renamed, two]) == (made, None)
    assert pictures.wanted([renamed, two]) == [two.w]
    pictures.wanted([two])  # `one` left the path: its picture is forgotten
    assert pictures.of(one.w) is None

    loader = Loader(failed=lambda reason: reason)
    gate = threading.Event()
    loader.load(lambda: "picture" if gate.wait(30) else "late", "page", hold=False)
    assert loader.pending == 0  # a picture on the way holds no command
    loader.load(lambda: "file", "osc")
    assert loader.pending == 1
    loader.start()
    try:
        gate.set()
        done: list = []
        wait_for(lambda: done.extend(loader.finished()) or len(done) == 2, "both jobs")
        assert done == [("picture", "page"), ("file", "osc")] and loader.pending == 0
    finally:
        loader.stop()


CONTROLS = SHOW + """
[[controls]]
name = "spin"
bend = "rotate"
resolution = 16
range = [-180, 180]
slew = 0
"""


@needs_chromium
def test_the_presets_controls_are_sliders_and_the_music_a_meter(demo, tmp_path, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    live = PageShow(demo, tmp_path, text=CONTROLS)
    try:
        driver = browser()
        open_page(driver, live)
        slider = wait_for(lambda: css(driver, "input[data-control=spin]")[0], "the control's slider")
        assert (float(slider.get_attribute("min")), float(slider.get_attribute("max"))) == (-180, 180)  # the state's range
        spin = lambda: next(k for k in live.state().controls if k.name == "spin")  # noqa: E731
        assert spin().value == 0.0
        ActionChains(driver).move_to_element_with_offset(slider, slider.size["width"] // 4, 0).click().perform()
        value = wait_for(lambda: spin().value if spin().value > 0 else None, "the control turned by the slider")
        assert value < 180
        wait_for(lambda: float(css(driver, "input[data-control-value=spin]")[0].get_attribute("value"))
                 == pytest.approx(value, rel=1e-3), "the control's number on the page")

        assert not css(driver, "#music")[0].is_displayed()  # no audio: no meter
        live.show.submit(c.SetAudioSource("file song.wav"))
        live.show.submit(c.AudioHeard(Heard(level=0.5, low=0.25, bpm=120.0)))
        wait_for(lambda: css(driver, "#music")[0].is_displayed()
                 and float(css(driver, "meter[data-audio=level]")[0].get_attribute("value")) == 0.5
                 and float(css(driver, "meter[data-audio=low]")[0].get_attribute("value")) == 0.25, "the music's meter")
        assert "song.wav" in css(driver, "#music-source")[0].text and "120.0 bpm" in css(driver, "#drive")[0].text
        assert live.state().commands.failed == 0
    finally:
        live.close()


# ---- safety: token, host, origin, folders (plain clients) -------------------------------------------


def get(address, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_beyond_loopback_every_request_needs_the_token(demo, tmp_path):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    live = PageShow(demo, tmp_path, host="127.0.0.2")  # not 127.0.0.1: treated like a LAN address
    try:
        page = live.page
        assert page.token and f"?token={page.token}" in page.url
        host, port = page.address
        for path in ("/", "/page.js", "/ws", "/nothing"):
            before = page.counters.refused
            status, _, body = get(page.address, path)
            assert status == 403 and b"forbidden" in body
            assert page.counters.refused == before + 1
        status, _, _ = get(page.address, "/?token=not-the-token")
        assert status == 403
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://{host}:{port}/ws", open_timeout=30)
        assert refused.value.response.status_code == 403
        status, headers, body = get(page.address, f"/?token={page.token}")
        assert status == 200 and b"<title>stylevj</title>" in body
        cookie = headers["Set-Cookie"].split(";")[0]
        assert get(page.address, "/page.js", {"Cookie": cookie})[0] == 200  # the page's own files, by its cookie
        with connect(f"ws://{host}:{port}/ws?token={page.token}", open_timeout=30) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
            ws.send(json.dumps({"command": "SetParam", "args": {"name": "speed", "value": 0.5}}))
            wait_for(lambda: live.state().speed == 0.5, "a command with the token")
        assert page.counters.refused == 6
    finally:
        live.close()


def test_only_the_pages_own_files_and_folder_names_inside_the_folders(live, tmp_path):
    from websockets.sync.client import connect

    page = live.page
    outside = tmp_path.parent / f"{tmp_path.name}-outside.toml"
    for path in ("/../show.toml", "/%2e%2e/show.toml", "/page_files/page.js", "/show.toml", "//etc/passwd", "/page.py"):
        assert get(page.address, path)[0] == 404, path
    assert get(page.address, "/", {"Host": "evil.example:80"})[0] == 403  # DNS rebinding
    host, port = page.address
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus):  # another site's page may not drive the show
        connect(f"ws://{host}:{port}/ws", origin="http://evil.example", open_timeout=30)
    with connect(f"ws://{host}:{port}/ws", open_timeout=30) as ws:
        hello = json.loads(ws.recv(timeout=30))
        assert "Quit" not in hello["commands"]
        errors = []

        def answer():
            while True:
                message = ws.recv(timeout=30)
                if isinstance(message, str) and json.loads(message)["type"] == "error":
                    return json.loads(message)["message"]

        for command, args in (("Quit", {}), ("AddFileKeyframe", {"file": "../show.toml"}),
                              ("SavePreset", {"name": f"../{outside.stem}"}), ("LoadPreset", {"name": "/etc/passwd"}),
                              ("SetParam", {"name": "speed", "value": 1e9}), ("SetParam", {"name": "speed", "value": 1, "extra": 2})):
            ws.send(json.dumps({"command": command, "args": args}))
            errors.append(answer())
        assert "cannot send 'Quit'" in errors[0]
        assert all("must be a plain name inside the" in e for e in errors[1:4]) and "keyframes folder" in errors[1]
        assert "within [-1000, 1000]" in errors[4] and "unknown argument extra" in errors[5]
        assert not outside.exists()
        assert live.sources() == ["seed:1", "seed:2", "seed:3"]
        thumbnail = wait_for(lambda: next(m for m in iter(lambda: ws.recv(timeout=30), None) if isinstance(m, bytes)),
                             "a thumbnail")
        assert thumbnail[:2] == b"\xff\xd8"  # JPEG
    wait_for(lambda: not live.show.thumbnails, "thumbnails off once no page watches")
    assert live.state().thumbnail is not None


def test_page_commands_are_checked_where_they_are_made():
    assert make_command("SetParam", {"name": "truncation", "value": 0.5}) == c.SetParam("truncation", 0.5)
    assert make_command("AddSeedKeyframe", {"seed": 3}) == c.AddSeedKeyframe(3)
    for name, args, reason in (("Quit", {}, "cannot send"), ("SetThumbnails", {"on": True}, "cannot send"),
                               ("SetParam", {"name": "alpha", "value": 2}, "alpha must be within [0, 1]"),
                               ("SetParam", {"name": "alpha"}, "missing value"), ("SetParam", [1], "must be an object"), (None, {}, "cannot send")):
        with pytest.raises(PageError, match=re.escape(reason)):
            make_command(name, args)
    assert c.Quit not in PAGE_COMMANDS


def test_a_taken_port_is_an_error_unless_any_port_will_do(demo, tmp_path):
    import socket

    from realtime.errors import StylevjError
    from realtime.show import Folders, StateBoard

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        folders = Folders.beside(tmp_path)
        with pytest.raises(StylevjError, match=f"cannot listen on 127.0.0.1:{port}"):
            PageServer(lambda cmd, origin: True, StateBoard(), folders, port=port).start()
        page = PageServer(lambda cmd, origin: True, StateBoard(), folders, port=port, any_port_if_taken=True).start()
        try:
            assert page.address[1] not in (0, port)
        finally:
            page.stop()


# ---- thumbnails: a small copy of the frame, taken without waiting ---------------------------------


def test_the_thumbnail_tap_takes_a_small_copy_now_and_then(frame_pattern):
    import torch

    from realtime.show.thumbnail import THUMBNAIL_SIZE, ThumbnailTap, shrink, stride

    frame = frame_pattern(1024, 1024)
    tap = ThumbnailTap(hz=4.0)
    assert tap.due(10.0)
    assert tap.take(frame, None, 7, 10.0, None) is None  # CPU: nothing to wait for before the slot is reused
    assert not tap.due(10.1)  # at most 4 a second
    thumbnail = tap.ready()
    assert thumbnail.frame == 7 and thumbnail.serial == 1 and not thumbnail.pixels.flags.writeable
    assert THUMBNAIL_SIZE <= max(thumbnail.pixels.shape[:2]) < 2 * THUMBNAIL_SIZE
    assert tap.ready() is None and tap.due(10.25)
    small = shrink(frame)
    assert small.shape == (THUMBNAIL_SIZE, THUMBNAIL_SIZE, 3)
    assert small[0, -1, 0] > 200 and small[-1, 0, 1] > 200  # red grows rightwards, green downwards
    assert torch.equal(stride(frame[:64, :64]), frame[:64, :64, :3])
    from PIL import Image

    from realtime.control.page_extras import encode_jpeg

    image = Image.open(__import__("io").BytesIO(encode_jpeg(thumbnail.pixels)))
    assert image.format == "JPEG" and max(image.size) == THUMBNAIL_SIZE


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
def test_the_thumbnail_tap_on_cuda_never_waits_and_guards_the_slot(frame_pattern):
    import torch

    from realtime.show.thumbnail import ThumbnailTap, shrink

    frame = frame_pattern(1024, 1024).cuda()
    finished = torch.cuda.Event()
    finished.record()
    tap = ThumbnailTap()
    guard = tap.take(frame, finished, 3, 0.0, None)
    assert isinstance(guard, torch.cuda.Event)
    thumbnail = wait_for(tap.ready, "the copy")
    assert torch.equal(torch.from_numpy(thumbnail.pixels.copy()), shrink(frame.cpu()))


def test_run_serves_the_page_with_a_token_and_a_qr_code_beyond_loopback(tmp_path):
    from .conftest import stylevj

    common = ["run", "--headless", "--frames", "20", "--no-osc", "--journal", str(tmp_path / "j.toml")]
    opened = stylevj(*common, "--control-host", "127.0.0.2", "--control-port", "0")
    assert opened.returncode == 0, opened.stderr[-2000:]
    assert re.search(r"operator page on http://127\.0\.0\.2:\d+/\?token=[\w-]{16,} \(the token is required\)", opened.stderr)
    assert "▀" in opened.stderr or "█" in opened.stderr  # the QR code, for a phone's camera
    closed = stylevj(*common, "--no-control")
    assert closed.returncode == 0 and "operator page" not in closed.stderr
    wrong = stylevj(*common, "--control-port", "70000")
    assert wrong.returncode == 2 and "a port must be within [0, 65535]" in wrong.stderr
