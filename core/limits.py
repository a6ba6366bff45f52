"""How much media one job may bring in.

The limits guard the worker, not the user: every check in :func:`core.media.probe.probe` runs on the
container's header before a single frame is decoded, so a clip that claims ten hours or a
60000x60000 picture is refused without allocating anything. Defaults suit a chat bot: VK caps
documents at 200 MB, and ten minutes of a melody is far more than anyone records to check
intonation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

MB = 1_000_000  # bytes

_ENV_NAMES = {
    "max_bytes": "SMASK_MAX_BYTES",
    "max_duration_s": "SMASK_MAX_DURATION_S",
    "max_pixels": "SMASK_MAX_PIXELS",
    "max_channels": "SMASK_MAX_CHANNELS",
    "min_sample_rate": "SMASK_MIN_SAMPLE_RATE",
    "max_sample_rate": "SMASK_MAX_SAMPLE_RATE",
    "max_streams": "SMASK_MAX_STREAMS",
}


@dataclass(frozen=True)
class MediaLimits:
    """Upper bounds a clip must respect before any decoding starts.

    Attributes:
        max_bytes: file size in bytes (VK's document cap is 200 MB).
        max_duration_s: container duration in seconds.
        max_pixels: coded width * height of the picture (4K UHD by default).
        max_channels: audio channels (7.1 is the most AAC writes back).
        min_sample_rate: audio rate in Hz below which pitch above ~4 kHz is gone.
        max_sample_rate: audio rate in Hz; higher rates only cost memory.
        max_streams: streams in the container, of any kind. A phone writes a picture, a
            sound and a few metadata tracks; ffmpeg opens every stream it is given, so 999
            of them cost seconds and gigabytes before one frame of ours is read.
    """

    max_bytes: int = 200 * MB
    max_duration_s: float = 600.0
    max_pixels: int = 3840 * 2160
    max_channels: int = 8
    min_sample_rate: int = 8000  # Hz
    max_sample_rate: int = 192_000  # Hz
    max_streams: int = 32

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0:
                raise ValueError(f"MediaLimits.{f.name} must be positive, got {value!r}")
        if self.min_sample_rate > self.max_sample_rate:
            raise ValueError("MediaLimits.min_sample_rate is above max_sample_rate")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> MediaLimits:
        """Defaults overridden by ``SMASK_MAX_BYTES``, ``SMASK_MAX_DURATION_S``,
        ``SMASK_MAX_PIXELS``, ``SMASK_MAX_CHANNELS``, ``SMASK_MIN_SAMPLE_RATE``,
        ``SMASK_MAX_SAMPLE_RATE`` and ``SMASK_MAX_STREAMS``.

        A malformed value is a deployment mistake, so it raises ``ValueError`` naming the
        variable instead of silently falling back to the default.
        """
        overrides: dict[str, int | float] = {}
        for f in fields(cls):
            name = _ENV_NAMES[f.name]
            raw = environ.get(name)
            if raw is None or not raw.strip():
                continue
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
            if f.type in (float, "float"):
                overrides[f.name] = value
            elif value.is_integer():
                overrides[f.name] = int(value)  # "200e6" is a fine way to write 200 MB
            else:
                raise ValueError(f"{name}={raw!r} must be a whole number")
        return cls(**overrides)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, int | float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
