"""Listening copies: the take's sound before and after, written by the job's own ffmpeg runs
(core.media.listening), kept by the history without a second encode."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import imageio_ffmpeg
import numpy as np
import numpy.typing as npt
import pytest

from bot.history.keep import keep_take, listening_copies
from core.errors import Silent
from core.media.listening import COPIES_NICENESS, ListeningCopies
from core.pipeline import CorrectOptions, correct_file
from tests.history_factory import make_store
from tests.media_factory import ClipSpec, make_clip

if TYPE_CHECKING:
    from collections.abc import Callable

    from models.network import Tracker

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "sample.mp4"


@pytest.fixture(scope="module")
def tracker() -> Tracker:
    from models.checkpoint import load_tracker

    return load_tracker("default", "cpu")


def mono_48k(path: Path) -> npt.NDArray[np.float32]:
    raw = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0",
         "-ac", "1", "-ar", "48000", "-f", "f32le", "-"],
        capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<f4")


def likeness(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Normalised correlation at lag 0 over the common length."""
    n = min(len(a), len(b))
    x, y = a[:n].astype(np.float64), b[:n].astype(np.float64)
    return float(x @ y / np.sqrt((x @ x) * (y @ y)))


def opus_header(path: Path) -> str:
    return subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path)],
                          capture_output=True, text=True, timeout=60).stderr  # fmt: skip


def test_a_job_writes_its_sound_before_and_after_as_opus(tmp_path: Path, tracker: Tracker) -> None:
    copies = ListeningCopies(before=tmp_path / "b.ogg", after=tmp_path / "a.ogg")
    report = correct_file(SAMPLE, tmp_path / "out.mp4", CorrectOptions(), tracker=tracker,
                          listening=copies)  # fmt: skip
    assert report.notes
    assert copies.finish()  # "before" may still be encoding when the job returns
    original, result = mono_48k(SAMPLE), mono_48k(tmp_path / "out.mp4")
    before, after = mono_48k(copies.before), mono_48k(copies.after)
    for path in (copies.before, copies.after):
        assert "Audio: opus, 48000 Hz, mono" in opus_header(path)
    # Same length as the clip (Opus trims its own pre-skip), to within one 20 ms frame.
    assert abs(len(before) - len(original)) < 960 and abs(len(after) - len(result)) < 960
    # Each copy is its own side: "before" is the learner's sound, "after" the corrected one.
    assert likeness(before, original) > 0.9 and likeness(after, result) > 0.9
    assert likeness(before, original) > likeness(before, result) + 0.02
    assert likeness(after, result) > likeness(after, original) + 0.02
    # ~48 kbit/s: a few KB a second, not PCM.
    seconds = len(original) / 48000
    assert copies.before.stat().st_size < 8000 * seconds


def test_a_refused_clip_leaves_no_listening_copies(tmp_path: Path, tracker: Tracker) -> None:
    clip = make_clip(ClipSpec("silent", silent=True, duration_s=2.0), tmp_path / "in.mp4")
    out = tmp_path / "out"
    out.mkdir()
    copies = ListeningCopies(before=out / "b.ogg", after=out / "a.ogg")
    with pytest.raises(Silent):
        correct_file(clip, out / "r.mp4", CorrectOptions(), tracker=tracker, listening=copies)
    assert list(out.iterdir()) == []


def test_the_history_keeps_the_jobs_copies_without_encoding_again(tmp_path: Path) -> None:
    from tests.history_factory import make_report

    store = make_store(tmp_path / "h")
    work = tmp_path / "work"
    work.mkdir()
    copies = listening_copies(store, work)
    assert copies is not None
    copies.before.write_bytes(b"OggS before")  # not decodable: an encode would fail on it
    copies.after.write_bytes(b"OggS after")

    class Job:
        job_id, from_id, created_at, doc_title, kind = "5_1", 5, time.time(), "take.mp4", "doc"

    missing = work / "gone.mp4"  # the fallback's sources: absent, so only the copies can serve
    take_id = keep_take(store, Job(), make_report(), missing, missing, copies)
    assert take_id is not None
    before, after = store.audio_path(5, take_id, "before"), store.audio_path(5, take_id, "after")
    assert before is not None and before.read_bytes() == b"OggS before"
    assert after is not None and after.read_bytes() == b"OggS after"
    assert list(work.iterdir()) == []  # moved in, not copied


def test_no_history_means_no_copies(tmp_path: Path) -> None:
    assert listening_copies(None, tmp_path) is None
    assert listening_copies(make_store(tmp_path / "h", days=0), tmp_path) is None


def test_a_failed_copy_does_not_fail_the_correction(tmp_path: Path, tracker: Tracker) -> None:
    """The copies' ffmpeg cannot write "before" (its folder does not exist): the learner still
    gets the corrected clip, and no copy is left for the history, which encodes the take
    after the job instead."""
    copies = ListeningCopies(before=tmp_path / "missing" / "b.ogg", after=tmp_path / "a.ogg")
    report = correct_file(SAMPLE, tmp_path / "out.mp4", CorrectOptions(), tracker=tracker,
                          listening=copies)  # fmt: skip
    assert report.notes and (tmp_path / "out.mp4").stat().st_size > 0
    assert not copies.finish()
    assert not copies.before.exists() and not copies.after.exists()
    assert "b.ogg" in copies.failure  # ffmpeg's own words, for the operator's log


def test_a_job_that_keeps_no_take_stops_its_copy_and_leaves_nothing(
    tmp_path: Path, tracker: Tracker
) -> None:
    """The reply failed or the job was cancelled after the correction: the copies' encode,
    perhaps still running, is stopped and neither copy is left in the work dir."""
    out = tmp_path / "work"
    out.mkdir()
    copies = ListeningCopies(before=out / "b.ogg", after=out / "a.ogg")
    correct_file(SAMPLE, tmp_path / "out.mp4", CorrectOptions(), tracker=tracker,
                 listening=copies)  # fmt: skip
    encoding = copies._encoding
    assert encoding is not None  # started by the job, not waited for
    copies.remove()
    assert encoding.returncode is not None  # reaped: no ffmpeg outlives the job
    assert list(out.iterdir()) == []


@pytest.mark.skipif(shutil.which("nice") is None, reason="no nice(1) on this machine")
def test_the_copies_yield_the_cores_to_the_job(tmp_path: Path, tracker: Tracker) -> None:
    """They run beside the reply's picture: at a lower priority, so the learner does not
    wait for them. The live process's priority is not read: until nice(1) has exec'd ffmpeg
    it is still the job's, so the run's own launcher is checked on a command that reports it."""
    copies = ListeningCopies(before=tmp_path / "b.ogg", after=tmp_path / "a.ogg")
    correct_file(SAMPLE, tmp_path / "out.mp4", CorrectOptions(), tracker=tracker,
                 listening=copies)  # fmt: skip
    encoding = copies._encoding
    assert encoding is not None
    args = [str(a) for a in encoding.args]  # type: ignore[union-attr]
    launcher = args[: args.index(imageio_ffmpeg.get_ffmpeg_exe())]
    assert launcher  # ffmpeg is not started directly
    reported = subprocess.run([*launcher, "nice"], capture_output=True, text=True, timeout=10)
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert int(reported.stdout) == min(19, ours + COPIES_NICENESS)
    assert copies.finish()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full to fill")
def test_a_full_disk_under_the_after_copy_does_not_fail_the_correction(
    tmp_path: Path, tracker: Tracker
) -> None:
    """The corrected audio for "after" cannot be written (ENOSPC): the learner still gets
    the result, no copy is kept, and the operator's log can say why."""

    class FullDisk(ListeningCopies):
        def after_feed(self, directory: Path) -> Callable[[bytes], None]:
            feed = super().after_feed(directory)
            assert self._after_pcm is not None
            self._after_pcm.close()
            self._after_pcm = open("/dev/full", "wb", buffering=0)  # noqa: SIM115
            return feed

    copies = FullDisk(before=tmp_path / "b.ogg", after=tmp_path / "a.ogg")
    report = correct_file(SAMPLE, tmp_path / "out.mp4", CorrectOptions(), tracker=tracker,
                          listening=copies)  # fmt: skip
    assert report.notes and (tmp_path / "out.mp4").stat().st_size > 0
    assert not copies.finish()
    assert "No space" in copies.failure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
