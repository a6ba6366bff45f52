"""The whole correction, clip to clip, with the real tracker, real weights and real ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from core.errors import Silent, Unpitched
from core.pipeline import STAGES, CorrectOptions, correct_audio, correct_file

if TYPE_CHECKING:
    from models.network import Tracker

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "sample.mp4"
WEIGHTS = REPO / "models" / "weights" / "default.pt"

needs_weights = pytest.mark.skipif(
    not WEIGHTS.exists(), reason=f"tracker weights not built yet ({WEIGHTS})"
)


@pytest.fixture(scope="module")
def tracker() -> Tracker:
    from models.checkpoint import load_tracker

    return load_tracker("default", "cpu")


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def video_packet_hashes(path: Path) -> list[str]:
    """One hash line per video packet, from a stream copy (no decoding, no re-encoding)."""
    proc = subprocess.run(
        [ffmpeg(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy",
         "-f", "framemd5", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln and not ln.startswith("#")]
    assert lines
    return lines


def test_options_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="mode"):
        CorrectOptions(mode="robot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strength"):
        CorrectOptions(strength=150.0)
    with pytest.raises(ValueError, match="scale"):
        CorrectOptions(key="D", scale="dorian_sharp11")
    with pytest.raises(ValueError, match="instrument"):
        CorrectOptions(instrument="kazoo")
    assert CorrectOptions(key="F#m").key == "F#m"


def test_silence_is_refused_before_any_tracking() -> None:
    with pytest.raises(Silent):
        correct_audio(np.zeros((2, 44100), np.float32), 44100, CorrectOptions())


@needs_weights
def test_noise_is_unpitched(tracker: Tracker) -> None:
    noise = np.random.default_rng(0).normal(0.0, 0.1, (1, 3 * 44100)).astype(np.float32)
    with pytest.raises(Unpitched):
        correct_audio(noise, 44100, CorrectOptions(), tracker=tracker)


@needs_weights
def test_sample_clip_end_to_end(tmp_path: Path, tracker: Tracker) -> None:
    from core.analysis.pitch import track_pitch
    from core.media.audio import to_mono
    from core.media.io import decode_audio
    from core.media.probe import probe
    from models.units import cents_off_nearest

    dst = tmp_path / "corrected.mp4"
    stages: list[tuple[str, float]] = []
    report = correct_file(
        SAMPLE, dst, CorrectOptions(), tracker=tracker, progress=lambda s, f: stages.append((s, f))
    )
    assert [s for s in STAGES if any(x[0] == s for x in stages)] == list(STAGES)
    assert all(0.0 <= f <= 1.0 for _, f in stages)

    # Picture: the same packets, bit for bit. Sound: same duration within one AAC frame.
    assert video_packet_hashes(dst) == video_packet_hashes(SAMPLE)
    info_in, info_out = probe(SAMPLE), probe(dst)
    audio_in, audio_out = decode_audio(SAMPLE, info_in), decode_audio(dst, info_out)
    assert abs(audio_out.shape[1] - audio_in.shape[1]) <= 1024

    # The report: notes found, the sour ones moved, the result measured in tune.
    assert len(report.notes) >= 10
    assert report.mean_abs_cents_before > 10.0
    assert report.mean_abs_cents_after < 3.0
    assert sum(abs(n.cents_before) > 20 for n in report.notes) >= 5

    # An independent look: the tracker on the decoded output, note by note.
    track = track_pitch(to_mono(audio_out), info_out.sample_rate, tracker=tracker)
    for note in report.notes:
        if note.end_s - note.start_s < 0.3:
            continue
        a, b = round(note.start_s / 0.01) + 8, round(note.end_s / 0.01) - 8
        f0 = track.f0_hz[a:b]
        off = np.nanmedian(cents_off_nearest(f0[np.isfinite(f0)]))
        assert abs(off) < 5.0, (note, off)


@needs_weights
def test_natural_and_hard_and_strength(tracker: Tracker) -> None:
    from core.media.io import decode_audio
    from core.media.probe import probe

    audio = decode_audio(SAMPLE, probe(SAMPLE))
    sr = probe(SAMPLE).sample_rate
    _, natural = correct_audio(audio, sr, CorrectOptions(), tracker=tracker)
    _, half = correct_audio(audio, sr, CorrectOptions(strength=50.0), tracker=tracker)
    _, hard = correct_audio(audio, sr, CorrectOptions(mode="hard"), tracker=tracker)
    assert half.mean_abs_cents_after == pytest.approx(natural.mean_abs_cents_before / 2, rel=0.25)
    assert hard.mean_abs_cents_after < 3.0
    assert natural.key_detected and natural.key == "D major"
    _, named = correct_audio(audio, sr, CorrectOptions(key="D"), tracker=tracker)
    assert named.key == "D major" and not named.key_detected


@needs_weights
def test_real_stereo_portrait_mov(tmp_path: Path, tracker: Tracker, shared_dir: Path) -> None:
    """A phone-style MOV: stereo 48 kHz, portrait, rotation; picture and length untouched."""
    from core.media.io import decode_audio
    from core.media.probe import probe

    src = shared_dir / "eval" / "kids_tree_portrait.mov"
    dst = tmp_path / "kids.mov"
    report = correct_file(src, dst, CorrectOptions(), tracker=tracker)
    assert video_packet_hashes(dst) == video_packet_hashes(src)
    info_in, info_out = probe(src), probe(dst)
    assert info_out.container == "mov" and info_out.audio is not None
    assert info_out.audio.channels == 2 and info_out.sample_rate == info_in.sample_rate
    assert info_out.video is not None and info_in.video is not None
    assert info_out.video.rotation == info_in.video.rotation
    samples_in = decode_audio(src, info_in).shape[1]
    assert abs(decode_audio(dst, info_out).shape[1] - samples_in) <= 1024
    assert report.notes and report.mean_abs_cents_after <= report.mean_abs_cents_before
