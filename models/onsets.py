"""The onset network: where a note begins, heard over a room's ring and the noise (issue 24).

Why a network of its own: the pitch tracker follows the louder of two sounding notes, so in an
echoing room it hears a new note only once the old one's ring has fallen under it, 80-200 ms
late, and a re-struck repeat of the same pitch not at all (the ring fills its dip). A listener
hears both at once: the direct sound of an attack is a broadband, sudden rise over a tail that
only decays. That is a local pattern in a log-frequency spectrogram's time course, which a
small convolutional network learns from rendered phrases in random rooms with noise
(:mod:`models.training.train_onsets`), as madmom's onset CNN (Schlüter and Böck, 2014) learned
it from annotated recordings.

Shape: mel bands of a 64 ms window every 10 ms (the tracker's hop); two small 2-D convolutions
over (time, frequency) find rises of any pitch, pooled over frequency; three 1-D convolutions
over time read about +-0.2 s around each frame (an attack against the ring before it). One
logit a frame: a note begins here. About 55 k parameters (0.2 MB), a few hundred milliseconds
for a minute of audio on one CPU core.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

SAMPLE_RATE = 16000  # Hz: the features are computed at this rate whatever the clip's
HOP = 160  # samples: 10 ms, the pitch track's hop (frame i at i * HOP)
N_FFT = 1024  # 64 ms: sharp enough in time for an attack, fine enough for a low note's partials
N_BANDS = 80
F_MIN_HZ, F_MAX_HZ = 60.0, 7600.0
FLOOR_DB = -80.0  # under the clip's loud frames: quieter is "nothing" (as the tracker's NORM_FLOOR)
DB_SCALE = 20.0  # features are dB / DB_SCALE: about -4..0
FORMAT_VERSION = 1
WEIGHTS = Path(__file__).resolve().parent / "weights" / "onsets.pt"


@dataclass(frozen=True)
class OnsetHparams:
    channels: tuple[int, int] = (8, 16)
    hidden: int = 64
    dilations: tuple[int, ...] = (1, 2, 4)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OnsetHparams:
        c1, c2 = values.get("channels", cls.channels)
        return cls(
            channels=(int(c1), int(c2)),
            hidden=int(values.get("hidden", cls.hidden)),
            dilations=tuple(int(d) for d in values.get("dilations", cls.dilations)),
        )


class OnsetNet(nn.Module):
    """``[batch, frames, N_BANDS]`` features -> ``[batch, frames]`` onset logits."""

    def __init__(self, hparams: OnsetHparams = OnsetHparams()) -> None:
        super().__init__()
        self.hparams = hparams
        c1, c2 = hparams.channels
        self.spectral = nn.Sequential(
            nn.Conv2d(1, c1, (7, 3), padding=(3, 1)),
            nn.ReLU(),
            nn.MaxPool2d((1, 3)),
            nn.Conv2d(c1, c2, (3, 3), padding=(1, 1)),
            nn.ReLU(),
            nn.MaxPool2d((1, 3)),
        )
        width = c2 * (N_BANDS // 3 // 3)
        layers: list[nn.Module] = []
        for d in hparams.dilations:
            layers += [nn.Conv1d(width, hparams.hidden, 5, padding=2 * d, dilation=d), nn.ReLU()]
            width = hparams.hidden
        self.temporal = nn.Sequential(*layers, nn.Conv1d(width, 1, 1))

    @property
    def context_frames(self) -> int:
        """Frames each side that a frame's logit reads (inference overlaps chunks by this)."""
        return 3 + 1 + sum(2 * d for d in self.hparams.dilations)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.spectral(features.unsqueeze(1))  # [b, c, t, f]
        b, c, t, f = x.shape
        x = x.permute(0, 1, 3, 2).reshape(b, c * f, t)
        return self.temporal(x).squeeze(1)


def _mel_bank() -> torch.Tensor:
    import torchaudio.functional as taf

    return taf.melscale_fbanks(N_FFT // 2 + 1, F_MIN_HZ, F_MAX_HZ, N_BANDS, SAMPLE_RATE)


def band_levels_db(mono_16k: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``[frames, N_BANDS]`` mel band levels in dB, frame i centred on sample ``i * HOP``."""
    n_frames = len(mono_16k) // HOP + 1
    padded = np.zeros(max(len(mono_16k), N_FFT), dtype=np.float32)  # a clip under a window
    padded[: len(mono_16k)] = mono_16k
    audio = torch.from_numpy(padded)
    spec = torch.stft(audio, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True,
                      pad_mode="constant", return_complex=True)  # fmt: skip
    power = spec.abs().square().T[:n_frames]  # [frames, bins]
    bands = power @ _mel_bank()
    return (10.0 * torch.log10(bands + 1e-10)).numpy()


def normalised(levels_db: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Levels against the clip's loud frames (a phone's gain is anyone's guess), floored."""
    loud = float(np.percentile(levels_db.max(axis=1), 99)) if len(levels_db) else 0.0
    return (np.clip(levels_db - loud, FLOOR_DB, 10.0) / DB_SCALE).astype(np.float32)


@torch.no_grad()
def onset_probability(
    net: OnsetNet, features: npt.NDArray[np.float32], *, chunk: int = 4000
) -> npt.NDArray[np.float64]:
    """Per frame, the probability that a note begins there; chunked so memory stays flat."""
    n = len(features)
    out = np.zeros(n, dtype=np.float64)
    pad = net.context_frames
    # The clip's end frames held beyond its ends: nothing begins or stops there (a
    # convolution's zero padding would read as a sudden loud sound).
    x = torch.from_numpy(np.pad(features, ((pad, pad), (0, 0)), mode="edge"))
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        logits = net(x[a : b + 2 * pad].unsqueeze(0))[0]
        out[a:b] = torch.sigmoid(logits[pad : pad + b - a]).numpy()
    return out


def peak_frames(prob: npt.NDArray[np.float64], threshold: float, *, reach: int = 3) -> list[int]:
    """Frames where ``prob`` peaks (highest within ``reach`` either side, the first frame of a
    plateau) at ``threshold`` or above: one onset however many frames it is smeared over."""
    n = len(prob)
    found: list[int] = []
    for i in np.flatnonzero(prob >= threshold):
        lo, hi = max(0, i - reach), min(n, i + reach + 1)
        if prob[i] >= prob[lo:hi].max() and (not found or i - found[-1] > reach):
            found.append(int(i))
    return found


def save_onset_net(net: OnsetNet, path: Path, *, meta: dict[str, Any] | None = None) -> None:
    payload = {
        "format_version": FORMAT_VERSION,
        "hparams": net.hparams.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "meta": dict(meta or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


_LOADED: dict[str, OnsetNet] = {}


def load_onset_net(path: Path = WEIGHTS) -> OnsetNet:
    """The shipped onset network in eval mode, loaded once per file."""
    key = str(path.resolve())
    if key not in _LOADED:
        if not path.is_file():
            raise FileNotFoundError(f"no onset model at {path}")
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"onset checkpoint format {payload.get('format_version')!r}")
        net = OnsetNet(OnsetHparams.from_dict(payload["hparams"]))
        net.load_state_dict(payload["state_dict"])
        _LOADED[key] = net.eval()
    return _LOADED[key]
