"""The learner's page (issue 25): page weight, time to the first note in headless Chromium,
stored bytes per take, /history's latency with 100 takes, and what keeping a take costs.

Run: python -m bench.web  (writes bench/results/web.md)
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.history.links import take_path, web_secret
from bot.history.progress import plot_progress, progress_sentence, takes_of_tune
from bot.history.store import TakeStore
from bot.web.pages import take_page
from tests.history_factory import (
    make_report,
    make_store,
    store_take,
)
from tests.media_factory import make_audio

OUT = Path(__file__).parent / "results" / "web.md"


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="smask-bench-web-"))
    try:
        store = make_store(root / "h")
        report = make_report(120, note_s=0.5, wrong_at=(10, 40), missed=2)  # a 60 s take
        # A melody-like 60 s tone (the factory's per-note expression is too long for 120 notes).
        (root / "a").mkdir()
        expr = "0.4*sin(2*PI*(330+110*floor(mod(2*t\\,8)))*t)"
        before, after = (make_audio(root / "a" / f"{side}.wav", "wav_s16", expression=expr,
                                 duration_s=61.0) for side in ("before", "after"))  # fmt: skip
        started = time.perf_counter()
        take_id = store_take(store, 7, report, (before, after)) or ""
        keep_s = time.perf_counter() - started
        folder = root / "h" / "users" / "7" / "takes" / take_id
        stored = sum(f.stat().st_size for f in folder.iterdir())
        record = store.get(7, take_id) or {}
        html = take_page(record, "u=7&e=1&s=x", "ru")
        static = Path("bot/web/static")
        weight = len(html.encode()) + sum(f.stat().st_size for f in static.iterdir())
        for i in range(99):  # 100 takes over 100 days, copies of the measured one
            copy = folder.parent / f"{take_id[:-4]}{i:04d}"
            shutil.copytree(folder, copy)
            rec = json.loads((copy / "take.json").read_text())
            rec.update(take_id=copy.name, created_at=time.time() - (i + 1) * 86400)
            (copy / "take.json").write_text(json.dumps(rec))
        lat = []
        for _ in range(20):
            t0 = time.perf_counter()
            takes = takes_of_tune(store.takes(7), "Кузнечик")
            progress_sentence(takes, "ru")
            plot_progress(takes, root / "p.png", "ru")
            lat.append(time.perf_counter() - t0)
        lat.sort()
        p95 = lat[int(0.95 * (len(lat) - 1))]
        first_note = _first_note_s(store, take_id, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = [
        ("page weight, 60 s take, audio excluded", f"{weight / 1024:.1f} KB", "<= 300 KB"),
        ("first rendered note, headless Chromium", first_note, "<= 1 s"),
        ("stored bytes per 60 s take (2 x Opus + JSON)", f"{stored / 1024:.0f} KB", "-"),
        ("/history with 100 takes, p50 / p95",
         f"{statistics.median(lat) * 1000:.0f} / {p95 * 1000:.0f} ms", "p95 <= 300 ms"),
        ("keeping one 60 s take (two Opus encodes)", f"{keep_s:.2f} s", "<= 5% of a job"),
    ]  # fmt: skip
    text = ["# The learner's page (bench/web.py)", "",
            "| figure | measured | goal |", "|---|---|---|",
            *[f"| {a} | {b} | {c} |" for a, b, c in rows], ""]  # fmt: skip
    OUT.write_text("\n".join(text))
    print("\n".join(text))


def _first_note_s(store: TakeStore, take_id: str, root: Path) -> str:
    """navigationStart to the first paint of the server-rendered roll (its notes are in the
    HTML, so the first contentful paint shows them)."""
    try:
        from tests.test_web_browser import CHROMIUM, DRIVER, Site, make_driver
    except ImportError:
        return "not measured (selenium missing)"
    if not (CHROMIUM and DRIVER):
        return "not measured (no chromium)"
    site = Site(store)
    site.start()
    site.ready.wait(10)
    driver = make_driver(root / "profile")
    try:
        url = f"http://127.0.0.1:{site.port}" + take_path(
            web_secret(store.config),
            take_id,
            7,
            int(time.time() + 600),
        )
        times = []
        for _ in range(5):
            driver.get(url)
            ms = driver.execute_script(
                "var p = performance.getEntriesByName('first-contentful-paint')[0];"
                "var n = document.querySelector('[data-note-index]');"
                "return n && p ? p.startTime : null;"
            )
            if ms is not None:
                times.append(float(ms))
        return f"{statistics.median(times):.0f} ms (median of 5)" if times else "not measured"
    finally:
        driver.quit()
        site.stop()


if __name__ == "__main__":
    main()
