"""Checking a take against its tune in an ordinary room (issue 24): bench.score's takes in noise.

bench.score's 24 learners' takes (the same tunes, mistakes, seed 2026 and TimGM6mb renders) are
played in rooms and against noises that neither training nor any tuning has used, and checked
against their tunes exactly as bench.score checks the dry takes (its ``judge``):

* **Rooms**: :func:`models.training.augment.room_bank` shoeboxes of seed 7171 (training drew
  seeds 1234, 4321 and 5151, bench.gate 999, the tests 5), one a take.
* **Noise**: a talker, babble of 2-6 talkers, a TV (a presenter over a music bed of random
  chords) and pink noise, in turn by take, from a bank of seed 7171 spoken by espeak-ng voices
  and sentences that no training run (:data:`models.training.augment.TRAIN_VOICES`,
  ``TRAIN_SENTENCES``) and no other bench (``models.training.rooms.SENTENCES_RU``, the default
  ``ru`` voice) uses; excerpts drawn from seed 7172.
* **SNR**: 20 dB and 10 dB of the reverberant take's active level over the noise
  (:func:`models.training.rooms.mix_at_snr`), the same room and excerpt at both; and the dry
  take (bench.score's own figures).

Each row is read twice: as the product does today, and with the score-informed second pass
(:mod:`core.plan.informed`). The clean takes (one per instrument) count their flags at every
SNR: a child who played it right must hear nothing wrong.

Tuning is done on ``--dev`` only (bench.score's dev set: songbook tunes, FluidR3, seed 7; rooms
and noise of seed 7070, excerpts 7071), printed and never published.

Run: ``python -m bench.score --noisy [--dev] [--diagnose]`` (a few minutes on 2 cores; writes
bench/results/score_noisy.md).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.signal import fftconvolve

from bench import score as bs
from bench.results_io import publish

EVAL_SEEDS = (7171, 7172)  # rooms and noise bank, excerpts: used by nothing else
DEV_SEEDS = (7070, 7071)
KINDS = ("talker", "babble", "tv", "pink")
CONDITIONS: tuple[float | None, ...] = (None, 20.0, 10.0)
SNRS = (20.0, 10.0)
# espeak-ng voices and sentences nothing else speaks (training: augment.TRAIN_VOICES and
# TRAIN_SENTENCES; bench.rooms: the default "ru" voice and rooms.SENTENCES_RU).
VOICES = ("ru+m1", "ru+f2", "ru+m4", "en-us+f1", "en-gb+m3", "de+f3", "nl+m2", "pt+f4")
SENTENCES = (
    "Бабушка, где мои тапочки? Я их вчера оставил у дивана.",
    "Суп уже на столе, идите все обедать, пока не остыл.",
    "А сейчас о главном: в городе открылся новый парк аттракционов.",
    "Ты уроки сделал? Покажи мне тетрадку по математике.",
    "Завтра обещают солнце и небольшой ветер, до двадцати градусов.",
    "Have you seen the keys? They were right here a minute ago.",
    "Stay tuned, after the break we talk to the winner of the cup.",
    "Wir fahren morgen früh zu Oma, pack bitte deine Sachen.",
)


def noise_bank(seed: int, seconds: float, sample_rate: int, cache: Path) -> dict[str, np.ndarray]:
    """Talker, babble, TV and pink noise (RMS 1 each) from this bench's voices, cached."""
    from models.training import augment, rooms

    path = cache / f"score-noisy-{seed}-{seconds:g}-{sample_rate}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in KINDS}
    rng = np.random.default_rng([seed, 2424])
    pool = [
        rooms.speech(
            str(rng.choice(SENTENCES)),
            sample_rate,
            voice=str(rng.choice(VOICES)),
            pitch=int(rng.integers(15, 95)),
            words_per_minute=int(rng.integers(120, 210)),
        )
        for _ in range(24)
    ]
    n = round(seconds * sample_rate)
    babble = np.zeros(n)
    a = 0
    while a < n:
        b = min(n, a + round(float(rng.uniform(4.0, 12.0)) * sample_rate))
        babble[a:b] = augment._normalised(
            augment._talkers(rng, pool, b - a, int(rng.integers(2, 7)))
        )
        a = b
    presenter = augment._normalised(augment._talkers(rng, pool, n, 1))
    bed = augment._normalised(augment._music_bed(rng, n, sample_rate))
    bank = {
        "talker": augment._normalised(augment._talkers(rng, pool, n, 1)),
        "babble": augment._normalised(babble),
        "tv": augment._normalised(presenter + 10 ** (-float(rng.uniform(0.0, 6.0)) / 20) * bed),
        "pink": rooms.pink_noise(rng, n),
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **bank)  # type: ignore[arg-type]
    return bank


@dataclass
class Scene:
    """One take in its room, with its noise excerpt (mixed at each SNR on demand)."""

    take: bs.Take
    wet: npt.NDArray[np.float64]
    noise: npt.NDArray[np.float64]
    kind: str
    # A clean take also gets an excerpt of every other kind: the turn-by-take order gives all
    # six clean takes the same kind, and a learner's room may hold any of them.
    other_noises: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    def audio(self, snr_db: float | None, kind: str | None = None) -> npt.NDArray[np.float32]:
        from models.training import rooms

        if snr_db is None:
            return self.take.audio
        noise = self.noise if kind in (None, self.kind) else self.other_noises[str(kind)]
        return rooms.mix_at_snr(self.wet, noise, snr_db, bs.SR)


def scenes(dev: bool, cache: Path) -> list[Scene]:
    from models.training import augment

    seed, excerpt_seed = DEV_SEEDS if dev else EVAL_SEEDS
    irs = augment.room_bank(seed, 24, bs.SR, cache)
    bank = noise_bank(seed, 90.0, bs.SR, cache)
    soundfont = bs.FLUIDR3 if dev else bs.TIMGM6MB
    tunes = bs.dev_scores() if dev else [bs.make_score(*tune) for tune in bs.TUNES]
    rng = np.random.default_rng(bs.DEV_SEED if dev else 2026)
    pick = np.random.default_rng(excerpt_seed)
    pick_more = np.random.default_rng(excerpt_seed + 1)  # apart: the takes' excerpts stay put
    out = []
    for i, (_, take) in enumerate(bs.learner_takes(rng, tunes, bs.INSTRUMENTS, 3, soundfont)):
        dry = take.audio.astype(np.float64)
        wet = fftconvolve(dry, irs[i % len(irs)].astype(np.float64))[: len(dry)]
        wet *= np.abs(dry).max() / max(1e-12, np.abs(wet).max())
        kind = KINDS[i % len(KINDS)]
        start = int(pick.integers(0, len(bank[kind]) - len(dry)))
        scene = Scene(take, wet, bank[kind][start : start + len(dry)].astype(np.float64), kind)
        for other in KINDS if take.clean else ():
            if other != kind:
                at = int(pick_more.integers(0, len(bank[other]) - len(dry)))
                scene.other_noises[other] = bank[other][at : at + len(dry)].astype(np.float64)
        out.append(scene)
    return out


def clean_flags_by_kind(made: list[Scene], tracker: object) -> list[str]:
    """Flags on the clean takes (played right) under every kind of noise at each SNR, as the
    product reads them by default: the table's clean-take column sees one kind only."""
    clean = [scene for scene in made if scene.take.clean]
    lines = ["| noise | " + " | ".join(f"{snr:g} dB" for snr in SNRS) + " |",
             "| --- |" + " --- |" * len(SNRS)]  # fmt: skip
    for kind in KINDS:
        cells = []
        for snr in SNRS:
            row = Row()
            for scene in clean:
                check(scene, snr, False, tracker, row, False, kind=kind)
            refused = f" ({row.refused} refused)" if row.refused else ""
            cells.append(f"{row.tally.clean_flags}{refused}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return [
        f"Flags on the {len(clean)} clean takes under each kind of noise (the same rooms; "
        "today's reading; 'talker' is one voice, 'babble' 2-6, 'tv' a presenter over "
        "music):",
        "",
        *lines,
    ]


@dataclass
class Row:
    tally: bs.Tally = field(default_factory=bs.Tally)
    refused: int = 0
    seconds: float = 0.0
    causes: Counter[str] = field(default_factory=Counter)
    late: bs.Tally = field(default_factory=bs.Tally)  # forgiving cuts up to LATE_CUT_S late

    def cells(self) -> str:
        t = self.tally
        f1 = " | ".join(f"{t.score(k):.3f}" for k in ("wrong", "missed", "extra"))
        return (f"{t.right / max(1, t.judged):.3f} | {f1} | {t.unsegmented} | {self.refused} "
                f"| {t.clean_flags}")  # fmt: skip

    def late_cells(self) -> str:
        t = self.late
        f1 = " | ".join(f"{t.score(k):.3f}" for k in ("wrong", "missed", "extra"))
        return f"{t.right / max(1, t.judged):.3f} | {f1} | {t.unsegmented}"


def forgiving_late_cuts(take: bs.Take, onsets: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The onsets with each note cut late (up to bench.score.LATE_CUT_S after a performed
    note that has no note within 80 ms, and no performed note of its own) moved onto that
    performed note's onset: what the judge would say if the ring's latency were forgiven."""
    out = onsets.copy()
    own = {k for p in take.played if (k := bs.note_of(onsets, p)) is not None}
    for p in take.played:
        if bs.note_of(onsets, p) is not None:
            continue
        late = np.flatnonzero((onsets > p.onset_s) & (onsets <= p.onset_s + bs.LATE_CUT_S))
        if len(late) and int(late[0]) not in own:
            out[late[0]] = p.onset_s
            own.add(int(late[0]))
    return out


def check(scene: Scene, snr_db: float | None, informed: bool, tracker: object, row: Row,
          diagnose: bool, kind: str | None = None) -> None:  # fmt: skip
    from core.errors import InputError
    from core.pipeline import CorrectOptions
    from core.plan.planner import plan_correction

    take = scene.take
    options = CorrectOptions(score=take.score, informed=informed)
    t0 = time.perf_counter()
    try:
        audio = scene.audio(snr_db, kind)[np.newaxis]  # timed as before: the mix included
        plan = plan_correction(audio, bs.SR, options, tracker=tracker)  # type: ignore[arg-type]
    except InputError:
        row.refused += 1
        return
    finally:
        row.seconds += time.perf_counter() - t0
    assert plan.alignment is not None
    onsets = np.array([t.note.start_s for t in plan.targets])
    offsets = np.array([t.note.end_s for t in plan.targets])
    missed = [m.score_index for m in plan.alignment.missed]
    bs.judge(take, bs.our_verdicts(plan), missed, onsets, row.tally)
    bs.judge(take, bs.our_verdicts(plan), missed, forgiving_late_cuts(take, onsets), row.late)
    for q, cause, detail in bs.causes(take, plan, onsets, offsets):
        row.causes[cause] += 1
        if diagnose:
            at = f"{take.played[q].onset_s:.2f} s" if q >= 0 else "-"
            where = "clean" if take.clean else "take"
            print(f"  [{snr_db} dB, {'informed' if informed else 'today'}] {take.name} "
                  f"({where}, {scene.kind}) {at}: {cause}: {detail}", flush=True)  # fmt: skip


def cost(tracker: object, cache: Path) -> str:
    """What the second listening adds to ``correct_file`` on bench.score's speed yardstick: a
    60 s take (bench.score.long_take, seed 4242) in a room of this bench's bank with babble at
    10 dB (so that the pass runs: a clean take never reaches it), under a 1280x720 30 fps
    picture, with its tune, without and with the pass, best of three each, interleaved; and
    what it adds to planning alone on the same analysis."""
    import tempfile

    from scipy.io import wavfile

    from bench.retune import under_720p_picture
    from core.analysis.clip import analyse
    from core.media.spool import ArraySource
    from core.pipeline import CorrectOptions, correct_file
    from core.plan.planner import plan_correction
    from models.training import augment, rooms

    take, program = bs.long_take(np.random.default_rng(4242), 60.0)
    dry = bs.render(take, program).astype(np.float64)
    ir = augment.room_bank(EVAL_SEEDS[0], 24, bs.SR, cache)[0].astype(np.float64)
    wet = fftconvolve(dry, ir)[: len(dry)]
    wet *= np.abs(dry).max() / max(1e-12, np.abs(wet).max())
    babble = noise_bank(EVAL_SEEDS[0], 90.0, bs.SR, cache)["babble"]
    noise = np.resize(babble, len(wet)).astype(np.float64)
    audio = rooms.mix_at_snr(wet, noise, 10.0, bs.SR)[None, :]
    source = ArraySource(audio, bs.SR)
    analysis = analyse(source, tracker=tracker)  # type: ignore[arg-type]

    def plan(**kw: bool) -> None:
        options = CorrectOptions(score=take.score, **kw)  # type: ignore[arg-type]
        plan_correction(None, bs.SR, options, analysis=analysis, source=source)

    plan_s = bs.best_of_three_interleaved(lambda: plan(), lambda: plan(informed=True))
    deaf_s = bs.best_of_three_interleaved(lambda: plan(hear_onsets=False), lambda: plan())
    with tempfile.TemporaryDirectory(prefix="smask-informed-speed-") as tmp_name:
        tmp = Path(tmp_name)
        wav, clip = tmp / "take.wav", tmp / "take720p.mp4"
        wavfile.write(wav, bs.SR, np.repeat(audio.astype(np.float32), 2, axis=0).T)
        under_720p_picture(wav, clip, audio.shape[-1] / bs.SR)

        def correct(**kw: bool) -> None:
            options = CorrectOptions(score=take.score, **kw)  # type: ignore[arg-type]
            correct_file(clip, tmp / "out.mp4", options, tracker=tracker)  # type: ignore[arg-type]

        today_s, informed_s = bs.best_of_three_interleaved(
            lambda: correct(), lambda: correct(informed=True)
        )
        deaf_file_s, _ = bs.best_of_three_interleaved(
            lambda: correct(hear_onsets=False), lambda: correct()
        )
    added = max(0.0, plan_s[1] - plan_s[0])
    heard = max(0.0, deaf_s[1] - deaf_s[0])
    return (
        f"Cost: a {audio.shape[-1] / bs.SR:.0f} s take in a room with babble at 10 dB "
        f"(harmonicity {analysis.track.harmonicity_db:.1f} dB: the pass runs), with its tune: "
        f"planning {1000 * plan_s[0]:.0f} ms today, {1000 * plan_s[1]:.0f} ms with the pass "
        f"(+{1000 * added:.0f} ms); the same as a 1280x720 30 fps clip, `correct_file` end to "
        f"end {today_s:.2f} s today, {informed_s:.2f} s with the pass; the pass's "
        f"{1000 * added:.0f} ms are {100 * added / today_s:.1f} % of it (best of three each, "
        "interleaved, under whatever else the machine ran). The onset network "
        f"(core.analysis.onsets, on by default in such a take) adds {1000 * heard:.0f} ms to "
        f"planning ({1000 * deaf_s[0]:.0f} -> {1000 * deaf_s[1]:.0f} ms); `correct_file` "
        f"without it {deaf_file_s:.2f} s, so it is {100 * heard / deaf_file_s:.1f} % of it."
    )


def run(
    dev: bool,
    diagnose: bool,
    cache: Path,
    modes: tuple[bool, ...] = (False, True),
    conditions: tuple[float | None, ...] = CONDITIONS,
    publish_table: bool = True,
) -> str:
    from models.checkpoint import load_tracker

    tracker = load_tracker("auto", "cpu")
    made = scenes(dev, cache)
    rows: dict[tuple[float | None, bool], Row] = {}
    for snr in conditions:
        for informed in modes:
            row = rows[(snr, informed)] = Row()
            for scene in made:
                check(scene, snr, informed, tracker, row, diagnose)
            print(f"{snr} dB informed={informed}: {row.cells()}", flush=True)
    ref = next(iter(rows.values())).tally
    which = "the dev set: songbook tunes, FluidR3, seed 7" if dev else "its tunes, seed 2026"
    lines = [
        "# Checking a take against its tune in an ordinary room (bench/score_noisy.py)",
        "",
        f"bench.score's {len(made)} takes ({which}; "
        f"{ref.judged} performed score notes, {ref.f1['wrong'][2]} wrong, {ref.f1['missed'][2]} "
        f"missed, {ref.f1['extra'][2]} extra; one clean take per instrument) in rooms of seed "
        f"{(DEV_SEEDS if dev else EVAL_SEEDS)[0]} (augment.room_bank) with a talker, babble, a TV "
        "or pink noise in turn (this bench's own voices and sentences), at 20 and 10 dB SNR "
        "against the reverberant take's active level; 'dry' is the take as bench.score reads "
        "it. 'today': the product as it was; 'informed': with the score-informed second pass "
        "(core.plan.informed). Flags: wrong, missed or extra verdicts on the six clean takes.",
        "",
        "| condition | reading | matched | wrong F1 | missed F1 | extra F1 | merged away "
        "| refused | flags on clean takes | planning s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (snr, informed), row in rows.items():
        cond = "dry" if snr is None else f"room + {snr:g} dB"
        lines.append(f"| {cond} | {'informed' if informed else 'today'} | {row.cells()} "
                     f"| {row.seconds:.1f} |")  # fmt: skip
    lines += [
        "",
        "The same readings, judged forgiving the room's latency: a note cut 80-200 ms after a "
        "performed note's onset (no note within 80 ms, none of its own: bench.score's 'late "
        "cut') counts as that note's. How much of the gap is the onset heard late in the ring "
        "(the verdict itself right or wrong) rather than a misreading:",
        "",
        "| condition | reading | matched | wrong F1 | missed F1 | extra F1 | merged away |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (snr, informed), row in rows.items():
        cond = "dry" if snr is None else f"room + {snr:g} dB"
        lines.append(f"| {cond} | {'informed' if informed else 'today'} | {row.late_cells()} |")
    lines += ["", "Misreadings by cause (bench.score.causes; `--diagnose` lists each):", ""]
    for (snr, informed), row in rows.items():
        cond = "dry" if snr is None else f"{snr:g} dB"
        causes = ", ".join(f"{c} {n}" for c, n in row.causes.most_common()) or "none"
        lines.append(f"- {cond}, {'informed' if informed else 'today'}: {causes}")
    lines += ["", *clean_flags_by_kind(made, tracker)]
    if not dev:
        lines += ["", cost(tracker, cache)]
    lines += [
        "",
        "Run: `python -m bench.score --noisy` (`--dev` for the tuning set, printed only).",
    ]
    text = "\n".join(lines)
    if not dev and publish_table:
        publish("score_noisy", text)
    else:
        print(text)
    return text
