"""The constant-Q front end: nnAudio's CQT1992v2 kernels, convolved octave by octave.

Choices, and why (measured with nnAudio 0.3.4 on this project's 2-core CPU, 60 s of audio):

* **8 kHz analysis rate, 80-sample hop (10 ms).** The fundamentals we track span C2..C7
  (65..2093 Hz: cello's low end to the flute's top); 8 kHz keeps every fundamental and the
  harmonics that disambiguate octaves below ~2 kHz, and halves the CQT cost of 16 kHz. The fine
  pitch does not come from these bins at all (see :mod:`models.decode`: a lag search at 16 kHz
  refines it), so the CQT only has to be good enough for a robust semitone-level estimate.
* **A second band at 16 kHz for the top octave** (``high_n_bins``; the shipped weights use 24
  bins, 3.6-7.0 kHz). Whistling and the piccolo reach 4.2 kHz, above what 8 kHz can hold; one
  CQT at 16 kHz for everything would double the cost of every octave, while the top octave's
  kernels at 16 kHz are at most 128 taps, and the tracker has the 16 kHz audio anyway (the
  refinement reads it). Same bins per octave, filter scale and frame centres, so the network
  sees one continuous log-frequency axis.
* **24 bins per octave (50-cent bins), 141 bins from B1 (61.7 Hz) to ~3.6 kHz.** Two bins per
  semitone is enough for the network to place a note within a quarter tone; more bins would only
  make both the CQT and the network slower.
* **CQT1992v2, filter_scale 0.5.** One strided convolution with fixed kernels: 0.074 s for 60 s
  of audio (CQT1992v2 at filter_scale 1: 0.15 s; CQT2010v2 with its octave-by-octave
  downsampling fails for this rate/range combination in 0.3.4 and was 0.45 s at 16 kHz/216 bins).
  Halving the filter length halves the cost and sharpens onsets; the wider bands (about two bins)
  are harmless because the harmonic stack in the network still resolves semitones.
* **nnAudio's kernels, applied octave by octave.** The kernels and their normalisation are
  nnAudio's own (nnAudio's CQT1992v2 builds them and we take its buffers), so the
  spectrogram is nnAudio's by definition. Its forward pass convolves every bin over the full
  4096-tap width, 85 % of it zeros; here each octave of bins is convolved over that octave's
  non-zero span only: the same sums, about 5x fewer multiply-adds (``tests/test_cqt.py``
  compares with nnAudio's own forward).
* **Kernels stored with the weights.** Importing ``nnAudio.features`` costs a cold start about
  0.5 s (it imports scipy.signal). The kernels depend only on the params, so a checkpoint
  carries the ones nnAudio built when it was written (:class:`CqtKernels`), and loading the
  tracker imports no nnAudio at all; a test keeps them equal to what the installed nnAudio
  builds.
* **center=False with our own padding.** The caller pads, so a chunk of a long recording sees
  exactly the samples the whole recording would: chunked and one-shot analysis agree
  (``tests/test_cqt.py``). :attr:`CqtParams.margin_samples` is the half-kernel each chunk needs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

LOG_FLOOR = 1e-5  # linear magnitude added before the log: about -100 dB, below any real take


@dataclass(frozen=True)
class CqtParams:
    """Everything needed to rebuild the front end; stored inside every checkpoint."""

    sample_rate: int = 8000  # Hz
    hop_length: int = 80  # samples (10 ms)
    fmin_hz: float = 61.735412657  # Hz, B1 = MIDI 35
    n_bins: int = 141
    bins_per_octave: int = 24
    filter_scale: float = 0.5
    # A second band above the first, analysed at ``high_sample_rate`` (0 bins: none). The
    # 8 kHz band ends at ~3.6 kHz; whistling and the piccolo reach 4.2 kHz, so the top octave
    # comes from the 16 kHz audio the refinement reads anyway (see :meth:`high`).
    high_n_bins: int = 0
    high_sample_rate: int = 16000

    @property
    def total_bins(self) -> int:
        """Bins the network reads: this band's and the high band's, in order of frequency."""
        return self.n_bins + self.high_n_bins

    def high(self) -> CqtParams:
        """The high band: nnAudio's CQT1992v2 at ``high_sample_rate``, same bins per octave,
        filter scale and 10 ms hop, starting one bin above this band's top bin."""
        if self.high_n_bins <= 0:
            raise ValueError("these CQT params have no high band")
        return CqtParams(
            sample_rate=self.high_sample_rate,
            hop_length=round(self.hop_s * self.high_sample_rate),
            fmin_hz=self.fmin_hz * 2.0 ** (self.n_bins / self.bins_per_octave),
            n_bins=self.high_n_bins,
            bins_per_octave=self.bins_per_octave,
            filter_scale=self.filter_scale,
        )

    @property
    def hop_s(self) -> float:
        return self.hop_length / self.sample_rate

    @property
    def fmin_midi(self) -> float:
        return 69.0 + 12.0 * math.log2(self.fmin_hz / 440.0)

    @property
    def cents_per_bin(self) -> float:
        return 1200.0 / self.bins_per_octave

    @property
    def kernel_width(self) -> int:
        """Samples spanned by the longest (lowest) kernel, as nnAudio sizes it (a power of two)."""
        q = self.filter_scale / (2.0 ** (1.0 / self.bins_per_octave) - 1.0)
        return int(2 ** math.ceil(math.log2(math.ceil(q * self.sample_rate / self.fmin_hz))))

    @property
    def margin_samples(self) -> int:
        """Samples of context each side of a frame centre that the CQT reads."""
        return self.kernel_width // 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CqtParams:
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})


@dataclass
class CqtKernels:
    """nnAudio's CQT1992v2 kernels, kept only over each octave's non-zero span.

    Why a value of its own: building the kernels needs ``nnAudio.features``, whose import pulls
    scipy.signal (about 0.5 s of a cold start). The kernels are a pure function of
    :class:`CqtParams` and nnAudio's version, so they are computed once by nnAudio, when a
    checkpoint is written, and stored in it beside the weights (float32, about 0.6 MB); inference
    then loads nnAudio's numbers without importing nnAudio. ``tests/test_cqt.py`` checks that the
    shipped kernels are still bit for bit what the installed nnAudio builds.

    ``groups``: per octave of bins, (first tap within ``kernel_width``, weight
    ``[2 * bins, 1, span]``: real rows then imaginary rows). ``length_scale``: ``[n_bins, 1]``,
    the root of each bin's window length (nnAudio's "librosa" normalisation).
    """

    groups: list[tuple[int, torch.Tensor]]
    length_scale: torch.Tensor
    nnaudio_version: str

    @classmethod
    def from_nnaudio(cls, params: CqtParams) -> CqtKernels:
        import nnAudio
        from nnAudio.features import CQT1992v2

        reference = CQT1992v2(
            sr=params.sample_rate,
            hop_length=params.hop_length,
            fmin=params.fmin_hz,
            n_bins=params.n_bins,
            bins_per_octave=params.bins_per_octave,
            filter_scale=params.filter_scale,
            center=False,
            output_format="Magnitude",
            verbose=False,
        )
        if int(reference.kernel_width) != params.kernel_width:
            raise RuntimeError(
                f"nnAudio kernel width {reference.kernel_width} != expected {params.kernel_width}"
            )
        real = reference.cqt_kernels_real.detach()
        imag = reference.cqt_kernels_imag.detach()
        nonzero = ((real != 0) | (imag != 0))[:, 0]
        groups: list[tuple[int, torch.Tensor]] = []
        for b0 in range(0, params.n_bins, params.bins_per_octave):
            b1 = min(params.n_bins, b0 + params.bins_per_octave)
            taps = torch.nonzero(nonzero[b0:b1].any(dim=0)).flatten()
            t0, t1 = int(taps[0]), int(taps[-1]) + 1
            groups.append((t0, torch.cat([real[b0:b1, :, t0:t1], imag[b0:b1, :, t0:t1]])))
        length_scale = torch.sqrt(reference.lenghts.float().view(-1, 1))
        return cls(groups, length_scale, str(getattr(nnAudio, "__version__", "unknown")))

    def full(self, kernel_width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The full-width ``[n_bins, 1, kernel_width]`` real and imaginary kernels, as nnAudio
        holds them (zeros outside each octave's span)."""
        n_bins = sum(w.shape[0] // 2 for _, w in self.groups)
        real = torch.zeros(n_bins, 1, kernel_width)
        imag = torch.zeros(n_bins, 1, kernel_width)
        b0 = 0
        for t0, weight in self.groups:
            half = weight.shape[0] // 2
            real[b0 : b0 + half, :, t0 : t0 + weight.shape[-1]] = weight[:half]
            imag[b0 : b0 + half, :, t0 : t0 + weight.shape[-1]] = weight[half:]
            b0 += half
        return real, imag

    def to_state(self) -> dict[str, Any]:
        """Plain tensors and builtins, so a checkpoint still loads with ``weights_only=True``."""
        return {
            "starts": [t0 for t0, _ in self.groups],
            "weights": [w.cpu() for _, w in self.groups],
            "length_scale": self.length_scale.cpu(),
            "nnaudio_version": self.nnaudio_version,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CqtKernels:
        groups = list(zip((int(t) for t in state["starts"]), state["weights"], strict=True))
        return cls(groups, state["length_scale"], str(state["nnaudio_version"]))


class CqtFrontEnd(nn.Module):
    """Log-magnitude CQT of pre-padded audio.

    Input ``[batch, samples]`` at ``params.sample_rate`` already padded by ``margin_samples`` on
    both sides; output ``[batch, n_bins, frames]`` where frame ``j`` is centred on input sample
    ``margin_samples + j * hop_length``. Kernels are registered buffers, so ``.to(device)``
    moves them. The transform is nnAudio's CQT1992v2 (center=False, "librosa" normalisation,
    magnitude): strided convolutions, each bin scaled by the square root of its length.

    Each bin's kernel is only as long as its own window (2217 samples at B1, 17 at the top),
    centred in the ``kernel_width`` frame; the convolutions run one octave of bins at a time
    over that octave's non-zero span, real and imaginary parts together, which skips the
    zeros (85 % of the multiply-adds of one full-width convolution). The sums are the same;
    only their rounding order may differ (about 1e-7 relative, tests/test_cqt.py).

    ``kernels`` come from a checkpoint when it carries them; otherwise nnAudio builds them.
    """

    def __init__(self, params: CqtParams, kernels: CqtKernels | None = None) -> None:
        super().__init__()
        self.params = params
        self.kernels = kernels if kernels is not None else CqtKernels.from_nnaudio(params)
        n_bins = sum(w.shape[0] // 2 for _, w in self.kernels.groups)
        if n_bins != params.n_bins or self.kernels.length_scale.shape[0] != params.n_bins:
            raise ValueError(f"CQT kernels hold {n_bins} bins, params say {params.n_bins}")
        self.length_scale: torch.Tensor
        # The buffers share the kernels' storage on the CPU; ``.to(device)`` copies them there.
        self.register_buffer("length_scale", self.kernels.length_scale, persistent=False)
        self.groups: list[tuple[int, str]] = []
        for g, (t0, weight) in enumerate(self.kernels.groups):
            if t0 < 0 or t0 + weight.shape[-1] > params.kernel_width:
                raise ValueError(f"CQT kernel group {g} does not fit the kernel width")
            self.register_buffer(f"group_{g}", weight, persistent=False)
            self.groups.append((t0, f"group_{g}"))

    def forward(self, padded_audio: torch.Tensor) -> torch.Tensor:
        x = padded_audio[:, None, :]
        hop = self.params.hop_length
        frames = (x.shape[-1] - self.params.kernel_width) // hop + 1
        real_parts, imag_parts = [], []
        for t0, name in self.groups:
            weight: torch.Tensor = getattr(self, name)
            out = nn.functional.conv1d(x[..., t0:], weight, stride=hop)[..., :frames]
            half = weight.shape[0] // 2
            real_parts.append(out[:, :half])
            imag_parts.append(out[:, half:])
        real = torch.cat(real_parts, dim=1)
        imag = -torch.cat(imag_parts, dim=1)
        real *= self.length_scale
        imag *= self.length_scale
        magnitude = torch.sqrt(real.pow(2) + imag.pow(2))
        return torch.log(magnitude + LOG_FLOOR)


def n_frames(n_samples: int, sample_rate: int, hop_s: float = 0.01) -> int:
    """Frames centred at ``i * hop_s`` that fall inside a signal of ``n_samples``."""
    if n_samples <= 0:
        return 0
    duration_s = (n_samples - 1) / sample_rate
    return math.floor(duration_s / hop_s + 1e-9) + 1


def chunk_audio(
    audio: torch.Tensor, params: CqtParams, first_frame: int, stop_frame: int
) -> torch.Tensor:
    """The padded slice of ``audio`` (``[samples]`` at the CQT rate) for frames [first, stop).

    Samples outside the signal are zeros, exactly as if the whole recording had been padded once,
    so every chunk yields the same CQT columns as the one-shot analysis.
    """
    margin = params.margin_samples
    start = first_frame * params.hop_length - margin
    stop = (stop_frame - 1) * params.hop_length + margin + 1
    # The last frame's kernel ends at stop - 1 + hop (the convolution needs len >= kernel_width).
    stop = max(stop, start + params.kernel_width)
    n = audio.shape[-1]
    left = max(0, -start)
    right = max(0, stop - n)
    piece = audio[..., max(0, start) : min(n, stop)]
    if left or right:
        piece = torch.nn.functional.pad(piece, (left, right))
    return piece
