"""The ``smask`` command as a user runs it: a real subprocess, exit codes, stdout and stderr."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from media_factory import ClipSpec, MediaFactory

ROOT = Path(__file__).resolve().parents[1]


def smask(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "smask", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd or ROOT,
        env=env,
    )


def test_help_lists_every_command() -> None:
    result = smask("--help")
    assert result.returncode == 0, result.stderr
    for command in ("probe", "pitch", "correct", "bot", "worker"):
        assert command in result.stdout


def test_correct_help_names_every_option() -> None:
    result = smask("correct", "--help")
    assert result.returncode == 0, result.stderr
    for flag in ("--key", "--scale", "--a4", "--mode", "--strength", "--deadband", "--instrument"):
        assert flag in result.stdout
    for flag in ("--report", "--plot", "--device"):
        assert flag in result.stdout


def test_probe_prints_the_clip_facts_as_json(media: MediaFactory) -> None:
    clip = media.clip(ClipSpec(name="cli_portrait", container="mov", rotation_cw=90))
    result = smask("probe", str(clip))
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["container"] == "mov"
    assert facts["video"]["rotation"] == 90
    assert facts["audio"]["sample_rate"] == 48000
    assert facts["audio"]["channels"] == 2
    assert facts["duration_s"] == pytest.approx(2.0, abs=0.1)


def test_a_bad_file_gets_one_clear_line_and_exit_code_3(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are my notes, not a video\n", encoding="utf-8")
    result = smask("probe", str(fake))
    assert result.returncode == 3
    assert "not an audio or video file" in result.stderr
    assert "Traceback" not in result.stderr


def test_correct_refuses_a_playlist_and_writes_nothing(tmp_path: Path) -> None:
    playlist = tmp_path / "clip.mp4"
    playlist.write_text("#EXTM3U\n#EXTINF:1,\n/etc/passwd\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    result = smask("correct", str(playlist), "-o", str(out / "fixed.mp4"))
    assert result.returncode == 3
    assert "[hostile]" in result.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--scale", "foo"], "unknown scale 'foo'"),
        (["--strength", "300"], "strength must be within 0..100"),
        (["--instrument", "kazoo"], "unknown instrument 'kazoo'"),
        (["--a4", "la"], "expected Hz such as 442, or auto"),
        (
            ["--weights", "fancy"],
            "--weights: no pitch model 'fancy': the shipped ones are auto, default, refiner",
        ),
    ],
)
def test_a_bad_option_gets_one_line_and_exit_code_2(
    tmp_path: Path, options: list[str], says: str
) -> None:
    result = smask("correct", "data/sample/sample.mp4", "-o", str(tmp_path / "o.mp4"), *options)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = smask("probe", str(tmp_path / "nowhere.mp4"))
    assert result.returncode == 2
    assert "no such file" in result.stderr and "nowhere.mp4" in result.stderr
    assert "Traceback" not in result.stderr


def test_correct_on_the_bundled_sample_writes_clip_report_and_picture(tmp_path: Path) -> None:
    out, report, plot = tmp_path / "fixed.mp4", tmp_path / "r.json", tmp_path / "p.png"
    result = smask(
        "correct", "data/sample/sample.mp4", "-o", str(out), "--report", str(report),
        "--plot", str(plot),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    facts = json.loads(report.read_text(encoding="utf-8"))
    assert facts["summary"]["mean_abs_cents_after"] < 5 < facts["summary"]["mean_abs_cents_before"]
    # The sample's two long notes carry a 15-cent vibrato (data/make_sample.py); the rest none.
    vibrato = sorted(n["vibrato_cents"] for n in facts["notes"])
    assert vibrato[-2] > 15.0 and vibrato[-3] < 12.0
    assert facts["summary"]["a4_hz"] == 440.0 and not facts["summary"]["a4_estimated"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000


def test_the_refiner_weights_correct_the_sample_too(tmp_path: Path) -> None:
    """--weights picks another shipped pitch model (the temporal refiner) for the same job."""
    out, report = tmp_path / "fixed.mp4", tmp_path / "r.json"
    result = smask(
        "correct", "data/sample/sample.mp4", "-o", str(out), "--report", str(report),
        "--weights", "refiner",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    facts = json.loads(report.read_text(encoding="utf-8"))
    assert facts["summary"]["mean_abs_cents_after"] < 5 < facts["summary"]["mean_abs_cents_before"]


def test_a_command_that_loaded_torch_exits_with_the_collector_frozen(tmp_path: Path) -> None:
    # The last collection over torch's objects cost a cold run 0.3-0.4 s; smask skips it by
    # freezing them, and what it wrote must still be complete.
    track = tmp_path / "track.csv"
    probe = (
        "import gc, sys\n"
        "from smask.cli import main\n"
        f"code = main(['pitch', 'data/sample/sample.mp4', '-o', {str(track)!r}])\n"
        "print(code, gc.get_freeze_count() > 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
        check=False, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "True"]
    lines = track.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "time_s,f0_hz,voiced_prob" and len(lines) > 100


def test_a4_auto_reads_the_reference_from_the_recording(tmp_path: Path) -> None:
    """The sample is rendered at A4 = 440 with notes detuned both ways: the estimate stays near."""
    out, report = tmp_path / "fixed.mp4", tmp_path / "r.json"
    result = smask(
        "correct", "data/sample/sample.mp4", "-o", str(out), "--report", str(report),
        "--a4", "auto", "--lang", "en", "-q",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    assert summary["a4_estimated"] and summary["a4_hz"] != 440.0
    assert abs(1200 * math.log2(summary["a4_hz"] / 440.0)) < 15.0
    assert "(estimated)" in result.stdout


def test_tunes_lists_the_songbook_in_either_language() -> None:
    english = smask("tunes", "--lang", "en")
    assert english.returncode == 0, english.stderr
    assert "twinkle" in english.stdout and "In the Field a Birch Tree Stood" in english.stdout
    assert "bb-major-scale" in english.stdout and "B-flat major scale" in english.stdout
    env_ru = {**os.environ, "PYTHONPATH": str(ROOT), "SMASK_LANGUAGE": "ru"}
    russian = subprocess.run(
        [sys.executable, "-m", "smask", "tunes"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env_ru,
    )
    assert russian.returncode == 0, russian.stderr
    assert "Во поле берёза стояла" in russian.stdout and "Гамма до мажор" in russian.stdout


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--score", "E4 X4 C4"], "[score_unknown]"),
        (["--score", "no/such/tune.mid"], "[score_unknown]"),
        (["--score", "README.rst"], "[score_unreadable]"),
        (["--score", "twinkle", "--score-track", "2"], "--score-track"),
        (["--score-track", "1"], "--score-track needs --score"),
        (["--fix-wrong-notes"], "--fix-wrong-notes needs --score"),
        (["--transpose", "-2"], "--transpose needs --score"),
        (["--score", "twinkle", "--transpose", "60"], "transpose must be whole semitones"),
    ],
)
def test_a_bad_score_option_gets_one_line_and_exit_code_2(
    tmp_path: Path, options: list[str], says: str
) -> None:
    result = smask("correct", "data/sample/sample.mp4", "-o", str(tmp_path / "o.mp4"), *options)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
