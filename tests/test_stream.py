"""The streamed pipeline gives the whole-clip pipeline's numbers, sample for sample.

Every stage that now reads a clip a few seconds at a time (decode into a spool, tracker, the
per-frame measures, the shifter, the encoder feed) is compared here with the whole-clip
function it replaces, on audio whose notes straddle the chunk and block boundaries.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from core.analysis.measures import Envelope, FrameF0, LoudestWindow
from core.media.audio import peak_window_dbfs, to_mono
from core.media.spool import ArraySource, PcmSpool
from core.plan.segment import frame_envelope_db

if TYPE_CHECKING:
    from core.analysis.pitch import PitchTrack
    from models.network import Tracker

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "sample.mp4"
SR = 48000


def melody(seconds: float = 9.0, *, stereo_differs: bool = True) -> np.ndarray:
    """Harmonic notes with vibrato, 0.45-0.8 s long, a breath now and then; stereo."""
    rng = np.random.default_rng(11)
    n = int(seconds * SR)
    f = np.zeros(n)
    t = 0.2
    while t < seconds - 0.5:
        d = float(rng.uniform(0.45, 0.8))
        a, b = int(t * SR), int(min(seconds, t + d) * SR)
        midi = 69 + int(rng.integers(-7, 8)) + float(rng.uniform(-0.4, 0.4))
        f[a:b] = 440.0 * 2 ** ((midi - 69) / 12)
        t += d + (0.15 if rng.random() < 0.2 else 0.0)
    vib = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * np.arange(n) / SR)
    phase = 2 * np.pi * np.cumsum(f * vib) / SR
    tone = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6)) * (f > 0)
    noise = 0.003 * rng.standard_normal((2, n))
    right = 0.8 * tone if stereo_differs else tone
    return (np.stack([tone, right]) + (noise if stereo_differs else noise[:1])).astype(np.float32)


def fill_slowly(audio: np.ndarray, piece: int = 7777, rate: int = SR) -> PcmSpool:
    """A spool written by a thread in odd-sized pieces, as ffmpeg's pipe delivers them."""
    spool = PcmSpool(audio.shape[0], rate)
    data = np.ascontiguousarray(audio.T).astype("<f4").tobytes()

    def write() -> None:
        for i in range(0, len(data), piece):
            spool.append(data[i : i + piece])
        spool.finish()

    threading.Thread(target=write, daemon=True).start()
    return spool


@pytest.fixture(scope="module")
def tracker() -> Tracker:
    from models.checkpoint import load_tracker

    return load_tracker("default", "cpu")


def test_spool_reads_back_what_was_written_with_zeros_outside() -> None:
    audio = melody(1.0)
    with fill_slowly(audio, piece=1001) as spool:
        assert spool.length == audio.shape[1]
        assert np.array_equal(spool.read(100, 5000), audio[:, 100:5000])
        edge = spool.read(-10, 20)
        assert np.array_equal(edge[:, :10], np.zeros((2, 10))) and np.array_equal(
            edge[:, 10:], audio[:, :20]
        )
        tail = spool.read(audio.shape[1] - 5, audio.shape[1] + 5)
        assert np.array_equal(tail[:, 5:], np.zeros((2, 5)))


def test_a_failed_decode_reaches_every_reader() -> None:
    spool = PcmSpool(1, SR)
    spool.append(np.zeros(100, "<f4").tobytes())
    spool.finish(ValueError("broken stream"))
    with pytest.raises(ValueError, match="broken stream"):
        spool.read(0, 10_000)
    spool.close()
    with pytest.raises(ValueError, match="closed"):
        spool.append(np.zeros(4, "<f4").tobytes())  # a decoder still running stops


def test_streamed_tracker_is_the_one_shot_tracker(tracker: Tracker) -> None:
    from core.analysis.pitch import track_pitch, track_source

    audio = melody()
    whole = track_pitch(to_mono(audio), SR, tracker=tracker, chunk_frames=100_000)
    with fill_slowly(audio) as spool:
        streamed = track_source(spool, tracker=tracker, chunk_frames=137)
    # The resampled audio and the refinement are bit for bit; the network's batched
    # convolutions may round differently for another number of frames (1e-6 of a probability).
    same_as_whole(streamed, whole)
    # 44.1 kHz: the resampler's period is 441 samples, not 3.
    rate = 44100
    mono = to_mono(melody(4.0))[: 4 * rate]
    whole = track_pitch(mono, rate, tracker=tracker, chunk_frames=100_000)
    same_as_whole(track_pitch(mono, rate, tracker=tracker, chunk_frames=91), whole)


def same_as_whole(parts: PitchTrack, whole: PitchTrack) -> None:
    assert np.array_equal(np.isnan(parts.f0_hz), np.isnan(whole.f0_hz))
    # The shipped tracker has no temporal refiner: chunks match to rounding of the refinement
    # (tests/test_refiner.py holds a tracker with one to 1e-7).
    np.testing.assert_allclose(parts.f0_hz, whole.f0_hz, rtol=1e-9)
    np.testing.assert_allclose(parts.voiced_prob, whole.voiced_prob, rtol=0, atol=1e-5)


def test_block_measures_are_the_whole_clip_measures(tracker: Tracker) -> None:
    from core.analysis.phase import frame_f0_hz
    from core.analysis.pitch import track_pitch

    mono = to_mono(melody())
    track = track_pitch(mono, SR, tracker=tracker)
    loud, env = LoudestWindow(SR), Envelope(SR, track.hop_s)
    refined = FrameF0(track.f0_hz, SR, track.hop_s, len(mono))
    for start in range(0, len(mono), 12_345):  # neither a window, a hop nor a frame apart
        block = mono[start : start + 12_345]
        loud.push(block)
        env.push(block)
        refined.push(block)
    assert loud.dbfs() == peak_window_dbfs(mono, SR)
    assert np.array_equal(env.db(len(track)), frame_envelope_db(mono, SR, track.hop_s, len(track)))
    assert np.array_equal(
        refined.result(), frame_f0_hz(mono, SR, track.f0_hz, track.hop_s), equal_nan=True
    )


def _shift_curve(n_frames: int) -> np.ndarray:
    """Regions: from frame 0, two only 1.5 frames apart (their fades overlap), one to the end."""
    curve = np.zeros(n_frames)
    curve[0:80] = 30.0
    curve[150:300] = -25.0
    curve[302:420] = 40.0  # 20 ms after the last: the crossfades overlap
    curve[500:650] = np.linspace(-10, 35, 150)
    curve[820:] = -45.0
    return curve


@pytest.mark.parametrize("stereo_differs", [True, False])
def test_streamed_shift_is_the_whole_clip_shift(tracker: Tracker, stereo_differs: bool) -> None:
    from core.analysis.pitch import track_pitch
    from core.retune.psola import shift_pitch, shift_source

    audio = melody(stereo_differs=stereo_differs)
    if not stereo_differs:
        audio = np.repeat(audio[:1], 2, axis=0)
    track = track_pitch(to_mono(audio), SR, tracker=tracker)
    curve = _shift_curve(len(track))
    whole = shift_pitch(audio, SR, track.f0_hz, curve, track.hop_s)
    source = ArraySource(audio, SR)
    pieces: list[np.ndarray] = []
    shift_source(source, track.f0_hz, curve, track.hop_s, write=pieces.append,
                 copy=lambda a, b: pieces.append(source.read(a, b)))  # fmt: skip
    streamed = np.concatenate(pieces, axis=1)
    assert streamed.shape == whole.shape
    assert np.array_equal(streamed, whole)
    assert not np.array_equal(streamed, audio)  # something did move


def test_regions_longer_than_the_cap_are_cut_and_keep_their_interval(tracker: Tracker) -> None:
    from core.analysis.phase import frame_f0_hz
    from core.analysis.pitch import track_pitch
    from core.retune.psola import shift_source

    n = 6 * SR
    t = np.arange(n) / SR
    phase = 2 * np.pi * 330.0 * t + 0.5 * np.sin(2 * np.pi * 5.0 * t)
    audio = (sum(0.3 / k * np.sin(k * phase) for k in range(1, 5)))[None].astype(np.float32)
    track = track_pitch(audio[0], SR, tracker=tracker)
    curve = np.where(np.isfinite(track.f0_hz), 30.0, 0.0)
    source = ArraySource(audio, SR)
    pieces: list[np.ndarray] = []
    writes: list[int] = []

    def write(block: np.ndarray) -> None:
        writes.append(block.shape[1])
        pieces.append(block)

    shift_source(source, track.f0_hz, curve, track.hop_s, write=write,
                 copy=lambda a, b: pieces.append(source.read(a, b)), max_region_s=1.5)  # fmt: skip
    out = np.concatenate(pieces, axis=1)
    assert out.shape == audio.shape
    assert len(writes) >= 4 and max(writes) <= 1.6 * SR  # cut: no region held whole
    before = frame_f0_hz(audio[0], SR, track.f0_hz, track.hop_s)
    after = frame_f0_hz(out[0], SR, track.f0_hz * 2 ** (30 / 1200), track.hop_s)
    moved = 1200 * np.log2(after / before)[50:-50]
    moved = moved[np.isfinite(moved)]
    assert abs(float(np.median(moved)) - 30.0) < 0.5
    assert float(np.percentile(np.abs(moved - 30.0), 95)) < 5.0


def test_correct_file_streams_the_in_memory_result(tmp_path: Path, tracker: Tracker) -> None:
    """Same report, and the encoder got the same samples: identical AAC packets."""
    from core.media.io import decode_audio, write_result
    from core.media.probe import ffmpeg_exe, probe
    from core.pipeline import CorrectOptions, correct_audio, correct_file

    info = probe(SAMPLE)
    corrected, expected = correct_audio(decode_audio(SAMPLE, info), info.sample_rate,
                                         CorrectOptions(), tracker=tracker)  # fmt: skip
    write_result(SAMPLE, tmp_path / "memory.mp4", corrected, info)
    report = correct_file(SAMPLE, tmp_path / "streamed.mp4", CorrectOptions(), tracker=tracker)
    assert report.to_dict() == expected.to_dict()

    def audio_packets(path: Path) -> list[str]:
        out = subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-c", "copy",
             "-f", "framemd5", "-"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip
        return [ln for ln in out.splitlines() if ln and not ln.startswith("#")]

    assert audio_packets(tmp_path / "streamed.mp4") == audio_packets(tmp_path / "memory.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.mp4", "streamed.mp4"]


def test_the_correct_path_imports_only_what_it_uses(tmp_path: Path) -> None:
    """No pandas, plotting, scipy or nnAudio on `smask correct` (the checkpoint carries
    nnAudio's CQT kernels); torch only once a clip is being decoded (the model loads in the
    background)."""
    script = f"""
import sys
import core.pipeline
assert "torch" not in sys.modules, "torch at import"
from core.pipeline import CorrectOptions, correct_file
correct_file({str(SAMPLE)!r}, {str(tmp_path / "out.mp4")!r}, CorrectOptions(key="D"))
heavy = [m for m in ("pandas", "matplotlib", "scipy", "nnAudio")
         if m in sys.modules]
print(heavy)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


@pytest.mark.skipif(
    not __import__("torch").cuda.is_available(), reason="no CUDA device on this host"
)
def test_the_streamed_pipeline_runs_on_cuda_with_one_setting(tmp_path: Path) -> None:
    """--device cuda / SMASK_DEVICE=cuda: tracker and shifter on the GPU, the same report."""
    from core.pipeline import CorrectOptions, correct_file

    cpu = correct_file(SAMPLE, tmp_path / "cpu.mp4", CorrectOptions(device="cpu"))
    gpu = correct_file(SAMPLE, tmp_path / "gpu.mp4", CorrectOptions(device="cuda"))
    assert [n.name for n in gpu.notes] == [n.name for n in cpu.notes]
    for a, b in zip(gpu.notes, cpu.notes, strict=True):
        assert abs(a.cents_after - b.cents_after) < 0.5


class _FailingSource(ArraySource):
    """A spool whose disk read fails (a full or vanished temp disk)."""

    def read(self, start: int, stop: int) -> np.ndarray:
        raise OSError("the spool's file is gone")


def test_a_failed_feed_stops_the_writer_instead_of_queueing_the_rest() -> None:
    """Once the encoder's feeder has failed, write() raises its error at once: it neither
    blocks on a dead thread nor piles up the rest of the clip in memory."""
    from core.media.io import ResultWriter

    encoder = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.buffer.read()"], stdin=subprocess.PIPE
    )
    writer = ResultWriter(encoder, 1)
    writer.copy(_FailingSource(np.zeros((1, 1000), dtype=np.float32), 8000), 0, 1000)
    writer._thread.join(10)  # the feeder has met the failing read and ended
    with pytest.raises(OSError, match="gone"):
        writer.write(np.zeros((1, 100), dtype=np.float32))
    with pytest.raises(OSError, match="gone"):
        writer.close()
    encoder.wait(10)


def _short_wav(path: Path) -> None:
    from scipy.io import wavfile

    t = np.arange(int(0.5 * SR)) / SR
    wavfile.write(path, SR, (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32))


def test_the_encoder_clock_starts_with_its_first_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The result's encoder is opened before the clip is analysed and waits on its pipe; a slow
    analysis (a cold model, a busy host) must not use up ffmpeg's time budget. Here the
    analysis takes twice the budget, then the encoder gets its audio and finishes in time."""
    import core.media.io
    from core.media.probe import probe

    src, dst = tmp_path / "take.wav", tmp_path / "out.wav"
    _short_wav(src)
    info = probe(src)
    monkeypatch.setattr(core.media.io, "media_timeout_s", lambda duration_s: 0.6)
    with core.media.io.open_result(src, dst, info) as writer:
        threading.Event().wait(1.2)  # the analysis' stand-in: longer than the whole budget
        writer.write(np.zeros((1, int(0.5 * SR)), dtype=np.float32))
    assert dst.stat().st_size > 0


def test_the_encoder_is_still_bounded_after_its_first_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restarting the clock must not switch it off: an encoder fed once and then left
    waiting is killed after its budget, and no result file appears."""
    import core.media.io
    from core.errors import ProcessingError
    from core.media.probe import probe

    src, dst = tmp_path / "take.wav", tmp_path / "out.wav"
    _short_wav(src)
    info = probe(src)
    monkeypatch.setattr(core.media.io, "media_timeout_s", lambda duration_s: 0.6)
    with (
        pytest.raises(ProcessingError, match="did not finish"),
        core.media.io.open_result(src, dst, info) as writer,
    ):
        writer.write(np.zeros((1, 1000), dtype=np.float32))
        threading.Event().wait(1.5)  # stalls past the budget with the pipe open
        writer.write(np.zeros((1, int(0.5 * SR) - 1000), dtype=np.float32))
    assert not dst.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["take.wav"]
