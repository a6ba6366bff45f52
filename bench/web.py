"""The learner's page (issue 25): page weight, time to the first note in headless Chromium,
stored bytes per take, /history's latency with 100 takes, and what keeping a take costs.

/history is timed warm (matplotlib imported, as the bot does at start): the handler's whole
work from the message to the photo upload call (``bot.history.progress.history_answer``:
index read, sentence, signed link, PNG drawn). Keeping a take is timed against real jobs
(data/sample/sample.mp4 looped to 60 s, and a 60 s 720p clip): the worker's own work with and
without its listening copies, in interleaved pairs (see ``_job_and_keep``).

Run: python -m bench.web  (writes bench/results/web.md)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.history.links import take_path, web_secret
from bot.history.progress import history_answer, load_matplotlib
from bot.history.store import TakeStore
from bot.web.pages import take_page
from tests.history_factory import (
    make_report,
    make_store,
    store_take,
)
from tests.media_factory import make_audio

OUT = Path(__file__).parent / "results" / "web.md"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "sample.mp4"


def main() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the smask entry point does
    load_matplotlib()  # the bot imports it at start: /history is timed warm
    root = Path(tempfile.mkdtemp(prefix="smask-bench-web-"))
    try:
        store = make_store(root / "h")
        report = make_report(120, note_s=0.5, wrong_at=(10, 40), missed=2)  # a 60 s take
        # A melody-like 60 s tone (the factory's per-note expression is too long for 120 notes).
        (root / "a").mkdir()
        expr = "0.4*sin(2*PI*(330+110*floor(mod(2*t\\,8)))*t)"
        before, after = (make_audio(root / "a" / f"{side}.wav", "wav_s16", expression=expr,
                                 duration_s=61.0) for side in ("before", "after"))  # fmt: skip
        take_id = store_take(store, 7, report, (before, after)) or ""
        folder = root / "h" / "users" / "7" / "takes" / take_id
        stored_tone = sum(f.stat().st_size for f in folder.iterdir())
        record = store.get(7, take_id) or {}
        html = take_page(record, "u=7&e=1&s=x", "ru")
        static = Path("bot/web/static")
        weight = len(html.encode()) + sum(f.stat().st_size for f in static.iterdir())
        job = _job_and_keep(root, _looped_sample(root))
        phone = _job_and_keep(root, _phone_clip(root))
        lat = _history_latency(store, folder, take_id, root)
        first_note = _first_note_s(store, take_id, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    p95 = lat[int(0.95 * (len(lat) - 1))]
    rows = [
        ("page weight, 60 s take, audio excluded", f"{weight / 1024:.1f} KB", "<= 300 KB"),
        ("first rendered note, headless Chromium", first_note, "<= 1 s"),
        ("stored bytes per 60 s take, sample.mp4 looped (2 x Opus + JSON)",
         f"{job['stored'] / 1024:.0f} KB", "~720 KB (48 kbit/s)"),
        ("stored bytes per 60 s take, synthetic tones (2 x Opus + JSON)",
         f"{stored_tone / 1024:.0f} KB", "-"),
        (f"/history with 100 takes, warm, p50 / p95 of {len(lat)}",
         f"{statistics.median(lat) * 1000:.0f} / {p95 * 1000:.0f} ms", "p95 <= 300 ms"),
        *_keep_rows("60 s 720p phone-like clip (bench.speed's: FluidR3 flute, AAC stereo)",
                    phone),
        *_keep_rows("60 s sample.mp4 looped (small picture, sung)", job),
        ("the reply's wait for its link (take id reserved)",
         f"{job['link_ms']:.1f} ms", "-"),
    ]  # fmt: skip
    load = os.getloadavg()[0]
    text = ["# The learner's page (bench/web.py)", "",
            f"`python -m bench.web` on {os.cpu_count()} CPU cores, load average {load:.1f} "
            "at the end (the machine is shared: wall times are upper bounds).", "",
            "| figure | measured | goal |", "|---|---|---|",
            *[f"| {a} | {b} | {c} |" for a, b, c in rows], "",
            "/history: `history_answer` = the handler's work from the message to the photo "
            "upload call (index read, progress sentence, signed link, 640x400 PNG), warm.",
            "Keeping a take: the worker reserves the take's id (~1 ms) so the reply carries "
            "its link. The take's audio comes from the job's own audio: one ffmpeg, started "
            "when the result is in place, reads the decoded spool's file (before) and the raw "
            "audio the result's encoder was fed, written beside its pipe (after), at nice 10 "
            "beside the reply's picture; it is not waited for until the take is kept, after "
            "the reply. "
            "Job time = wall time of `correct_file`, the reply's pitch picture and (when kept) "
            "waiting for the copies and moving them into the store; the reply's upload to VK is "
            "left out (it only adds time for the copy to finish in). CPU = this process and its "
            "ffmpeg runs.",
            ""]  # fmt: skip
    OUT.write_text("\n".join(text))
    print("\n".join(text))


def _history_latency(store: TakeStore, folder: Path, take_id: str, root: Path) -> list[float]:
    """100 takes over 100 days (copies of the measured one), then /history's work, warm."""
    for i in range(99):
        copy = folder.parent / f"{take_id[:-4]}{i:04d}"
        shutil.copytree(folder, copy)
        rec = json.loads((copy / "take.json").read_text())
        rec.update(take_id=copy.name, created_at=time.time() - (i + 1) * 86400)
        (copy / "take.json").write_text(json.dumps(rec))
    assert len(store.summaries(7)) == 100  # the index rebuilt from the copies, once
    lat = []
    for i in range(31):
        t0 = time.perf_counter()
        text, chart = history_answer(store, 7, "Кузнечик", "ru", root / "p.png")
        elapsed = time.perf_counter() - t0
        assert chart is not None and "60" in text  # the chart shows the latest 60
        if i:  # the first call warms matplotlib's font and date caches
            lat.append(elapsed)
    return sorted(lat)


PAIRS = 24  # interleaved jobs with and without listening copies (the host is shared)


def _looped_sample(root: Path) -> Path:
    from core.media.probe import ffmpeg_exe

    src = root / "clip60.mp4"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1",
                    "-i", str(SAMPLE), "-t", "60", "-c", "copy", str(src)], check=True)  # fmt: skip
    return src


def _phone_clip(root: Path) -> Path:
    from bench.retune import make_long_clip

    src = root / "clip720p.mp4"
    make_long_clip(src, 60.0, root)
    return src


def _keep_rows(clip: str, job: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (f"a real job, {clip}: correct_file and the reply's picture, median wall / CPU",
         f"{job['job_s']:.2f} s / {job['cpu_s']:.2f} s", "-"),
        (f"keeping its take, same clip: listening copies written from the job's own audio, "
         f"waited for and moved into the store (median of {PAIRS} paired differences; "
         "middle half of them in brackets)",
         f"{job['keep_s']:+.3f} s = {100 * job['keep_s'] / job['job_s']:+.1f}% of the job's "
         f"time [{100 * job['keep_q'][0] / job['job_s']:.1f}%, "
         f"{100 * job['keep_q'][1] / job['job_s']:.1f}%] (waiting and storing: "
         f"{job['put_s'] * 1000:.0f} ms); "
         f"CPU {job['keep_cpu_s']:+.2f} s = {100 * job['keep_cpu_s'] / job['cpu_s']:+.1f}%",
         "<= 5% of a job"),
        ("the same take encoded after the job instead (one ffmpeg, two inputs)",
         f"+{job['fallback_s']:.2f} s = {100 * job['fallback_s'] / job['job_s']:.0f}%", "-"),
    ]  # fmt: skip


def _job_and_keep(root: Path, src: Path) -> dict[str, Any]:
    """Real jobs on a 60 s clip, with and without keeping the take, in interleaved pairs;
    and (for comparison) the fallback that encodes the job's input and result again.

    A job here is the worker's own work for one clip: ``correct_file``, the reply's pitch
    picture, then (when kept) waiting for the listening copies and moving them into the
    store. The reply's upload to VK is left out: it only gives the copies, which run from
    the moment the result is in place, more time to finish before anything waits for it.
    """
    from bot.history.take import take_record
    from core.media.listening import ListeningCopies
    from core.pipeline import CorrectOptions, correct_file
    from models.checkpoint import load_tracker
    from tests.history_factory import make_store as store_at

    dst = root / f"out-{src.name}"
    tracker = load_tracker("default", "cpu")
    correct_file(SAMPLE, root / "warm.mp4", CorrectOptions(), tracker=tracker)  # warm-up
    store = store_at(root / f"job-h-{src.stem}")
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    put_s: list[float] = []
    take_id, reserved, link_ms, record = "", "", 0.0, {}
    for i in range(2 * PAIRS):
        keeping = bool(i % 2) != bool(i // 2 % 2)  # ABBA order: drift cancels
        copies = ListeningCopies(before=root / f"b{i}.ogg", after=root / f"a{i}.ogg")
        c0, t0 = sum(os.times()[:4]), time.perf_counter()
        report = correct_file(src, dst, CorrectOptions(), tracker=tracker,
                              listening=copies if keeping else None)  # fmt: skip
        report.plot(root / "pitch.png", "ru")  # the reply's picture, as the worker draws it
        if keeping:
            record = take_record(report, take_id="b" * 22, job_id=f"501_{i}", user_id=501,
                                 created_at=time.time(), file_title="clip60.mp4",
                                 kind="doc")  # fmt: skip
            t1 = time.perf_counter()
            reserved = (
                store.reserve(501, f"501_{i}", record["created_at"]) or ""
            )  # the reply's link
            link_ms = (time.perf_counter() - t1) * 1000
            t1 = time.perf_counter()
            assert copies.finish()
            take_id = store.put(record, copies.before, copies.after, encoded=True) or ""
            put_s.append(time.perf_counter() - t1)
            assert take_id == reserved
        wall[keeping].append(time.perf_counter() - t0)
        cpu[keeping].append(sum(os.times()[:4]) - c0)  # this process and its ffmpeg runs
    folder = store.root / "users" / "501" / "takes" / take_id
    stored = sum(f.stat().st_size for f in folder.iterdir())
    fallback = store_at(root / f"fallback-h-{src.stem}")
    t0 = time.perf_counter()
    fallback.put({**record, "job_id": "501_x"}, src, dst)
    fallback_s = time.perf_counter() - t0
    # Each pair ran back to back (ABBA order), so a pair's difference is free of the shared
    # host's slow drifts, which move single job times by more than keeping costs.
    diffs = [a - b for a, b in zip(wall[True], wall[False], strict=True)]
    cpu_diffs = [a - b for a, b in zip(cpu[True], cpu[False], strict=True)]
    quartiles = statistics.quantiles(diffs, n=4)
    return {"job_s": statistics.median(wall[False]), "keep_s": statistics.median(diffs),
            "keep_q": (quartiles[0], quartiles[2]), "put_s": statistics.median(put_s),
            "cpu_s": statistics.median(cpu[False]), "keep_cpu_s": statistics.median(cpu_diffs),
            "fallback_s": fallback_s, "link_ms": link_ms, "stored": stored}  # fmt: skip


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
