"""The constant-Q front end: framing, chunk independence, frequency placement."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models.cqt import CqtFrontEnd, CqtKernels, CqtParams, chunk_audio, n_frames

REPO = Path(__file__).resolve().parents[1]


def _nnaudio_cqt(p: CqtParams) -> torch.nn.Module:
    """nnAudio's own CQT1992v2 for ``p``: the reference the front end must equal."""
    from nnAudio.features import CQT1992v2

    return CQT1992v2(
        sr=p.sample_rate, hop_length=p.hop_length, fmin=p.fmin_hz, n_bins=p.n_bins,
        bins_per_octave=p.bins_per_octave, filter_scale=p.filter_scale, center=False,
        output_format="Magnitude", verbose=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def front_end() -> CqtFrontEnd:
    return CqtFrontEnd(CqtParams())


def test_frames_are_centred_every_hop_inside_the_signal() -> None:
    assert n_frames(0, 16000) == 0
    assert n_frames(1, 16000) == 1
    assert n_frames(16000, 16000) == 100  # last sample at 0.9999 s: frames 0..0.99 s
    assert n_frames(16001, 16000) == 101


def test_params_round_trip_and_kernel_width_matches_nnaudio(front_end: CqtFrontEnd) -> None:
    params = front_end.params
    assert CqtParams.from_dict(params.to_dict()) == params
    real, _ = front_end.kernels.full(params.kernel_width)
    assert real.shape == (params.n_bins, 1, params.kernel_width)
    assert params.hop_s == pytest.approx(0.01)


def test_kernels_are_nnaudios_bit_for_bit_and_so_is_the_transform(front_end: CqtFrontEnd) -> None:
    """The front end is nnAudio's CQT1992v2: its kernels, and its forward's numbers."""
    p = front_end.params
    reference = _nnaudio_cqt(p)
    real, imag = front_end.kernels.full(p.kernel_width)
    assert torch.equal(real, reference.cqt_kernels_real)
    assert torch.equal(imag, reference.cqt_kernels_imag)
    audio = torch.from_numpy(np.random.default_rng(1).standard_normal(8000 * 2).astype("float32"))
    piece = chunk_audio(audio, p, 0, n_frames(len(audio), p.sample_rate))[None]
    from models.cqt import LOG_FLOOR

    # Octave by octave over each kernel's non-zero span: the same sums (bit for bit on this
    # CPU; another backend may round them in another order).
    torch.testing.assert_close(
        front_end(piece), torch.log(reference(piece) + LOG_FLOOR), rtol=1e-5, atol=1e-5
    )


def test_chunks_give_the_same_columns_as_one_shot(front_end: CqtFrontEnd) -> None:
    params = front_end.params
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal(8000 * 3).astype("float32"))
    total = n_frames(len(audio), params.sample_rate)
    whole = front_end(chunk_audio(audio, params, 0, total)[None])[0]
    parts = [
        front_end(chunk_audio(audio, params, a, min(total, a + 70))[None])[0]
        for a in range(0, total, 70)
    ]
    assert whole.shape == (params.n_bins, total)
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("f0_hz", [82.4, 261.6, 1046.5])
def test_a_sine_peaks_in_its_bin(front_end: CqtFrontEnd, f0_hz: float) -> None:
    params = front_end.params
    t = torch.arange(8000) / params.sample_rate
    audio = torch.sin(2 * math.pi * f0_hz * t)
    spec = front_end(chunk_audio(audio, params, 0, 100)[None])[0]
    peak = int(spec[:, 50].argmax())
    expected = params.bins_per_octave * math.log2(f0_hz / params.fmin_hz)
    assert abs(peak - expected) <= 0.6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(front_end: CqtFrontEnd) -> None:
    params = front_end.params
    audio = torch.randn(8000)
    piece = chunk_audio(audio, params, 0, 100)[None]
    cpu = front_end(piece)
    gpu = CqtFrontEnd(params).cuda()(piece.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-3, rtol=1e-3)


def test_the_shipped_kernels_are_what_the_installed_nnaudio_builds() -> None:
    """default.pt carries the kernels so inference needs no nnAudio import; they must stay
    nnAudio's own, bit for bit (a new nnAudio that built other kernels fails here)."""
    from models.checkpoint import read_checkpoint, resolve

    payload = read_checkpoint(resolve("default"))
    params = CqtParams.from_dict(payload["cqt"])
    shipped = CqtKernels.from_state(payload["cqt_kernels"])
    fresh = CqtKernels.from_nnaudio(params)
    assert [t0 for t0, _ in shipped.groups] == [t0 for t0, _ in fresh.groups]
    for (_, a), (_, b) in zip(shipped.groups, fresh.groups, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(shipped.length_scale, fresh.length_scale)
    assert shipped.nnaudio_version == fresh.nnaudio_version
    if params.high_n_bins:  # the second band's kernels: nnAudio's too
        high = CqtKernels.from_state(payload["cqt_high_kernels"])
        fresh_high = CqtKernels.from_nnaudio(params.high())
        assert [t0 for t0, _ in high.groups] == [t0 for t0, _ in fresh_high.groups]
        for (_, a), (_, b) in zip(high.groups, fresh_high.groups, strict=True):
            assert torch.equal(a, b)
        assert torch.equal(high.length_scale, fresh_high.length_scale)


def test_loading_the_tracker_imports_no_nnaudio() -> None:
    """The cold start skips nnAudio.features (and its scipy.signal): the checkpoint has the
    kernels. A checkpoint without them still loads, by asking nnAudio."""
    script = """
import sys
import torch
from models.checkpoint import build_tracker, read_checkpoint, resolve
payload = read_checkpoint(resolve("default"))
shipped = build_tracker(payload)
assert not [m for m in sys.modules if m.startswith(("nnAudio", "scipy"))], "imported at load"
payload.pop("cqt_kernels")
payload.pop("cqt_high_kernels", None)
rebuilt = build_tracker(payload)
assert "nnAudio.features" in sys.modules
g = torch.Generator().manual_seed(3)
params = shipped.cqt_params
x = torch.randn(1, params.kernel_width + params.hop_length * 99, generator=g)
high = None
if params.high_n_bins:
    hp = params.high()
    high = torch.randn(1, hp.kernel_width + hp.hop_length * 99, generator=g)
for a, b in zip(shipped(x, high), rebuilt(x, high), strict=True):
    assert torch.equal(a, b)
print("ok")
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


def test_a_checkpoint_written_by_training_carries_its_kernels(tmp_path: Path) -> None:
    from models.checkpoint import build_tracker, read_checkpoint, save_tracker
    from models.network import NetworkHparams, Tracker

    tracker = Tracker(NetworkHparams(), CqtParams())
    save_tracker(tracker, tmp_path / "t.pt")
    payload = read_checkpoint(tmp_path / "t.pt")
    assert len(payload["cqt_kernels"]["weights"]) == len(tracker.front_end.groups)
    loaded = build_tracker(payload)
    for (_, a), (_, b) in zip(
        loaded.front_end.kernels.groups, tracker.front_end.kernels.groups, strict=True
    ):
        assert torch.equal(a, b)


def test_the_high_band_continues_the_low_one_with_nnaudios_kernels() -> None:
    """The 16 kHz band starts one bin above the 8 kHz band's top, is nnAudio's CQT1992v2 at
    its own rate, and puts a 4.2 kHz whistle (above the 8 kHz band's reach) in its bin."""
    params = CqtParams(high_n_bins=24)
    high = params.high()
    assert params.total_bins == 165 and high.hop_s == pytest.approx(0.01)
    assert high.fmin_hz == pytest.approx(params.fmin_hz * 2 ** (141 / 24))
    front = CqtFrontEnd(high)
    reference = _nnaudio_cqt(high)
    real, imag = front.kernels.full(high.kernel_width)
    assert torch.equal(real, reference.cqt_kernels_real)
    assert torch.equal(imag, reference.cqt_kernels_imag)
    t = torch.arange(16000) / high.sample_rate
    spec = front(chunk_audio(torch.sin(2 * math.pi * 4186.0 * t), high, 0, 100)[None])[0]
    expected = high.bins_per_octave * math.log2(4186.0 / high.fmin_hz)
    assert abs(int(spec[:, 50].argmax()) - expected) <= 0.6


def test_a_two_band_tracker_round_trips_its_kernels_and_chunks_agree(tmp_path: Path) -> None:
    from core.analysis.pitch import track_pitch
    from models.checkpoint import build_tracker, read_checkpoint, save_tracker
    from models.network import NetworkHparams, Tracker

    torch.manual_seed(0)
    tracker = Tracker(NetworkHparams(n_pitch_bins=152), CqtParams(high_n_bins=24)).eval()
    save_tracker(tracker, tmp_path / "two.pt")
    payload = read_checkpoint(tmp_path / "two.pt")
    loaded = build_tracker(payload)
    assert loaded.front_end_high is not None and tracker.front_end_high is not None
    for (_, a), (_, b) in zip(
        loaded.front_end_high.kernels.groups, tracker.front_end_high.kernels.groups, strict=True
    ):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="second band"):
        loaded(torch.zeros(1, loaded.cqt_params.kernel_width))
    audio = np.random.default_rng(2).standard_normal(16000 * 12).astype(np.float32) * 0.1
    whole = track_pitch(audio, 16000, tracker=loaded)
    chunked = track_pitch(audio, 16000, tracker=loaded, chunk_frames=257)
    np.testing.assert_allclose(chunked.voiced_prob, whole.voiced_prob, atol=1e-6)
