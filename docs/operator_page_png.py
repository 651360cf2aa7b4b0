"""How docs/operator-page.png is made: the `demo` show, headless, with its operator page in a
phone-sized headless Chromium, beside the stage output.

    python docs/operator_page_png.py [docs/operator-page.png]

Needs Chromium and its driver (apt-get install chromium chromium-driver) and Selenium (the test
extra). The show plays four seeds on the fixed clock at 124 BPM; one keyframe is removed (so the
page offers Undo), a snapshot is saved (its path shows) and an OSC sender sends an unknown
address (its refusal shows on the page, as a note at the top and in the errors list).
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

SHOW = """
[generator]
source = "demo"
[play]
speed = 0.35
[clock]
source = "fixed"
tempo = 124.0
[[keyframes]]
seed = 11
[[keyframes]]
seed = 24
[[keyframes]]
seed = 37
[[keyframes]]
seed = 52
"""
STAGE = 720  # px: the stage output beside the page
PHONE = (430, 1250)  # CSS px of the phone's screen
SCALE = 1.25  # its device pixel ratio


def wait_for(condition, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - not there yet
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def main(out: Path) -> None:
    import shutil

    from pythonosc.osc_message_builder import OscMessageBuilder
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from realtime.control import OscServer
    from realtime.control.page import PageServer
    from realtime.display import HeadlessSurface
    from realtime.models import load_generator
    from realtime.presets import load_preset
    from realtime.session import ShowSession, build_show
    from realtime.show import Folders
    from realtime.show import commands as c

    folder = Path(tempfile.mkdtemp(prefix="stylevj-page-png-"))
    (folder / "show.toml").write_text(SHOW)
    show = build_show(load_generator("demo"), load_preset(folder / "show.toml"), HeadlessSurface((STAGE, STAGE)),
                      upload="host", folders=Folders.beside(folder, snapshots=folder / "snapshots"))
    osc = OscServer(show.submit, show.board, port=0)
    page = PageServer(show.submit, show.board, show.folders, port=0)
    stop = threading.Event()

    def browse() -> None:
        options = webdriver.ChromeOptions()
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={PHONE[0]},{PHONE[1]}",
                    f"--force-device-scale-factor={SCALE}", f"--user-data-dir={folder / 'chromium'}"):
            options.add_argument(arg)
        options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
        driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        try:
            driver.set_window_size(*PHONE)
            driver.get(page.url)
            wait_for(lambda: len(driver.find_elements("css selector", ".kf .picture:not(.pending)")) == 4, "the strip")
            show.submit(c.RemoveKeyframe(3), "doc")
            show.submit(c.Snapshot(), "doc")
            wait_for(lambda: driver.find_elements("css selector", "#saved dd"), "the snapshot's path")
            client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            client.sendto(OscMessageBuilder("/stylevj/brightness").build().dgram, osc.address)
            wait_for(lambda: driver.find_elements("css selector", ".toast:not(.info)"), "the OSC refusal")
            time.sleep(1.5)  # the "snapshot saved" note fades; the refusal stays a while
            driver.execute_script("document.querySelectorAll('.kf')[1].click()")
            driver.execute_script("window.scrollTo(0, 0)")
            time.sleep(0.5)
            driver.save_screenshot(str(folder / "page.png"))
        finally:
            driver.quit()
            stop.set()

    with ShowSession(show, osc=osc, page=page):
        show.wait_for_first_frame()
        threading.Thread(target=browse, daemon=True).start()
        while not stop.is_set():
            show.step()
            time.sleep(1 / 60)
        stage = np.ascontiguousarray(show.surface.read_pixels()[..., :3])
    phone = Image.open(folder / "page.png").convert("RGB")
    canvas = Image.new("RGB", (STAGE + 24 + phone.width, max(STAGE, phone.height)), (17, 17, 17))
    canvas.paste(Image.fromarray(stage), (0, 0))
    canvas.paste(phone, (STAGE + 24, 0))
    canvas.save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("operator-page.png")))
