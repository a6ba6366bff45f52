"""Self-describing checkpoints and the per-(file, device) tracker cache.

A checkpoint is a plain dict (``format_version``, ``hparams``, ``cqt``, ``cqt_kernels``,
``state_dict``, ``meta``) of tensors and builtins, so it loads with ``weights_only=True`` and
rebuilds the front end and the network from the file alone (PESTO's layout). ``cqt_kernels`` are
nnAudio's, computed when the file was written, so loading imports no nnAudio (a cold start saves
the scipy.signal import; a tracker with a second band stores its kernels as ``cqt_high_kernels``);
a file without them gets them from nnAudio on load. The cache is an
explicit dict keyed by (resolved path, device) rather than an attribute on a function
(torchcrepe's habit), so a worker holding a CPU and a GPU tracker gets two independent models.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import torch

from models.cqt import CqtKernels, CqtParams
from models.decode import REFINE_BELOW_HARMONICITY_DB
from models.network import NetworkHparams, Tracker

FORMAT_VERSION = 1
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# The product's pitch model: not a file but refiner.pt gated by harmonicity (load_tracker).
AUTO = "auto"
AUTO_WEIGHTS = "refiner"
_CACHE: dict[tuple[str, str], Tracker] = {}
_CACHE_LOCK = threading.Lock()


def resolve(name_or_path: str | Path) -> Path:
    """A bundled name (``"default"``, ``"refiner"``) or a path to a ``.pt`` file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".pt" or candidate.exists():
        return candidate.resolve()
    return (WEIGHTS_DIR / f"{name_or_path}.pt").resolve()


def save_tracker(tracker: Tracker, path: Path, *, meta: dict[str, Any] | None = None) -> None:
    """Write weights as float32 on CPU with everything needed to rebuild the tracker."""
    state = {k: v.detach().cpu().clone() for k, v in tracker.state_dict().items()}
    state = {k: v for k, v in state.items() if not k.startswith("front_end.")}
    payload = {
        "format_version": FORMAT_VERSION,
        "hparams": tracker.hparams.to_dict(),
        "cqt": tracker.cqt_params.to_dict(),
        # Only each octave's non-zero span: 0.6 MB, not the 4.6 MB of nnAudio's full buffers.
        "cqt_kernels": tracker.front_end.kernels.to_state(),
        **(
            {"cqt_high_kernels": tracker.front_end_high.kernels.to_state()}
            if tracker.front_end_high is not None
            else {}
        ),
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def build_tracker(payload: dict[str, Any], device: str | torch.device = "cpu") -> Tracker:
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint format {version!r} is not {FORMAT_VERSION}; retrain or update"
        )
    kernels = payload.get("cqt_kernels")
    high_kernels = payload.get("cqt_high_kernels")
    tracker = Tracker(
        NetworkHparams.from_dict(payload["hparams"]),
        CqtParams.from_dict(payload["cqt"]),
        CqtKernels.from_state(kernels) if kernels is not None else None,
        CqtKernels.from_state(high_kernels) if high_kernels is not None else None,
    )
    missing, unexpected = tracker.load_state_dict(payload["state_dict"], strict=False)
    missing = [k for k in missing if not k.startswith("front_end.")]
    if missing or unexpected:
        raise ValueError(f"checkpoint does not fit the network: {missing=} {unexpected=}")
    return tracker.to(device).eval()


def read_checkpoint(path: Path) -> dict[str, Any]:
    payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return payload


def load_tracker(name_or_path: str | Path = AUTO, device: str = "cpu") -> Tracker:
    """The tracker in eval mode on ``device``, loaded once per (file, device).

    ``"auto"`` (the product's model) is ``refiner.pt`` with its refiner gated by the take's
    harmonicity (``models.decode.REFINE_BELOW_HARMONICITY_DB``): its body is ``default.pt``'s
    bit for bit, so a clean take gets exactly what ``"default"`` gives, a noisy, echoing one
    the refiner with a noisy take's longer lag search (``core.analysis.pitch.track_source``). It is
    cached apart from ``"refiner"``, which refines every take with the usual lag search.
    """
    gated = str(name_or_path) == AUTO
    path = resolve(AUTO_WEIGHTS if gated else name_or_path)
    key = (f"{path}{'#gated' if gated else ''}", str(torch.device(device)))
    with _CACHE_LOCK:
        tracker = _CACHE.get(key)
        if tracker is None:
            if not path.is_file():
                raise FileNotFoundError(f"no pitch model at {path}")
            tracker = build_tracker(read_checkpoint(path), device)
            if gated:
                tracker.harmonicity_gate_db = REFINE_BELOW_HARMONICITY_DB
            _CACHE[key] = tracker
        return tracker


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def embed_kernels(path: Path) -> None:
    """Rewrite a checkpoint so it carries nnAudio's kernels (for files written before they were)."""
    payload = read_checkpoint(path)
    tracker = build_tracker(payload)
    save_tracker(tracker, path, meta=payload.get("meta"))


if __name__ == "__main__":
    import sys

    for name in sys.argv[1:] or ["default"]:
        embed_kernels(resolve(name))
        print(f"{resolve(name)}: nnAudio's CQT kernels stored")
