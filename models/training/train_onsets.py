"""Train the onset network (:mod:`models.onsets`) on learners' lines in random rooms with noise.

Each line is a monophonic phrase as a learner plays it: mostly steps, a quarter of its notes
re-struck at the same pitch (the case a room hides best), legato or slightly detached, notes
from 0.1 to 1.2 s, detuned and with vibrato at times; rendered with FluidR3 (the held-out
benches use TimGM6mb) in one of the melodic programs, then put in a training room with a
training noise (:func:`models.training.augment.room_mix`: training seeds, voices and sentences
only, nothing any bench uses). The label is each note-on, widened to its neighbouring frames
(half weight), as an onset is only defined to about a frame.

Run: ``python -m models.training.train_onsets --out runs/onsets/onsets.pt`` (about 15 minutes on
2 CPU cores; writes the weights and prints held-out-line F-measures). ``make train-onsets``.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from models import onsets
from models.training import augment, synth

log = logging.getLogger(__name__)

ROOM_SEED = 1234  # the pitch training's rooms and noises (bench seeds: 999, 7070, 7171, 5)
STEPS = (-12, -7, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 12)
STEP_P = np.array([1, 1, 2, 2, 3, 6, 7, 12, 7, 6, 3, 2, 2, 1, 1], dtype=np.float64)
TOLERANCE_FRAMES = 5  # +-50 ms: an onset found this near a note-on is that note's


@dataclass
class Line:
    features: npt.NDArray[np.float32]  # [frames, N_BANDS]
    target: npt.NDArray[np.float32]  # [frames] 1 at a note-on, 0.5 beside it
    onset_frames: npt.NDArray[np.int64]


def learner_line(rng: np.random.Generator, program: int, duration_s: float) -> synth.Phrase:
    """A phrase as a learner plays it, re-struck repeats included (see the module's doc)."""
    low, high = synth.MELODY_PROGRAMS[program]
    midi = int(rng.integers(low + 4, high - 3))
    notes: list[synth.Note] = []
    t = float(rng.uniform(0.2, 0.6))
    while True:
        length = float(np.exp(rng.uniform(np.log(0.1), np.log(1.2))))
        if t + length > duration_s - 0.4:
            break
        sounded = length * float(rng.uniform(0.55, 0.85) if rng.random() < 0.2
                                 else rng.uniform(0.85, 0.98))  # fmt: skip
        detune = int(rng.integers(-45, 46)) if rng.random() < 0.7 else 0
        vib = float(rng.uniform(10, 40)) if rng.random() < 0.25 else 0.0
        notes.append(synth.Note(t, t + sounded, midi, detune, vib, float(rng.uniform(4.5, 6.5)),
                                velocity=int(rng.integers(55, 121))))  # fmt: skip
        t += length
        if rng.random() < 0.1:
            t += float(rng.uniform(0.05, 0.5))
        step = int(rng.choice(STEPS, p=STEP_P / STEP_P.sum()))
        midi = int(np.clip(midi + step, low, high))
    return synth.Phrase(notes=notes, duration_s=duration_s, program=program)


def make_lines(n: int, seed: int, cache: Path, *, duration_s: float = 12.0) -> list[Line]:
    """``n`` rendered lines, each in a random training room with training noise."""
    irs = augment.room_bank(ROOM_SEED, 32, onsets.SAMPLE_RATE, cache)
    noises = augment.noise_bank(ROOM_SEED, 90.0, onsets.SAMPLE_RATE, cache)
    programs = sorted(synth.MELODY_PROGRAMS)
    lines = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        phrase = learner_line(rng, int(rng.choice(programs)), duration_s)
        dry = synth.render_phrase(phrase, synth.FLUIDR3, onsets.SAMPLE_RATE)
        mixed = augment.room_mix(rng, dry, onsets.SAMPLE_RATE, irs, noises, snr_db=(3.0, 25.0))
        features = onsets.normalised(onsets.band_levels_db(mixed.audio))
        frames = np.array([round(note.onset_s * onsets.SAMPLE_RATE / onsets.HOP)
                           for note in phrase.notes], dtype=np.int64)  # fmt: skip
        target = np.zeros(len(features), dtype=np.float32)
        for f in frames:
            for d, w in ((-1, 0.5), (1, 0.5), (0, 1.0)):
                if 0 <= f + d < len(target):
                    target[f + d] = max(target[f + d], w)
        lines.append(Line(features, target, frames))
    return lines


def f_measure(
    net: onsets.OnsetNet, lines: list[Line], threshold: float
) -> tuple[float, float, float]:
    """(precision, recall, F) of the peaks (picked as the product picks them) against the
    note-ons, +-``TOLERANCE_FRAMES``."""
    tp = found_n = true_n = 0
    for line in lines:
        got = onsets.peak_frames(onsets.onset_probability(net, line.features), threshold)
        true = list(line.onset_frames)
        found_n += len(got)
        true_n += len(true)
        for g in got:
            near = [t for t in true if abs(t - g) <= TOLERANCE_FRAMES]
            if near:
                true.remove(min(near, key=lambda t: abs(t - g)))
                tp += 1
    p, r = tp / max(1, found_n), tp / max(1, true_n)
    return p, r, 2 * p * r / max(1e-9, p + r)


def train(lines: list[Line], *, steps: int, minutes: float, seed: int,
          hparams: onsets.OnsetHparams) -> onsets.OnsetNet:  # fmt: skip
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = onsets.OnsetNet(hparams)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    crop, batch = 400, 16
    started = time.monotonic()
    deadline = started + 60 * minutes
    for step in range(steps):
        progress = max(step / steps, (time.monotonic() - started) / (deadline - started))
        if progress >= 1:
            break
        for group in opt.param_groups:  # one cosine: the rate ends annealed, by steps or clock
            group["lr"] = 2e-3 * 0.5 * (1 + math.cos(math.pi * progress))
        xs, ys = [], []
        for _ in range(batch):
            line = lines[int(rng.integers(len(lines)))]
            a = int(rng.integers(0, max(1, len(line.target) - crop)))
            xs.append(torch.from_numpy(line.features[a : a + crop]))
            ys.append(torch.from_numpy(line.target[a : a + crop]))
        x, y = torch.stack(xs), torch.stack(ys)
        logits = net(x)
        weight = 1.0 + 4.0 * (y > 0)  # note-ons are 1 frame in 30
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0:
            log.info("step %d loss %.4f (%.1f min)", step, loss.item(),
                     (time.monotonic() - started) / 60)  # fmt: skip
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/onsets/onsets.pt"))
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--lines", type=int, default=480)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--seed", type=int, default=2468)
    parser.add_argument("--hidden", type=int, default=onsets.OnsetHparams.hidden)
    parser.add_argument("--dilations", default=",".join(map(str, onsets.OnsetHparams.dilations)))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t0 = time.monotonic()
    lines = make_lines(args.lines, args.seed, args.cache)
    held = lines[: len(lines) // 10]
    log.info("%d lines rendered in %.1f min", len(lines), (time.monotonic() - t0) / 60)
    t1 = time.monotonic()
    hparams = onsets.OnsetHparams(
        hidden=args.hidden, dilations=tuple(int(d) for d in args.dilations.split(","))
    )
    net = train(lines[len(held) :], steps=args.steps, minutes=args.minutes, seed=args.seed,
                hparams=hparams)  # fmt: skip
    minutes = (time.monotonic() - t1) / 60
    scores = {th: f_measure(net, held, th) for th in (0.3, 0.4, 0.5, 0.6)}
    for th, (p, r, f) in scores.items():
        log.info("held-out lines, threshold %.1f: precision %.3f recall %.3f F %.3f", th, p, r, f)
    onsets.save_onset_net(net, args.out, meta={
        "lines": args.lines, "seed": args.seed, "train_minutes": round(minutes, 1),
        "heldout_f": {str(k): round(v[2], 3) for k, v in scores.items()},
    })  # fmt: skip
    log.info("wrote %s (%.1f min training)", args.out, minutes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
