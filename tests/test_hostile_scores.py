"""Issue 26: score files and typed tunes built to stall or swell their reader end in seconds,
within 1.5 GB, with the refusal a learner understands (the CLI's and the worker's path, and
the bot's child reader of core.score.guard)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import hostile_scores as hs
import pytest

from bench.score_load import honest_musicxml
from core.errors import ScoreError, ScoreFileTooLarge, ScoreUnknown
from core.score.files import NoSuchTrack, read_score_voices
from core.score.guard import ScoreReaderPool
from core.score.load import load_score
from core.score.model import Meter, bars_and_beats

REPO = Path(__file__).resolve().parents[1]
LIMIT_S = 20.0
LIMIT_BYTES = 1536 * 2**20  # the whole reading process, address space and all

_READ = """
import json, resource, sys, time
from core.score.load import load_score
from core.errors import ScoreError
start = time.perf_counter()
try:
    load_score(sys.argv[1] if sys.argv[2] == "text" else __import__("pathlib").Path(sys.argv[1]))
    outcome = "read"
except ScoreError as exc:
    outcome = exc.code
except BaseException as exc:
    outcome = type(exc).__name__
print(json.dumps({"outcome": outcome, "s": time.perf_counter() - start,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def _read_bounded(spec: str, kind: str = "file") -> dict[str, object]:
    """``load_score`` in a fresh process under 1.5 GB of address space and 20 s of wall
    clock, as ``smask correct --score`` would run it; what it ended with and its peak RSS."""
    proc = subprocess.run(
        [sys.executable, "-c", _READ, spec, kind],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=LIMIT_S,
        preexec_fn=_limit_memory,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert int(str(found["rss_kb"])) * 1024 < LIMIT_BYTES
    return found


HOSTILE_FILES: dict[str, tuple[Callable[[], bytes], str]] = {
    "1 beats 100000000": (hs.absurd_beats, "score_hostile"),
    "2 mxl of 990k empty bars": (hs.empty_measures, "score_file_too_large"),
    "2 honest 8000-bar tune": (hs.long_honest_tune, "score_file_too_large"),
    "3 midi of 125k time signatures": (hs.time_signature_flood, "score_file_too_large"),
    "9 midi event flood 8 MB": (hs.event_flood, "score_file_too_large"),
    "10 duration 1e20": (hs.huge_duration, "score_hostile"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_a_hostile_score_file_is_refused_within_bounds(case: str, tmp_path: Path) -> None:
    make, code = HOSTILE_FILES[case]
    path = tmp_path / "tune.bin"
    path.write_bytes(make())
    if case.startswith("3 "):
        assert path.stat().st_size < 2**20  # a doc the bot fetches and reads itself
    found = _read_bounded(str(path))
    assert found["outcome"] == code, found


def test_a_typed_tune_of_endless_sharps_is_a_note_name_error() -> None:
    found = _read_bounded("C D" + 150 * " диез", "text")
    assert found["outcome"] == "score_unknown"
    with pytest.raises(ScoreUnknown):
        load_score("до" + 3 * " диез")


def test_a_50_mb_score_is_refused_as_a_large_file_not_as_many_notes(tmp_path: Path) -> None:
    path = tmp_path / "big.mid"
    with path.open("wb") as f:
        f.write(hs.time_signature_flood(4096))
        f.truncate(50 * 2**20)  # sparse: nothing is written past the header
    with pytest.raises(ScoreFileTooLarge) as caught:
        load_score(path)
    assert caught.value.code == "score_file_too_large"


def test_bars_and_beats_is_not_walked_per_note() -> None:
    """125000 meters and 5000 notes: each note finds its meter by bisection (was minutes)."""
    meters = [Meter(float(k), 1, 4) for k in range(125_000)]
    start = time.perf_counter()
    got = bars_and_beats([k + 0.5 for k in range(5000)], meters)
    assert time.perf_counter() - start < 2.0
    assert got[:3] == [(1, 1.5), (2, 1.5), (3, 1.5)] and got[-1] == (5000, 1.5)
    # and it counts as before where meters change and a pickup leads in
    mixed = [Meter(0.0, 3, 4), Meter(7.0, 2, 4), Meter(7.0, 6, 8), Meter(16.0, 4, 4)]
    assert bars_and_beats([0.0, 1.0, 6.0, 7.0, 10.0, 16.0, 21.0], mixed, pickup_beats=1.0) == [
        (0, 3.0),
        (1, 1.0),
        (2, 3.0),
        (3, 1.0),
        (4, 1.0),
        (6, 1.0),
        (7, 2.0),
    ]


def test_the_bounds_let_a_long_honest_tune_through() -> None:
    found = read_score_voices(honest_musicxml(1000, notes_per_bar=4), "long.musicxml")
    assert len(found.score.notes) == 4000 and found.score.notes[-1].bar == 1000


# --- the bot's reader: a warm child under time and memory limits -----------------------------


def test_the_child_reads_what_the_process_reads_and_refuses_alike() -> None:
    pool = ScoreReaderPool()
    try:
        data = honest_musicxml(20)
        assert pool.read(data, "a.musicxml") == read_score_voices(data, "a.musicxml")
        with pytest.raises(ScoreError) as caught:
            pool.read(hs.absurd_beats(), "beats.musicxml")
        assert caught.value.code == "score_hostile"
        with pytest.raises(NoSuchTrack):
            pool.read(data, "a.musicxml", track=3)
    finally:
        pool.close()


def test_a_child_over_its_time_is_killed_and_replaced() -> None:
    pool = ScoreReaderPool(timeout_s=0.01)
    try:
        data = honest_musicxml(200)
        pool.warm_up()
        first = pool._all[0].proc
        with pytest.raises(ScoreFileTooLarge):
            pool.read(data, "slow.musicxml")
        assert first is not None and first.poll() is not None  # killed, not left running
        pool.timeout_s = 30.0
        assert len(pool.read(data, "slow.musicxml").score.notes) == 800
    finally:
        pool.close()


def test_a_child_out_of_memory_is_a_refusal_not_a_crash() -> None:
    """A child that cannot get the memory it needs dies; the caller hears "too large"."""
    pool = ScoreReaderPool(memory_bytes=64 * 2**20)  # not even enough to import music21
    try:
        with pytest.raises(ScoreFileTooLarge):
            pool.read(honest_musicxml(4), "a.musicxml")
    finally:
        pool.close()
