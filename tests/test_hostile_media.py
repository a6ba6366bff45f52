"""Issue 26's hostile media, each made here by the real ffmpeg and sent through ``smask``.

Every hostile file must end, for the whole process tree, within ``LIMIT_S`` seconds and
``LIMIT_BYTES`` of memory, with a clear refusal or a correct result. The tree's peak is read
from ``RUSAGE_CHILDREN`` in a fresh Python that only runs the command, so nothing an earlier
test ran is counted. Also here: the run's own leftovers (a SIGTERM, a full disk, a file name
that is not UTF-8).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest
from media_factory import (
    claim_flac_rate,
    decoded_samples,
    make_audio,
    make_many_streams,
    tone_expression,
)

from core.errors import TooManyStreams
from core.limits import MediaLimits
from core.media.io import decode_audio
from core.media.probe import demuxer_args, probe
from core.report import ScoreReport

ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 20.0
LIMIT_BYTES = 1.5e9
# "Mary had a little lamb", E D C D E E E: the take and its tune.
MELODY = [(329.63, 0.5), (293.66, 0.5), (261.63, 0.5), (293.66, 0.5), (329.63, 0.5),
          (329.63, 0.5), (329.63, 1.0)]  # fmt: skip

_MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
try:
    proc = subprocess.run(sys.argv[2:], capture_output=True, text=True,
                          timeout=float(sys.argv[1]))
    code, err = proc.returncode, proc.stderr
except subprocess.TimeoutExpired as exc:
    code, err = "timeout", (exc.stderr or b"").decode("utf-8", "replace")
wall = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps([code, wall, peak]))
print(err, file=sys.stderr)
"""


def smask_bounded(*args: str) -> tuple[int | str, str, float, int]:
    """Run ``smask args`` under the issue's bounds: (exit code, stderr, wall s, peak bytes).

    A run past ``LIMIT_S`` is killed and reported as "timeout" (the kill is a bound too)."""
    command = [sys.executable, "-m", "smask", *args]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(LIMIT_S), *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=LIMIT_S + 30,
        check=True,
    )
    code, wall_s, peak = json.loads(done.stdout.strip().splitlines()[-1])
    return code, done.stderr, wall_s, peak


def assert_within_bounds(wall_s: float, peak: int) -> None:
    assert wall_s <= LIMIT_S, f"took {wall_s:.1f} s"
    assert peak <= LIMIT_BYTES, f"the process tree reached {peak / 1e9:.2f} GB"


def _take(path: Path, fmt: str = "wav_s16") -> Path:
    return make_audio(path, fmt, expression=tone_expression(MELODY), duration_s=4.0)


# --------------------------------------------------------------------------------------------
# #7: 999 audio streams
# --------------------------------------------------------------------------------------------


def test_an_m4a_with_999_streams_is_refused_quickly_and_cheaply(tmp_path: Path) -> None:
    many = make_many_streams(tmp_path / "many.m4a", 999)
    out = tmp_path / "out"
    out.mkdir()
    code, stderr, wall_s, peak = smask_bounded("correct", str(many), "-o", str(out / "f.m4a"))
    assert code == 3, stderr
    assert "[too_many_streams]" in stderr
    assert list(out.iterdir()) == []
    assert_within_bounds(wall_s, peak)


def test_the_stream_limit_is_the_operators_and_reaches_every_ffmpeg_run(tmp_path: Path) -> None:
    """40 streams: refused by default (32), taken under SMASK_MAX_STREAMS=64, and the decode
    then opens all 40 (it passes the probe's count as -max_streams, not the default)."""
    forty = make_many_streams(tmp_path / "forty.m4a", 40)
    with pytest.raises(TooManyStreams) as caught:
        probe(forty)
    assert caught.value.facts["max_streams"] == 32
    assert "-max_streams" in demuxer_args("m4a") and "-max_streams" in demuxer_args("flac")

    limits = MediaLimits.from_env({"SMASK_MAX_STREAMS": "64"})
    info = probe(forty, limits=limits)
    assert len(info.streams) == 40
    audio = decode_audio(forty, info)
    assert audio.shape[1] == pytest.approx(2.0 * info.sample_rate, rel=0.05)


# --------------------------------------------------------------------------------------------
# #8: a FLAC whose header claims another rate than its frames
# --------------------------------------------------------------------------------------------


def test_a_flac_claiming_96_khz_over_44_1_khz_frames_comes_back_unsqueezed(
    tmp_path: Path,
) -> None:
    honest = _take(tmp_path / "honest.flac", "flac_16")
    lying = claim_flac_rate(honest, tmp_path / "lying.flac", 96000)
    samples_in, rate_in = decoded_samples(lying)
    assert (samples_in, rate_in) == (176400, 44100)  # the frames' truth, 4 s at 44.1 kHz

    info = probe(lying)
    assert info.audio is not None and info.audio.retimed
    assert info.sample_rate == 44100
    assert info.duration_s == pytest.approx(4.0, abs=0.1)

    out = tmp_path / "fixed.flac"
    code, stderr, wall_s, peak = smask_bounded("correct", str(lying), "-o", str(out), "-q")
    assert code == 0, stderr
    assert decoded_samples(out) == (samples_in, rate_in)
    assert_within_bounds(wall_s, peak)


@pytest.mark.parametrize(
    "fmt", ["ogg_opus", "ogg_vorbis", "mp3", "m4a", "wav_s16", "flac_16", "flac_24"]
)
def test_honest_recordings_keep_their_timestamps(tmp_path: Path, fmt: str) -> None:
    """The clock check must not fire on real files: their decode keeps the timeline padding."""
    info = probe(make_audio(tmp_path / "take", fmt, duration_s=2.0))
    assert info.audio is not None and not info.audio.retimed


# --------------------------------------------------------------------------------------------
# #11: a score file name that is not UTF-8, with --report
# --------------------------------------------------------------------------------------------


def _midi_tune(path: Path) -> Path:
    song = mido.MidiFile()
    track = mido.MidiTrack()
    song.tracks.append(track)
    for note, beats in [(64, 1), (62, 1), (60, 1), (62, 1), (64, 1), (64, 1), (64, 2)]:
        track.append(mido.Message("note_on", note=note, velocity=80, time=0))
        track.append(mido.Message("note_off", note=note, velocity=0, time=240 * beats))
    song.save(path)
    return path


@pytest.mark.skipif(sys.platform != "linux", reason="a name of raw bytes needs a POSIX fs")
def test_a_score_named_in_latin_1_still_gets_its_report(tmp_path: Path) -> None:
    take = _take(tmp_path / "take.wav")
    tune = _midi_tune(Path(os.fsdecode(os.fsencode(tmp_path) + b"/m\xe9lodie.mid")))
    report, out = tmp_path / "report.json", tmp_path / "fixed.wav"
    code, stderr, wall_s, peak = smask_bounded(
        "correct", str(take), "-o", str(out), "--score", str(tune), "--report", str(report), "-q"
    )
    assert code == 0, stderr
    assert out.is_file()
    written = json.loads(report.read_bytes().decode("utf-8"))  # strict UTF-8, whole JSON
    assert written["score"]["source"].endswith("m\\xe9lodie.mid")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    assert_within_bounds(wall_s, peak)


def test_a_score_report_spells_out_bytes_a_name_smuggled_in() -> None:
    report = ScoreReport(
        source="midi:" + os.fsdecode(b"t\xffne.mid"), title=os.fsdecode(b"\xc0"), notes=1,
        transposition_semitones=0, tempo_ratio=1.0, matched=1, wrong=0, missed=0, extra=0,
    )  # fmt: skip
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    assert text.encode("utf-8")  # no lone surrogate left to refuse
    assert report.source == "midi:t\\xffne.mid" and report.title == "\\xc0"


# --------------------------------------------------------------------------------------------
# Leftovers: SIGTERM, a full disk
# --------------------------------------------------------------------------------------------


def test_sigterm_mid_run_removes_the_unfinished_result(tmp_path: Path) -> None:
    take = _take(tmp_path / "take.wav")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "smask", "correct", str(take), "-o", str(out / "f.wav"), "-q"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob(".f.wav.*.part")):  # the encoder is open: mid-run
            assert proc.poll() is None, "the run ended before its result was started"
            assert time.monotonic() < deadline, "no .part file within 60 s"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        proc.kill()
    assert code == 143, proc.stderr.read().decode() if proc.stderr else ""
    assert list(out.iterdir()) == []


_FULL_DISK = """
set -u
mount -t tmpfs -o size="$1" none "$2" || exit 97
shift 2
"$@"
echo "exit=$?"
ls -A "$OUT_DIR"
"""


@pytest.mark.parametrize(
    ("size", "what_failed"),
    [("200k", "the decoded audio could not be spooled"), ("900k", "the result could not be")],
)
def test_a_full_disk_is_named_as_such(tmp_path: Path, size: str, what_failed: str) -> None:
    """A tmpfs too small for the decoded audio (200 kB) or for the result beside it (900
    kB), mounted in a user namespace so no privilege is needed."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    take = _take(tmp_path / "take.wav")
    small = tmp_path / "small"
    small.mkdir()
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", _FULL_DISK, "sh", size, str(small),
         sys.executable, "-m", "smask", "correct", str(take), "-o", str(small / "f.wav"), "-q"],
        cwd=ROOT, env={**os.environ, "OUT_DIR": str(small)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    if done.returncode == 97 or "exit=" not in done.stdout:
        pytest.skip(f"no tmpfs in a user namespace here: {done.stderr.strip()[-200:]}")
    assert "exit=4" in done.stdout, done.stderr
    assert f"no space left on device: {what_failed}" in done.stderr
    assert done.stdout.split("exit=4", 1)[1].split() == []  # nothing left on the small disk
