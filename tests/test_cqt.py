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
    from nnAudio.features import CQT1992v2

    p = front_end.params
    reference = CQT1992v2(
        sr=p.sample_rate, hop_length=p.hop_length, fmin=p.fmin_hz, n_bins=p.n_bins,
        bins_per_octave=p.bins_per_octave, filter_scale=p.filter_scale, center=False,
        output_format="Magnitude", verbose=False,
    )  # fmt: skip
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
    # Only zeros were left out: the spans hold all of nnAudio's full-width kernels.
    reference = CqtFrontEnd(params)  # built by nnAudio
    for got, want in zip(
        shipped.full(params.kernel_width), fresh.full(params.kernel_width), strict=True
    ):
        assert torch.equal(got, want)
    assert reference.kernels.nnaudio_version == shipped.nnaudio_version


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
rebuilt = build_tracker(payload)
assert "nnAudio.features" in sys.modules
x = torch.randn(1, 8000 * 3, generator=torch.Generator().manual_seed(3))
for a, b in zip(shipped(x), rebuilt(x), strict=True):
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
