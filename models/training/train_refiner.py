"""Train the temporal refiner on a frozen body: ``python -m models.training.train --config
models/configs/refiner.toml`` (a config with ``refiner_channels > 0``).

Why frozen: the body (the per-frame CNN) is the shipped weights; the refiner only learns to
read their answers over time. So the body runs once over every training clip (clean,
augmented, in rooms with noise) and the bank keeps its per-frame outputs (pitch logits as
float16, voicing logit, loudness) clip by clip, with the clip boundaries: a training window is
a stretch of consecutive frames of one clip, never two. Training then costs the refiner alone,
minutes instead of the hour the body took. Windows are padded with zeros only where the clip
itself ends (that is what inference sees there); frames nearer than the refiner's context to a
window edge inside a clip take no loss, since inference always gives them their neighbours.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models import checkpoint
from models.config import TrainConfig
from models.network import NetworkHparams, TemporalRefiner, Tracker
from models.training import dataset

log = logging.getLogger("models.training.train")


@dataclass
class LogitBank:
    """The frozen body's outputs on every training frame, clip after clip."""

    pitch_logits: torch.Tensor  # [n, n_pitch_bins] float16
    voicing_logit: torch.Tensor  # [n] float32
    loudness: torch.Tensor  # [n] float32
    midi: torch.Tensor  # [n] float32, NaN where unvoiced
    voiced: torch.Tensor  # [n] float32
    voicing_weight: torch.Tensor  # [n] float32
    starts: torch.Tensor  # [clips + 1] int64: clip i is frames [starts[i], starts[i + 1])

    def __len__(self) -> int:
        return int(self.pitch_logits.shape[0])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(dict(self.__dict__), path)

    @classmethod
    def load(cls, path: Path) -> LogitBank:
        return cls(**torch.load(path, map_location="cpu", weights_only=True))


@torch.inference_mode()
def clip_frame_logits(tracker: Tracker, audio_16k: np.ndarray) -> tuple[torch.Tensor, ...]:
    """The body's (pitch logits, voicing logit, loudness) of a whole clip, frame ``i`` at
    ``i * 10 ms``, from the same CQT frames inference computes."""
    x = dataset.clip_log_cqt(tracker, audio_16k)  # [frames, bins]
    pitch_logits, voicing_logit = tracker.net(x)
    return pitch_logits, voicing_logit, x.amax(dim=1)


def build_logit_bank(config: TrainConfig, tracker: Tracker, cache_dir: Path) -> LogitBank:
    from models.training.common import training_clips

    clips, banks = training_clips(config, cache_dir)
    rng = np.random.default_rng(config.seed)
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("p", "v", "l", "m", "y", "w")}
    starts = [0]
    body = tracker.cpu().eval()
    for i, clip in enumerate(clips):
        for version in dataset.clip_versions(clip, config=config, rng=rng, room_banks=banks):
            p, v, loud = clip_frame_logits(body, version.audio)
            n = min(p.shape[0], version.midi.shape[0])
            parts["p"].append(p[:n].half())
            parts["v"].append(v[:n])
            parts["l"].append(loud[:n])
            parts["m"].append(version.midi[:n])
            parts["y"].append(version.voiced[:n])
            parts["w"].append(version.voicing_weight[:n])
            starts.append(starts[-1] + n)
        if i % 10 == 0:
            log.info("bank: clip %d of %d, %d frames", i + 1, len(clips), starts[-1])
    return LogitBank(
        torch.cat(parts["p"]),
        torch.cat(parts["v"]),
        torch.cat(parts["l"]),
        torch.cat(parts["m"]),
        torch.cat(parts["y"]),
        torch.cat(parts["w"]),
        torch.tensor(starts, dtype=torch.int64),
    )


def sample_windows(
    bank: LogitBank, n: int, window: int, context: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` window starts (each window inside one clip) and a ``[n, window]`` mask of the
    frames that take loss: all but the ``context`` frames at a window edge inside the clip."""
    lengths = bank.starts[1:] - bank.starts[:-1]
    usable = torch.nonzero(lengths >= window).squeeze(1)
    clip = usable[torch.randint(len(usable), (n,), generator=generator)]
    s, e = bank.starts[clip], bank.starts[clip + 1]
    # Drawn past the clip's ends by `context` so windows at its start and end come up often.
    span = (e - s - window + 2 * context + 1).clamp(min=1)
    off = (torch.rand(n, generator=generator) * span).long() - context
    a = (s + off).clamp(min=s, max=e - window)
    k = torch.arange(window)[None, :]
    at_start, at_end = (a == s)[:, None], (a + window == e)[:, None]
    mask = ((k >= context) | at_start) & ((k < window - context) | at_end)
    return a, mask


def train_refiner(
    config: TrainConfig,
    out: Path,
    *,
    cache_dir: Path,
    bank_path: Path | None = None,
    device: str | None = None,
) -> Tracker:
    """Load ``config.init_from`` (the body, frozen), add a fresh refiner, train it on windows of
    the logit bank (built once and kept at ``bank_path``), save the whole tracker."""
    torch.manual_seed(config.seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    payload = checkpoint.read_checkpoint(Path(config.init_from))
    body = checkpoint.build_tracker(payload)
    hp = NetworkHparams.from_dict(
        {**body.hparams.to_dict(), "refiner_channels": config.refiner_channels}
    )
    started = time.monotonic()
    if bank_path is not None and bank_path.is_file():
        bank = LogitBank.load(bank_path)
        log.info("logit bank %s: %d frames", bank_path, len(bank))
    else:
        bank = build_logit_bank(config, body, cache_dir)
        log.info("logit bank: %d frames in %.0f s", len(bank), time.monotonic() - started)
        if bank_path is not None:
            bank.save(bank_path)
    refiner = TemporalRefiner(hp, body.cqt_params.bins_per_octave)
    if body.refiner is not None and body.hparams.refiner_channels == hp.refiner_channels:
        # init_from already has a refiner of this shape: continue it rather than start afresh.
        refiner.load_state_dict(body.refiner.state_dict())
        log.info("continuing the refiner of %s", config.init_from)
    refiner = refiner.to(dev).train()
    context, window = refiner.context_frames, config.refiner_window
    optimizer = torch.optim.AdamW(
        refiner.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    generator = torch.Generator().manual_seed(config.seed)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    from models.training.common import (
        in_pitch_range,
        one_cycle,
        pitch_targets,
        save_run,
        time_progress,
    )

    train_started = time.monotonic()
    deadline = train_started + 60.0 * config.max_minutes
    k = torch.arange(window)
    step = 0
    for step in range(1, config.steps + 1):
        progress = time_progress(step, config.steps, train_started, deadline)
        if progress >= 1.0:
            step -= 1
            break
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * one_cycle(progress)
        a, mask = sample_windows(bank, config.refiner_batch, window, context, generator)
        idx = a[:, None] + k[None, :]
        logits = bank.pitch_logits[idx].float().to(dev)
        refined = refiner(logits, bank.voicing_logit[idx].to(dev), bank.loudness[idx].to(dev))
        midi = bank.midi[idx].to(dev)
        pitched = (
            mask.to(dev)
            & (bank.voiced[idx].to(dev) > 0)
            & (bank.voicing_weight[idx].to(dev) > 0)
            & in_pitch_range(midi, body)
        )
        if not pitched.any():
            continue
        target = pitch_targets(midi[pitched], body, config.pitch_sigma_cents)
        loss = bce(refined[pitched], target) * 10.0
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 200 == 0 or step == 1:
            with torch.no_grad():
                before = bce(logits[pitched], target).item() * 10.0
            log.info(
                "step %d loss %.4f (body alone %.4f) (%.0f s)",
                step,
                loss.item(),
                before,
                time.monotonic() - started,
            )
    tracker = body.with_refiner(hp.refiner_channels)
    assert tracker.refiner is not None
    tracker.refiner.load_state_dict(refiner.cpu().state_dict())
    tracker.eval()
    save_run(tracker, out, config, steps_done=step, frames=len(bank), started=started,
             body=payload.get("meta", {}))  # fmt: skip
    return tracker
