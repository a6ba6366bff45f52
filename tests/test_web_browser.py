"""The learner's page in a real browser (issue 25): headless Chromium driven by selenium, at a
phone's width, against the real aiohttp app serving real takes."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.history.links import web_secret
from bot.history.store import TakeStore
from bot.web.server import make_app
from tests.history_factory import make_report, make_store, make_take_audio, store_take
from tests.web_factory import launch_query, take_link

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER), reason="chromium and chromedriver are not installed"
)
EVIL = '<b id="evil">Кузнечик</b><script>window.pwned=1</script>'
# Screenshots to look at (SMASK_TEST_SCREENSHOTS names a folder to keep them; else a temp one).
SHOTS = Path(os.environ.get("SMASK_TEST_SCREENSHOTS") or tempfile.mkdtemp(prefix="smask-shots-"))


class Site(threading.Thread):
    """The app on its own event loop in a thread: selenium's calls block."""

    def __init__(self, store: TakeStore) -> None:
        super().__init__(daemon=True)
        self.store, self.port, self.ready = store, 0, threading.Event()
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        from aiohttp import web

        async def start() -> web.AppRunner:
            runner = web.AppRunner(make_app(self.store), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]
            return runner

        self.runner = self.loop.run_until_complete(start())
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def make_driver(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--mute-audio", f"--user-data-dir={profile}",
                 "--autoplay-policy=no-user-gesture-required",
                 "--window-size=390,844"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("browser")
    store = make_store(root / "h")
    audio = make_take_audio(root / "a", make_report(16))
    now = time.time()
    ids = [store_take(store, 7, make_report(16, cents=c, wrong_at=w, missed=m), audio,
                      created_at=now - d * 86400)
           for c, w, m, d in ((24, (2, 5), 1, 14), (15, (5,), 1, 7), (9, (), 0, 0))]  # fmt: skip
    evil = store_take(store, 7, make_report(16, title=EVIL, extra_at=(9,)), audio)
    other = store_take(store, 8, make_report(8, title="Чужая песня"), audio)
    site = Site(store)
    site.start()
    site.ready.wait(10)
    driver = make_driver(root / "profile")
    driver.set_window_size(390, 844)
    try:
        yield {"base": f"http://127.0.0.1:{site.port}", "store": store, "ids": ids,
               "evil": evil, "other": other, "driver": driver}  # fmt: skip
    finally:
        driver.quit()
        site.stop()


def _open(world: dict[str, Any], path: str) -> Any:
    driver = world["driver"]
    driver.get(world["base"] + path)
    return driver


def test_take_page_at_phone_width_plays_the_tapped_note(world: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    secret = web_secret(world["store"].config)
    driver = _open(world, take_link(secret, world["evil"], 7))
    notes = driver.find_elements(By.CSS_SELECTOR, "[data-note-index]")
    verdicts = [n.get_attribute("data-verdict") for n in notes]
    assert len(notes) == 17 and verdicts.count("wrong") == 1
    assert verdicts.count("missed") == 1 and verdicts.count("extra") == 1
    assert set(verdicts) == {"ok", "wrong", "missed", "extra"}
    assert driver.execute_script("return innerWidth") <= 414
    assert driver.execute_script("return document.scrollingElement.scrollWidth <= innerWidth"), (
        "the page scrolls sideways"
    )
    heading = driver.find_element(By.TAG_NAME, "h1").text
    assert heading == '<b id="evil">Кузнечик</b><script>window.pwned=1</script>'
    assert not driver.find_elements(By.ID, "evil")
    assert driver.execute_script("return window.pwned === undefined")
    SHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SHOTS / "take.png"))
    note = driver.find_element(By.CSS_SELECTOR, '[data-note-index="6"]')
    start = float(note.get_attribute("data-start"))
    end = float(note.get_attribute("data-end"))
    driver.execute_script("arguments[0].scrollIntoView({inline: 'center'})", note)
    note.click()
    state = _wait_playing(driver, "before")
    assert state["side"] == "before" and start - 0.1 <= state["t"] <= end + 0.3, (state, start)
    state = _wait_playing(driver, "after")  # then the corrected note, from the same place
    assert start - 0.1 <= state["t"] <= end + 0.3, (state, start)


def _wait_playing(driver: Any, side: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Poll the audio element (the browser's own clock): playing, and where."""
    deadline = time.monotonic() + timeout_s
    script = (
        "var a = document.getElementById(arguments[0]);"
        "return {side: a.id, paused: a.paused, t: a.currentTime};"
    )
    while time.monotonic() < deadline:
        state: dict[str, Any] = driver.execute_script(script, side)
        if not state["paused"] and state["t"] > 0:
            return state
        time.sleep(0.02)  # polling the browser, not waiting for our own code
    raise AssertionError(f"{side} never played: {state}")


def test_mini_app_lists_ones_own_takes_and_opens_them(world: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    driver = _open(world, "/?" + launch_query(7))
    items = driver.find_elements(By.CSS_SELECTOR, "[data-take-id]")
    shown = [i.get_attribute("data-take-id") for i in items]
    assert set(shown) == {*world["ids"], world["evil"]} and world["other"] not in shown
    assert driver.find_element(By.TAG_NAME, "h1").text == "Мои записи"
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart polyline")
    assert driver.execute_script("return document.scrollingElement.scrollWidth <= innerWidth")
    SHOTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(SHOTS / "mini-app.png"))
    target = world["ids"][0]
    driver.find_element(By.CSS_SELECTOR, f'[data-take-id="{target}"] a').click()
    assert f"/t/{target}" in driver.current_url
    assert driver.find_elements(By.CSS_SELECTOR, "[data-note-index]")
    driver.save_screenshot(str(SHOTS / "take-from-list.png"))

    driver = _open(world, "/?" + launch_query(8, lang="en"))
    items = driver.find_elements(By.CSS_SELECTOR, "[data-take-id]")
    shown = [i.get_attribute("data-take-id") for i in items]
    assert shown == [world["other"]]
    assert driver.find_element(By.TAG_NAME, "h1").text == "My takes"

    for bad in (launch_query(7, secret="not-the-app-secret"),
                launch_query(7).replace("vk_user_id=7", "vk_user_id=8")):  # fmt: skip
        driver = _open(world, "/?" + bad)
        assert not driver.find_elements(By.CSS_SELECTOR, "[data-take-id]")
        assert "недействительна" in driver.page_source
