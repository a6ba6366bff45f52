"""Where the "auto" pitch model turns its temporal refiner on: the harmonicity gate's evidence.

The shipped refiner (models/weights/refiner.pt) reads 0.41 s either side of each frame: in a
noisy, echoing room that keeps a note on its pitch where the per-frame body hops, on a clean
learner's take it smooths a short extra note into its neighbours (bench.score). The product's
model ("auto") tracks each take with the body alone and again with the refiner when the take's
median harmonicity (models.decode.harmonicity_db, from the lag search's NCCF peaks) is below
models.decode.REFINE_BELOW_HARMONICITY_DB. This bench is where that number comes from, on
takes none of the other benches score: FluidR3 phrases of every melody program not rendered
for training (seed 31337), in random rooms drawn like the training rooms but from another seed
(models.training.augment.room_bank seed 999: never the bench.rooms geometries) with the training
noise
kinds from another bank (seed 999), at fixed SNRs from dry to 0 dB. It reports steady-frame RPA
for both models by SNR and by the take's harmonicity, the steady median of the noisy takes'
longer lag search (models.decode.NOISY_SEARCH) against shorter ones, bench.score's learners'
takes in those rooms at 10 dB checked against their tunes by each model, and the harmonicity
of the real takes.

Run: ``python -m bench.gate`` (about a minute and a half; writes bench/results/gate.md).
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.pitch import RATE, SHARED_EVAL, load_real
from bench.results_io import publish
from bench.rooms import _steady_cents, room_truth
from core.analysis.pitch import track_pass, track_pitch
from core.media.spool import ArraySource
from models import decode
from models.checkpoint import load_tracker
from models.training import augment, dataset, rooms, synth

SEARCHES = (
    decode.CLEAN_SEARCH,
    decode.NOISY_SEARCH,
    decode.LagSearch(0.05, decode.NOISY_MIN_LAG_S),
    decode.LagSearch(0.05, 0.018),
)
SNRS_DB: tuple[float | None, ...] = (None, 30.0, 20.0, 15.0, 10.0, 5.0, 0.0)
BANDS_DB = (-np.inf, 3.0, 6.0, 9.0, 12.0, 14.0, 16.0, 20.0, np.inf)
REAL_TAKES = ("kids_tree_portrait.mov", "flute_take_smask.wav")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "sample.mp4"


@dataclass(frozen=True)
class Take:
    snr_db: float | None
    harmonicity_db: float  # what auto's gate read (the body's first 500 voiced frames)
    refined: bool  # auto took the refiner
    right: dict[str, int]  # steady frames within 50 cents, per model
    steady: int


def material(
    cache: Path, clip_s: float
) -> tuple[list[dataset.Clip], list[augment.FloatArray], dict[str, augment.FloatArray]]:
    """The phrases, room impulse responses and noises no other bench (and no training run)
    draws: FluidR3 phrases of seed 31337, rooms and noise banks of seed 999."""
    clips = dataset.render_clips(
        synth.FLUIDR3,
        sorted(synth.MELODY_PROGRAMS),
        clips_per_program=1,
        clip_s=clip_s,
        seed=31337,
        cache_dir=cache,
    )
    return (
        clips,
        augment.room_bank(999, 16, RATE, cache),
        augment.noise_bank(999, 60.0, RATE, cache),
    )


def measure(cache: Path, clip_s: float) -> list[Take]:
    clips, irs, noises = material(cache, clip_s)
    trackers = {name: load_tracker(name, "cpu") for name in ("default", "refiner", "auto")}
    rng = np.random.default_rng(5)
    takes = []
    for snr in SNRS_DB:
        for clip in clips:
            audio = clip.audio
            if snr is not None:
                audio = augment.room_mix(rng, audio, RATE, irs, noises, snr_db=(snr, snr)).audio
            right, harmonicity, refined, steady = {}, np.inf, False, 0
            for name, tracker in trackers.items():
                track = track_pitch(audio, RATE, tracker=tracker)
                if name == "auto":
                    harmonicity, refined = track.harmonicity_db, track.refined
                err, mask = _steady_cents(np.nan_to_num(track.f0_hz), clip.truth)
                right[name] = int(np.sum(err[mask] <= 50.0))
                steady = int(mask.sum())
            takes.append(Take(snr, harmonicity, refined, right, steady))
    return takes


def lag_searches(cache: Path, clip_s: float) -> list[str]:
    """Rows: the refiner's pass with each lag search on the same phrases in rooms of known
    impulse response (so the room's truth can be scored), no noise and 10 dB."""
    clips, irs, noises = material(cache, clip_s)
    kinds = ("pink", "babble", "tv")
    rng = np.random.default_rng(11)
    scenes = []
    for i, clip in enumerate(clips):
        ir = irs[i % len(irs)]
        wet = rooms.reverberate(clip.audio, ir)
        bank = noises[kinds[i % len(kinds)]]
        start = int(rng.integers(0, len(bank) - len(wet)))
        truth = room_truth(clip.truth, clip.audio, ir)
        scenes.append((clip, wet, bank[start : start + len(wet)], truth))
    refiner = load_tracker("refiner", "cpu")
    rows = []
    for search in SEARCHES:
        cells = []
        for snr in (None, 10.0):
            errors = []
            for clip, wet, noise, truth in scenes:
                audio = wet if snr is None else rooms.mix_at_snr(wet, noise, snr, RATE)
                source = ArraySource(audio[np.newaxis], RATE)
                f0 = track_pass(source, refiner, refine=True, search=search).f0_hz
                err, mask = _steady_cents(np.nan_to_num(f0), clip.truth, truth)
                errors.append(err[mask])
            both = np.concatenate(errors)
            cells.append(f"{np.nanmedian(both):.2f} c / {100 * np.mean(both <= 50.0):.2f}%")
        label = f"{1000 * search.window_s:g} ms, lag >= {1000 * search.min_lag_s:g} ms"
        if search == decode.CLEAN_SEARCH:
            label += " (clean takes)"
        if search == decode.NOISY_SEARCH:
            label += " (noisy takes)"
        rows.append(f"| {label} | {' | '.join(cells)} |")
    return rows


def learners_in_noise(cache: Path, snr_db: float) -> list[str]:
    """Rows: bench.score's learners' takes (same tunes, mistakes and rendering) in those rooms
    with noise at ``snr_db``, checked against their tunes by each model: does the refiner's
    smoothing of short notes cost more than its steadier pitch gives, where auto uses it?"""
    import torch
    import torchaudio.functional as taf

    from bench import score as bs
    from core.errors import InputError
    from core.pipeline import CorrectOptions
    from core.plan.planner import plan_correction

    _, irs, noises = material(cache, 1.0)
    tunes = [bs.make_score(*tune) for tune in bs.TUNES]
    mix_rng = np.random.default_rng(77)
    takes = []
    # bench.score's own draw: three takes with mistakes and one clean take per instrument.
    rng = np.random.default_rng(2026)
    for _, take in bs.learner_takes(rng, tunes, bs.INSTRUMENTS, 3, bs.TIMGM6MB):
        audio = taf.resample(torch.from_numpy(take.audio), bs.SR, RATE).numpy()
        mixed = augment.room_mix(mix_rng, audio, RATE, irs, noises, snr_db=(snr_db, snr_db))
        takes.append((take, mixed.audio))
    rows = []
    for name in ("default", "refiner", "auto"):
        tracker = load_tracker(name, "cpu")
        tally, refused = bs.Tally(), 0
        for take, audio in takes:
            try:
                plan = plan_correction(
                    audio[np.newaxis], RATE, CorrectOptions(score=take.score), tracker=tracker
                )
            except InputError:  # too quiet or too noisy to find a note: told to the user
                refused += 1
                continue
            assert plan.alignment is not None
            onsets = np.array([t.note.start_s for t in plan.targets])
            missed = [m.score_index for m in plan.alignment.missed]
            bs.judge(take, bs.our_verdicts(plan), missed, onsets, tally)
        rows.append(
            f"| {name} | {tally.right / max(1, tally.judged):.3f} | {tally.score('wrong'):.3f} "
            f"| {tally.score('missed'):.3f} | {tally.score('extra'):.3f} | {tally.unsegmented} "
            f"| {refused} |"
        )
    return rows


def _rpa(takes: list[Take], model: str) -> str:
    steady = sum(t.steady for t in takes)
    return f"{100 * sum(t.right[model] for t in takes) / max(1, steady):.2f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gate", description=__doc__)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"))
    parser.add_argument("--clip-s", type=float, default=10.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    takes = measure(args.cache, args.clip_s)
    gate = decode.REFINE_BELOW_HARMONICITY_DB
    lines = [
        "# The harmonicity gate of the auto pitch model (bench/gate.py)",
        "",
        f"{len(takes) // len(SNRS_DB)} FluidR3 phrases x {args.clip_s:g} s (seed 31337, one "
        "per melody program), dry and in random unseen rooms with the training noise kinds at "
        "each SNR. Steady-frame RPA (50 cents) of the per-frame body (default.pt), the "
        f"refiner (refiner.pt, every take, the clean lag search) and auto (the product: the "
        f"body, or below {gate:g} dB harmonicity the refiner with a noisy take's lag search).",
        "",
        "| condition | takes | median harmonicity | default | refiner | auto | auto refined |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for snr in SNRS_DB:
        rows = [t for t in takes if t.snr_db == snr]
        lines.append(
            f"| {'dry' if snr is None else f'room + {snr:g} dB'} | {len(rows)} | "
            f"{np.median([t.harmonicity_db for t in rows]):.1f} dB | {_rpa(rows, 'default')} | "
            f"{_rpa(rows, 'refiner')} | {_rpa(rows, 'auto')} | {sum(t.refined for t in rows)} |"
        )
    lines += [
        "",
        "By the take's harmonicity (every condition pooled): where the refiner starts to pay.",
        "",
        "| harmonicity | takes | default | refiner | refiner's extra right frames |",
        "| --- | --- | --- | --- | --- |",
    ]
    for lo, hi in itertools.pairwise(BANDS_DB):
        rows = [t for t in takes if lo <= t.harmonicity_db < hi]
        if rows:
            gain = sum(t.right["refiner"] - t.right["default"] for t in rows)
            lines.append(
                f"| {lo:g} to {hi:g} dB | {len(rows)} | {_rpa(rows, 'default')} | "
                f"{_rpa(rows, 'refiner')} | {gain:+d} |"
            )
    lines += [
        "",
        "The lag search of a noisy take's refined pass (models.decode.NOISY_SEARCH): the "
        "refiner's steady median against the room's truth (bench.rooms.room_truth) / "
        "steady RPA, the same phrases in 16 of those rooms (known impulse responses), pink, "
        "babble or TV noise:",
        "",
        "| lag search | rooms, no noise | rooms + 10 dB |",
        "| --- | --- | --- |",
        *lag_searches(args.cache, args.clip_s),
    ]
    lines += [
        "",
        "Learners' takes in noise: bench.score's 24 takes (its tunes, mistakes and TimGM6mb "
        "renders) in those rooms with the training noises at 10 dB, checked against their "
        "tunes (bench.score's judge: performed notes matched to the right score note, F1 of "
        "wrong, missed and extra notes; performed notes the note cutter merged away; takes "
        "refused as too quiet or unpitched):",
        "",
        "| model | matched | wrong F1 | missed F1 | extra F1 | merged away | refused |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *learners_in_noise(args.cache, 10.0),
    ]
    lines += ["", "Harmonicity of real takes (auto's reading), none of them used above:", ""]
    auto = load_tracker("auto", "cpu")
    for path in [SHARED_EVAL / name for name in REAL_TAKES] + [SAMPLE]:
        if not path.is_file():
            lines.append(f"- {path.name}: skipped, {path} is absent")
            continue
        h = track_pitch(load_real(path), RATE, tracker=auto).harmonicity_db
        lines.append(f"- {path.name}: {h:.1f} dB ({'refiner' if h < gate else 'default'})")
    text = "\n".join(lines)
    if args.no_write:
        print(text)
    else:
        publish("gate", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
