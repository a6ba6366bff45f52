"""The pitch network: a tiny translation-equivariant CNN over log-frequency.

Why this shape: a note moved up a semitone is the same picture shifted two CQT bins, so
convolutions along frequency (PESTO's insight) learn one detector for every pitch from little
data. A *harmonic stack* (the CQT shifted by log2(h) octaves for h in 1/2, 1, 2, 3, 4, 5, as in
basic-pitch's HCQT) lines each candidate fundamental up with its partials in the channel axis,
so a few small kernels see a whole harmonic series and octave errors become rare. Each frame is
classified on its own by that body (the per-frame cost stays around 0.5 M multiply-adds); an
optional :class:`TemporalRefiner` then reads the per-frame answers of the +-0.3 s around each
frame, as a listener does (a note holds, a reverb tail decays under the next note).

The network only has to be right to within a quarter tone; :mod:`models.decode` refines the
pitch to fractions of a cent with a lag search on the waveform.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from models.cqt import CqtFrontEnd, CqtKernels, CqtParams

NORM_FLOOR = -10.0  # natural-log units below each frame's peak (~87 dB): quieter is "nothing"


@dataclass(frozen=True)
class NetworkHparams:
    channels: int = 16
    kernel_size: int = 5
    dilations: tuple[int, ...] = (1, 1, 2, 4)
    harmonics: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
    n_pitch_bins: int = 125  # fundamentals from the CQT's fmin (B1) up to C#7
    voicing_hidden: int = 16
    # The temporal refiner (:class:`TemporalRefiner`): 0 channels means none, so checkpoints
    # written before it existed load and give the same numbers.
    refiner_channels: int = 0
    refiner_dilations: tuple[int, ...] = (1, 3, 9, 27)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["dilations"] = list(self.dilations)
        values["harmonics"] = list(self.harmonics)
        values["refiner_dilations"] = list(self.refiner_dilations)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NetworkHparams:
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        for key in ("dilations", "harmonics", "refiner_dilations"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


class PitchNet(nn.Module):
    """``[batch, n_bins]`` log-CQT frames -> (pitch logits ``[batch, n_pitch_bins]``, voicing
    logit ``[batch]``). Pitch bin ``k`` is CQT bin ``k`` read as a fundamental."""

    def __init__(self, hparams: NetworkHparams, cqt: CqtParams) -> None:
        super().__init__()
        self.hparams = hparams
        self.n_bins = cqt.total_bins
        shifts = [round(cqt.bins_per_octave * math.log2(h)) for h in hparams.harmonics]
        self.shifts = shifts
        c, k = hparams.channels, hparams.kernel_size
        layers: list[nn.Module] = []
        in_ch = len(shifts)
        for d in hparams.dilations:
            layers += [
                nn.Conv1d(in_ch, c, k, padding=d * (k // 2), dilation=d),
                nn.BatchNorm1d(c),
                nn.ReLU(),
            ]
            in_ch = c
        self.body = nn.Sequential(*layers)
        self.pitch_head = nn.Conv1d(c, 1, 1)
        self.voicing_head = nn.Sequential(
            nn.Linear(2 * c + 1, hparams.voicing_hidden),
            nn.ReLU(),
            nn.Linear(hparams.voicing_hidden, 1),
        )

    def harmonic_stack(self, normed: torch.Tensor) -> torch.Tensor:
        """``[batch, n_bins]`` -> ``[batch, len(harmonics), n_pitch_bins]``, floor-padded."""
        p = self.hparams.n_pitch_bins
        lo = min(0, *self.shifts)
        hi = max(p + s for s in self.shifts)
        pad_left, pad_right = -lo, max(0, hi - self.n_bins)
        padded = nn.functional.pad(normed, (pad_left, pad_right), value=NORM_FLOOR / 5.0)
        return torch.stack([padded[:, pad_left + s : pad_left + s + p] for s in self.shifts], 1)

    def fused_body(self, stacked: torch.Tensor) -> torch.Tensor:
        """``self.body`` in eval mode, 2.5x faster on CPU: batch norm folded into each
        convolution and the frames run as a channels-last 2-D convolution (oneDNN's fast path;
        measured 0.20 s instead of 0.51 s for 60 s of audio on the 2-core CPU). The folded
        weights are recomputed on every call (a few hundred numbers), so the state dict and
        ``.to(device)`` stay those of the plain modules."""
        x = stacked[:, :, None, :].contiguous(memory_format=torch.channels_last)
        layers = list(self.body)
        for conv, bn in zip(layers[0::3], layers[1::3], strict=True):
            assert isinstance(conv, nn.Conv1d) and isinstance(bn, nn.BatchNorm1d)
            assert bn.running_var is not None and bn.running_mean is not None
            assert conv.bias is not None
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            weight = (conv.weight * scale[:, None, None])[:, :, None, :]
            bias = (conv.bias - bn.running_mean) * scale + bn.bias
            pad = int(conv.padding[0])  # an int: the layers are built with explicit padding
            x = torch.relu(
                nn.functional.conv2d(
                    x, weight, bias, padding=(0, pad), dilation=(1, conv.dilation[0])
                )
            )
        return x[:, :, 0, :]

    def forward(self, log_cqt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Pitch must not depend on loudness: measure each frame from its own peak.
        loudness = log_cqt.amax(dim=1, keepdim=True)
        normed = (log_cqt - loudness).clamp(min=NORM_FLOOR) / 5.0
        stacked = self.harmonic_stack(normed)
        features = self.body(stacked) if self.training else self.fused_body(stacked)
        pitch_logits = self.pitch_head(features).squeeze(1)
        # Voicing sees the strongest and the average evidence plus the absolute level.
        pooled = torch.cat(
            [features.amax(dim=2), features.mean(dim=2), (loudness + 5.0) / 5.0], dim=1
        )
        voicing_logit = self.voicing_head(pooled).squeeze(1)
        return pitch_logits, voicing_logit


class TemporalRefiner(nn.Module):
    """Per-frame answers over time -> corrected pitch logits (residual to the per-frame ones).

    Why: the body judges each 10 ms frame alone, so in a room a frame where the last note's tail
    or a talker outweighs the new note is lost, though the frames around it say which note
    holds. This reads a (time x pitch) picture of the per-frame pitch posterior (probability
    and logit, pooled to semitones: which note, not how many cents, is the question here), the
    voicing probability and the frame's loudness; convolutions dilated in time see
    ``context_frames`` on each side, and a harmonic mix (the features an octave and a twelfth
    below and above) lets a note's other frames decide between octaves. Kernels along pitch
    are small and shared, translation-equivariant like the body. Zero padding in time: outside
    the clip there is nothing, which is also how a chunk sees a clip's ends, so a chunk
    computed with ``context_frames`` more frames on each side gives the same numbers. The last
    layer starts at zero, so an untrained refiner changes nothing. Cost: ~2 k multiply-adds a
    frame and semitone.
    """

    POOL = 2  # pitch bins per semitone

    def __init__(self, hparams: NetworkHparams, bins_per_octave: int) -> None:
        super().__init__()
        c = hparams.refiner_channels
        self.dilations = tuple(hparams.refiner_dilations)
        self.context_frames = 1 + sum(self.dilations)
        self.conv_in = nn.Conv2d(4, c, (3, 3), padding=(1, 1))
        self.convs = nn.ModuleList(
            nn.Conv2d(c, c, (3, 1), padding=(d, 0), dilation=(d, 1)) for d in self.dilations
        )
        per_octave = bins_per_octave // self.POOL
        self.shifts = [round(per_octave * math.log2(h)) for h in (1 / 3, 0.5, 1, 2, 3)]
        self.mix = nn.Conv2d(c * len(self.shifts), c, 1)
        self.out = nn.Conv2d(c, 1, 1, bias=False)
        nn.init.zeros_(self.out.weight)

    def _harmonics(self, x: torch.Tensor) -> torch.Tensor:
        """``[b, c, t, p]`` -> ``[b, c * len(shifts), t, p]``: channel block ``i`` at pitch
        ``k`` holds the features at pitch ``k + shifts[i]`` (zeros past the range)."""
        p = x.shape[-1]
        lo, hi = -min(self.shifts), max(self.shifts)
        padded = nn.functional.pad(x, (lo, hi))
        return torch.cat([padded[..., lo + s : lo + s + p] for s in self.shifts], dim=1)

    def forward(
        self, pitch_logits: torch.Tensor, voicing_logit: torch.Tensor, loudness: torch.Tensor
    ) -> torch.Tensor:
        """``[b, t, p]`` pitch logits, ``[b, t]`` voicing logit and peak log-CQT ->
        ``[b, t, p]`` refined pitch logits."""
        b, t, p = pitch_logits.shape
        odd = p % self.POOL
        logits = nn.functional.pad(pitch_logits, (0, odd), value=-30.0) if odd else pitch_logits
        semis = logits.reshape(b, t, -1, self.POOL).amax(dim=-1)  # [b, t, s]
        per_frame = torch.stack([torch.sigmoid(voicing_logit), (loudness + 5.0) / 5.0], dim=1)
        x = torch.cat(
            [
                torch.sigmoid(semis)[:, None],
                (semis.clamp(-16.0, 16.0) / 8.0)[:, None],
                per_frame[..., None].expand(-1, -1, -1, semis.shape[-1]),
            ],
            dim=1,
        ).contiguous(memory_format=torch.channels_last)  # [b, 4, t, s]
        h = torch.relu(self.conv_in(x))
        for conv in self.convs:
            h = h + torch.relu(conv(h))
        h = torch.relu(self.mix(self._harmonics(h)))
        delta = self.out(h)[:, 0].repeat_interleave(self.POOL, dim=-1)  # [b, t, p + odd]
        return pitch_logits + delta[..., :p]


class Tracker(nn.Module):
    """Front end + network: everything a checkpoint rebuilds, moved to a device as one unit."""

    def __init__(
        self,
        hparams: NetworkHparams,
        cqt: CqtParams,
        kernels: CqtKernels | None = None,
        high_kernels: CqtKernels | None = None,
    ) -> None:
        super().__init__()
        self.cqt_params = cqt
        self.hparams = hparams
        self.front_end = CqtFrontEnd(cqt, kernels)
        self.front_end_high = CqtFrontEnd(cqt.high(), high_kernels) if cqt.high_n_bins else None
        self.net = PitchNet(hparams, cqt)
        self.refiner = (
            TemporalRefiner(hparams, cqt.bins_per_octave) if hparams.refiner_channels else None
        )
        # None: the refiner (if any) reads every take. A number (dB): it reads only takes whose
        # median harmonicity is below it, the rest get the body alone
        # (core.analysis.pitch.track_source;
        # models.checkpoint.load_tracker("auto") sets models.decode.REFINE_BELOW_HARMONICITY_DB).
        self.harmonicity_gate_db: float | None = None

    def with_refiner(self, channels: int) -> Tracker:
        """This tracker's front end and body (weights copied) with a fresh refiner of
        ``channels`` (0: none): what the refiner is trained on and shipped with."""
        hparams = NetworkHparams.from_dict({**self.hparams.to_dict(), "refiner_channels": channels})
        high = self.front_end_high.kernels if self.front_end_high is not None else None
        tracker = Tracker(hparams, self.cqt_params, self.front_end.kernels, high)
        tracker.net.load_state_dict(self.net.state_dict())
        return tracker

    @property
    def context_frames(self) -> int:
        """Frames on each side whose per-frame answers a frame's result reads (0: none)."""
        return self.refiner.context_frames if self.refiner is not None else 0

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def pitch_bin_midi0(self) -> float:
        """MIDI number of pitch bin 0."""
        return self.cqt_params.fmin_midi

    @property
    def bins_per_semitone(self) -> float:
        return self.cqt_params.bins_per_octave / 12.0

    def log_cqt(
        self, padded_audio: torch.Tensor, padded_high: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[batch, total_bins, frames]``: the CQT of the padded CQT-rate audio, with the high
        band's bins (of ``padded_high``, the same frames padded at the high band's rate) on top
        when the tracker has one."""
        log_cqt = self.front_end(padded_audio)
        if self.front_end_high is None:
            return log_cqt
        if padded_high is None:
            raise ValueError("this tracker reads a second band: pass padded_high")
        high = self.front_end_high(padded_high)
        if high.shape[-1] != log_cqt.shape[-1]:
            raise ValueError(f"bands disagree: {log_cqt.shape[-1]} vs {high.shape[-1]} frames")
        return torch.cat([log_cqt, high], dim=1)

    def frame_logits(
        self, padded_audio: torch.Tensor, padded_high: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The body's per-frame answers, before any refiner: (pitch logits ``[batch, frames,
        n_pitch_bins]``, voicing logit ``[batch, frames]``, each frame's peak log-CQT
        ``[batch, frames]``)."""
        log_cqt = self.log_cqt(padded_audio, padded_high)  # [B, F, T]
        b, f, t = log_cqt.shape
        frames = log_cqt.transpose(1, 2).reshape(b * t, f)
        pitch_logits, voicing_logit = self.net(frames)
        return (
            pitch_logits.reshape(b, t, -1),
            voicing_logit.reshape(b, t),
            frames.amax(dim=1).reshape(b, t),
        )

    def forward(
        self,
        padded_audio: torch.Tensor,
        padded_high: torch.Tensor | None = None,
        *,
        frames: int | None = None,
        refine: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded CQT-rate audio ``[batch, samples]`` (and, for a tracker with a high band, the
        same frames padded at its rate) -> (pitch probabilities ``[batch, frames,
        n_pitch_bins]``, voicing probability ``[batch, frames]``). With a refiner, the frames
        given are the whole clip (or a stretch with ``context_frames`` to spare each side);
        ``frames``: keep only the first that many (a piece shorter than the CQT's longest
        kernel yields frames past the clip's end, which the refiner must not read); ``refine``
        False: the body's answers alone, as the same weights without a refiner give them."""
        pitch_logits, voicing_logit, loudness = self.frame_logits(padded_audio, padded_high)
        if frames is not None:
            pitch_logits, voicing_logit = pitch_logits[:, :frames], voicing_logit[:, :frames]
            loudness = loudness[:, :frames]
        if self.refiner is not None and refine:
            pitch_logits = self.refiner(pitch_logits, voicing_logit, loudness)
        return torch.sigmoid(pitch_logits), torch.sigmoid(voicing_logit)
