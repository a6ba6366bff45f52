"""The history's cheap paths (issue 25): the per-user index /history reads instead of every
report, the Opus settings that hold a take to ~48 kbit/s, and retention run by the worker's
sweeper as well as by the web process."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.history.index import INDEX_NAME
from bot.history.progress import history_answer
from bot.history.store import TakeStore
from bot.jobs import SqliteJobStore
from bot.worker import Sweeper
from tests.history_factory import make_report, make_store, make_take_audio, store_take

DAY = 86400.0
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "sample.mp4"


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_take_audio(tmp_path_factory.mktemp("audio"), make_report())


def _three_takes(store: TakeStore, audio: tuple[Path, Path]) -> list[str]:
    now = time.time()
    return [store_take(store, 7, make_report(cents=20 - 5 * i), audio,
                       created_at=now - (3 - i) * DAY) or "" for i in range(3)]  # fmt: skip


def test_history_reads_the_index_not_every_report(tmp_path: Path, audio: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "h")
    ids = _three_takes(store, audio)
    index = tmp_path / "h" / "users" / "7" / INDEX_NAME
    lines = [json.loads(line) for line in index.read_text().splitlines()]
    assert [e["take_id"] for e in lines] == ids
    assert lines[0]["summary"]["mean_cents_before"] == pytest.approx(20.0)
    for take_id in ids:  # the reports gone bad: the index alone still answers /history
        (tmp_path / "h" / "users" / "7" / "takes" / take_id / "take.json").write_text("{")
    text, chart = history_answer(store, 7, "Кузнечик", "ru", tmp_path / "p.png")
    assert "на 10 ц точнее" in text
    assert chart is not None and chart.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("damage", ["missing", "garbage", "stale", "torn"])
def test_a_missing_or_damaged_index_is_rebuilt_from_the_takes(
    tmp_path: Path, audio: tuple[Path, Path], damage: str
) -> None:
    store = make_store(tmp_path / "h")
    ids = _three_takes(store, audio)
    index = tmp_path / "h" / "users" / "7" / INDEX_NAME
    good = index.read_text()
    if damage == "missing":
        index.unlink()
    elif damage == "garbage":
        index.write_bytes(b"\x00\xff not json\n[1, 2]\n")
    elif damage == "stale":  # another host's write lost the newest take, kept a deleted one
        gone = json.loads(good.splitlines()[0]) | {"take_id": "x" * 22}
        index.write_text(json.dumps(gone) + "\n" + "\n".join(good.splitlines()[:2]) + "\n")
    else:
        index.write_text(good[: len(good) // 2])
    assert [e["take_id"] for e in store.summaries(7)] == ids
    assert index.read_text() == good
    assert [r["take_id"] for r in store.takes(7)] == ids


def test_retention_keeps_the_index_in_step(tmp_path: Path, audio: tuple[Path, Path]) -> None:
    store = make_store(tmp_path / "h", days=30)
    ids = _three_takes(store, audio)
    _set_back(tmp_path / "h", 7, ids[0], days=40)
    assert store.prune(7) == 1
    index = (tmp_path / "h" / "users" / "7" / INDEX_NAME).read_text()
    assert ids[0] not in index and ids[1] in index and ids[2] in index


def test_a_kept_take_is_opus_at_about_48_kbit_per_second(tmp_path: Path) -> None:
    """A real sung take (the sample clip): unconstrained VBR spent ~61 kbit/s on it."""
    store = make_store(tmp_path / "h")
    take_id = store_take(store, 7, make_report(), (SAMPLE, SAMPLE)) or ""
    seconds = 10.76  # the sample's length
    for side in ("before", "after"):
        path = store.audio_path(7, take_id, side)
        assert path is not None
        kbit_s = path.stat().st_size * 8 / 1000 / seconds
        assert 40 < kbit_s < 52, f"{side}: {kbit_s:.1f} kbit/s"


def _set_back(root: Path, user_id: int, take_id: str, *, days: float) -> None:
    """A take kept ``days`` ago: its report (the truth) and its index line both say so."""
    report = root / "users" / str(user_id) / "takes" / take_id / "take.json"
    record = json.loads(report.read_text())
    record["created_at"] = time.time() - days * DAY
    report.write_text(json.dumps(record))
    (root / "users" / str(user_id) / INDEX_NAME).unlink(missing_ok=True)  # rebuilt from them


def test_the_workers_sweeper_runs_the_history_retention(
    tmp_path: Path, audio: tuple[Path, Path]
) -> None:
    history = make_store(tmp_path / "h", days=30)
    old = store_take(history, 7, make_report(), audio) or ""
    new = store_take(history, 8, make_report(), audio) or ""
    _set_back(tmp_path / "h", 7, old, days=31)
    sweeper = Sweeper(SqliteJobStore(tmp_path / "jobs.db"), lambda _job_id: None,
                      interval_s=30.0, stale_queued_s=900.0, history=history)  # fmt: skip
    sweeper.sweep_once()
    assert not (tmp_path / "h" / "users" / "7" / "takes" / old).exists()
    assert history.summaries(7) == []
    assert [e["take_id"] for e in history.summaries(8)] == [new]
