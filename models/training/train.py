"""Train the pitch network: ``python -m models.training.train --config
models/configs/default.toml``.

The recipe (seeded, so the same command on the same machine gives the same weights):
render phrases from FluidR3 with fluidsynth (cached under ``--cache``), add additive synthetic
phrases, make one augmented copy of each (room, noise, gain), compute CQT frames with the same
front end inference uses, then train with Adam on random batches of frames: per-bin BCE
against a Gaussian around the true pitch (CREPE's target) plus BCE on voicing. Stops after
``steps`` or ``max_minutes``, whichever comes first, and writes a self-describing checkpoint.
Uses cuda when present.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from models import checkpoint
from models.config import TrainConfig
from models.cqt import CqtParams
from models.network import NetworkHparams, Tracker
from models.training import dataset
from models.training.common import (
    in_pitch_range,
    one_cycle,
    pitch_targets,
    save_run,
    time_progress,
    training_clips,
)

log = logging.getLogger("models.training.train")


def build_bank(config: TrainConfig, tracker: Tracker, cache_dir: Path) -> dataset.FrameBank:
    clips, banks = training_clips(config, cache_dir)
    rng = np.random.default_rng(config.seed)
    return dataset.frame_bank(clips, tracker.cpu(), config=config, rng=rng, room_banks=banks)


def train(config: TrainConfig, out: Path, *, cache_dir: Path, device: str | None = None) -> Tracker:
    torch.manual_seed(config.seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    tracker = Tracker(
        NetworkHparams(channels=config.channels, n_pitch_bins=config.n_pitch_bins),
        CqtParams(high_n_bins=config.cqt_high_bins),
    )
    if config.init_from:
        # The network's weights do not depend on how many bins it reads (convolutions over
        # log-frequency), so earlier weights are a starting point for a wider range.
        payload = checkpoint.read_checkpoint(Path(config.init_from))
        net_state = {k[4:]: v for k, v in payload["state_dict"].items() if k.startswith("net.")}
        tracker.net.load_state_dict(net_state)
        log.info("starting from %s", config.init_from)
    started = time.monotonic()
    bank = build_bank(config, tracker, cache_dir)
    log.info(
        "%d frames (%.0f%% voiced) in %.0f s",
        len(bank),
        100 * bank.voiced.mean().item(),
        time.monotonic() - started,
    )
    in_range = in_pitch_range(bank.midi, tracker)

    net = tracker.net.to(dev).train()
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=max(1, config.steps), pct_start=0.1
    )
    generator = torch.Generator().manual_seed(config.seed)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    deadline = started + 60.0 * config.max_minutes
    train_started = time.monotonic()
    step = 0
    for step in range(1, config.steps + 1):
        if config.schedule_by_time:
            progress = time_progress(step, config.steps, train_started, deadline)
            if progress >= 1.0:
                log.warning("stopping at step %d: max_minutes=%s reached", step, config.max_minutes)
                step -= 1
                break
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * one_cycle(progress)
        idx = torch.randint(len(bank), (config.batch_frames,), generator=generator)
        x = bank.log_cqt[idx].to(dev)
        midi, voiced = bank.midi[idx].to(dev), bank.voiced[idx].to(dev)
        v_weight = bank.voicing_weight[idx].to(dev)
        pitched = (voiced > 0) & in_range[idx].to(dev) & (v_weight > 0)
        pitch_logits, voicing_logit = net(x)
        loss = config.voicing_loss_weight * bce(voicing_logit, voiced, weight=v_weight)
        if pitched.any():
            target = pitch_targets(midi[pitched], tracker, config.pitch_sigma_cents)
            loss = loss + bce(pitch_logits[pitched], target) * 10.0
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not config.schedule_by_time:
            scheduler.step()
        if step % 200 == 0 or step == 1:
            log.info("step %d loss %.4f (%.0f s)", step, loss.item(), time.monotonic() - started)
        if time.monotonic() > deadline:
            log.warning("stopping at step %d: max_minutes=%s reached", step, config.max_minutes)
            break

    tracker.net = net.cpu().eval()
    save_run(tracker, out, config, steps_done=step, frames=len(bank), started=started)
    return tracker


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m models.training.train", description="Train the pitch network (CPU or cuda)."
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("models/configs/default.toml"),
        help="TOML file overriding models.config.TrainConfig",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/pitch/latest.pt"),
        help="checkpoint to write (copy to models/weights/default.pt to ship)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("runs/cache"),
        help="folder for rendered clips (git-ignored)",
    )
    parser.add_argument(
        "--bank",
        type=Path,
        default=None,
        help="refiner configs: the frozen body's logit bank, built once and kept here",
    )
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    parser.add_argument("--steps", type=int, default=None, help="override the config's steps")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock cap")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    config = TrainConfig.from_toml(args.config)
    overrides = {}
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.max_minutes is not None:
        overrides["max_minutes"] = args.max_minutes
    config = config.override(**overrides)
    if config.refiner_channels > 0:
        from models.training.train_refiner import train_refiner

        train_refiner(
            config, args.out, cache_dir=args.cache, bank_path=args.bank, device=args.device
        )
    else:
        train(config, args.out, cache_dir=args.cache, device=args.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
