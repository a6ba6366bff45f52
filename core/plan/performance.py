"""Which notes belong to the performance: the rest of what a phone hears is not music.

A tracker calls anything periodic "voiced": a spoken count-in, a remark, mains hum, a fan,
people in the next room. Cut into notes, that background becomes phantom notes: named in the
report, counted in the means, and (worst) retuned, which pushes a spoken word onto a semitone
where everyone hears it. So after segmentation each note is judged the way a listener judges
it, on evidence from the note itself and from the rest of the take:

* **level**: how far below the performance it is (the performance's level is a high
  percentile of the notes' levels, weighted by duration, so a few loud phantoms cannot set
  it), and how far above the background (a low percentile of every frame's level: what the
  phone hears when nobody plays);
* **range**: how far its pitch lies outside the range of the loud notes (63 Hz under a
  child's 260-440 Hz is not the child);
* **harmonicity**: the tracker's voicing confidence and the share of frames whose fundamental
  the phase-locked measure (:func:`core.analysis.phase.frame_f0_hz`) could follow;
* **stability**: played and sung notes hold a pitch (vibrato swings around it), speech glides
  through its syllables: the steady part is short and a small share of the note;
* **place**: the performance's span runs from its first to its last plain note (loud, held,
  clearly pitched), grown over neighbours that follow on within ``ADJACENT_S`` and do not
  sound like background. A count-in or a remark after the take lies apart from it; there a
  note must hold its pitch longer than a syllable does (``MIN_STEADY_APART_S``), and being
  more than ``QUIET_APART_DB`` below the music already counts against it.

Each thing that speaks against a note is a doubt; ``DOUBTS_TO_DROP`` of them drop it, and three
drop it on their own: lying at the background's level, far below the music, or apart from the
performance without a held pitch (so a quiet opening note held before a rest stays). Amid the
music, being quiet is a doubt only far below the performance (``QUIET_DB``), so a note quiet
on purpose (a soft ending, a pianissimo 20 dB below the loudest) that holds a clear pitch
inside the take's range stays a note. The thresholds were set on generated takes (rendered music
with an espeak-ng count-in, hum and room noise: :mod:`models.training.rooms`), not on the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from core.plan.segment import Note

QUIET_DB = 25.0  # dB below the performance: "quiet" for a note amid the music (pianissimo stays)
QUIET_APART_DB = 10.0  # ...and for a note apart from it (a count-in, a remark after the take)
FAR_BELOW_DB = 35.0  # dB below the performance: background, whatever else it looks like
PERFORMANCE_PERCENTILE = 90.0  # the performance's level: this duration-weighted percentile
FLOOR_PERCENTILE = 5.0  # the background's level: this percentile of all frames' levels
ABOVE_FLOOR_DB = 6.0  # dB: a note must stand at least this far above the background
RANGE_MARGIN_SEMITONES = 12.0  # an octave past the loud notes' range is outside the take's range
RANGE_PERCENTILES = (
    10.0,
    90.0,
)  # the loud notes' range, duration-weighted (one stray can't set it)
MIN_VOICED_PROB = 0.9  # mean voicing confidence of a clearly pitched note
MIN_MEASURED_SHARE = 0.2  # share of steady frames with a followable fundamental (an ensemble
# or a breathy voice leaves the phase-locked measure many gaps; no fundamental at all is noise)
MIN_STEADY_S = 0.1  # s: a held pitch lasts at least this long (a sung or played note does)
MIN_STEADY_APART_S = 0.2  # s: ...and a note apart from the performance (a syllable is shorter);
# a loud, clear note held this long anchors the performance's span
MIN_STEADY_QUIET_APART_S = 0.4  # s: ...and a quiet one apart from it (a drawn-out counted
# "раз" holds about 0.2 s; a quiet note opening the take before a rest is held longer)
MIN_STEADY_SHARE = 0.6  # share of the note its steady part covers (speech glides through)
ADJACENT_S = 0.3  # s: a gap this short joins a note to the performance's span (a soft ending)
DOUBTS_TO_DROP = 2
FAR_BELOW = "far below the music"
AT_FLOOR = "at the background's level"
UNHELD_APART = "no held pitch, apart from the performance"  # a syllable, a click, a cough
DECISIVE = (FAR_BELOW, AT_FLOOR, UNHELD_APART)  # doubts that drop a note on their own
OUT_OF_RANGE = "outside the take's range"
BACKGROUND = (FAR_BELOW, AT_FLOOR, OUT_OF_RANGE)  # doubts that stop a span growing over a note


@dataclass(frozen=True)
class NoteEvidence:
    """What a listener would weigh for one note; ``doubts`` names what speaks against it."""

    note: Note
    below_performance_db: float  # >= 0: how far below the performance's level
    above_floor_db: float
    outside_range_semitones: float  # 0 inside the loud notes' range (+- the margin)
    voiced_prob: float
    measured_share: float
    steady_s: float
    steady_share: float
    outside_span: bool  # before the performance's first plain note or after its last

    @property
    def doubts(self) -> tuple[str, ...]:
        found = []
        quiet_db = QUIET_APART_DB if self.outside_span else QUIET_DB
        if self.below_performance_db >= FAR_BELOW_DB:
            found.append(FAR_BELOW)
        elif self.below_performance_db >= quiet_db:
            found.append("quiet")
        # A take with no background to hear (music from end to end) has its floor inside the
        # music: only a note well below the performance can be "at the background's level".
        if self.above_floor_db < ABOVE_FLOOR_DB and self.below_performance_db >= QUIET_APART_DB:
            found.append(AT_FLOOR)
        if self.outside_range_semitones > 0.0:
            found.append(OUT_OF_RANGE)
        if self.voiced_prob < MIN_VOICED_PROB or self.measured_share < MIN_MEASURED_SHARE:
            found.append("weakly pitched")
        if self.outside_span:
            quiet = self.below_performance_db >= QUIET_APART_DB
            hold_s = MIN_STEADY_QUIET_APART_S if quiet else MIN_STEADY_APART_S
            if self.steady_s < hold_s or self.steady_share < MIN_STEADY_SHARE:
                found.append(UNHELD_APART)
        elif self.steady_s < MIN_STEADY_S or self.steady_share < MIN_STEADY_SHARE:
            found.append("no held pitch")
        return tuple(found)

    @property
    def belongs(self) -> bool:
        weight = sum(DOUBTS_TO_DROP if d in DECISIVE else 1 for d in self.doubts)
        return weight < DOUBTS_TO_DROP


def weigh_notes(
    notes: list[Note],
    voiced_prob: npt.NDArray[np.floating],
    envelope_db: npt.NDArray[np.floating],
    measurable: npt.NDArray[np.bool_] | None = None,
) -> list[NoteEvidence]:
    """The evidence for every note (see the module docstring); the same order as ``notes``.

    Args:
        notes: from :func:`core.plan.segment.segment_notes`.
        voiced_prob: the tracker's per-frame voicing probability.
        envelope_db: per-frame level (:func:`core.plan.segment.frame_envelope_db`).
        measurable: per frame, True where the fundamental could be followed; None counts every
            frame as measurable.
    """
    if not notes:
        return []
    env = np.asarray(envelope_db, dtype=np.float64)
    prob = np.asarray(voiced_prob, dtype=np.float64)
    levels = np.array([_level_db(env, n) for n in notes])
    durations = np.array([n.duration_s for n in notes])
    performance_db = _weighted_percentile(levels, durations, PERFORMANCE_PERCENTILE)
    floor_db = float(np.percentile(env, FLOOR_PERCENTILE)) if len(env) else -np.inf
    # The take's range and span: notes that are plainly the music (loud, clearly pitched and
    # held; a take of nothing but short notes falls back on its loud, clear ones).
    loud = [
        i
        for i, n in enumerate(notes)
        if performance_db - levels[i] < QUIET_APART_DB
        and float(np.mean(prob[n.start : n.end])) >= MIN_VOICED_PROB
    ]
    held = [i for i in loud if notes[i].steady_end - notes[i].steady_start >= _frames(notes[i])]
    core = held or loud or [int(np.argmax(levels))]
    midis = np.array([notes[i].midi for i in core])
    lo = _weighted_percentile(midis, durations[core], RANGE_PERCENTILES[0])
    hi = _weighted_percentile(midis, durations[core], RANGE_PERCENTILES[1])
    lo, hi = lo - RANGE_MARGIN_SEMITONES, hi + RANGE_MARGIN_SEMITONES
    evidence = []
    for n, level in zip(notes, levels, strict=True):
        steady = slice(n.steady_start, n.steady_end)
        share = float(np.mean(measurable[steady])) if measurable is not None else 1.0
        evidence.append(
            NoteEvidence(
                note=n,
                below_performance_db=max(0.0, performance_db - level),
                above_floor_db=level - floor_db,
                outside_range_semitones=max(0.0, lo - n.midi, n.midi - hi),
                voiced_prob=float(np.mean(prob[n.start : n.end])),
                measured_share=share,
                steady_s=(n.steady_end - n.steady_start) * n.hop_s,
                steady_share=(n.steady_end - n.steady_start) / max(1, n.end - n.start),
                outside_span=False,
            )
        )
    first, last = _span(evidence, min(core), max(core))
    return [replace(e, outside_span=not first <= i <= last) for i, e in enumerate(evidence)]


def performance_notes(
    notes: list[Note],
    voiced_prob: npt.NDArray[np.floating],
    envelope_db: npt.NDArray[np.floating],
    measurable: npt.NDArray[np.bool_] | None = None,
) -> list[Note]:
    """The notes that belong to the performance, in order (see :func:`weigh_notes`)."""
    return [e.note for e in weigh_notes(notes, voiced_prob, envelope_db, measurable) if e.belongs]


def _span(evidence: list[NoteEvidence], first: int, last: int) -> tuple[int, int]:
    """The performance's span, grown from its first and last plain notes over neighbours that
    follow on without a gap longer than ``ADJACENT_S`` and do not sound like the background
    (a soft ending, a quiet pickup, a fast run into the first held note)."""
    gap = ADJACENT_S / evidence[0].note.hop_s

    def joins(e: NoteEvidence, neighbour: NoteEvidence) -> bool:
        a, b = sorted((e.note, neighbour.note), key=lambda n: n.start)
        return b.start - a.end <= gap and not set(e.doubts) & set(BACKGROUND)

    while first > 0 and joins(evidence[first - 1], evidence[first]):
        first -= 1
    while last < len(evidence) - 1 and joins(evidence[last + 1], evidence[last]):
        last += 1
    return first, last


def _frames(note: Note) -> int:
    """``MIN_STEADY_APART_S`` in the note's frames."""
    return round(MIN_STEADY_APART_S / note.hop_s)


def _level_db(env: npt.NDArray[np.float64], note: Note) -> float:
    """The note's level: the median over its steady part (onsets and releases are not it)."""
    part = env[note.steady_start : note.steady_end]
    return float(np.median(part)) if len(part) else float(np.median(env[note.start : note.end]))


def _weighted_percentile(
    values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], q: float
) -> float:
    order = np.argsort(values)
    v, w = values[order], np.maximum(weights[order], 1e-9)
    cum = np.cumsum(w) - 0.5 * w
    return float(np.interp(q / 100.0 * w.sum(), cum, v))


# ----------------------------------------------------------------------------------------------
# Talk or music: the whole clip's voiced sound, for the reason a take is refused

SYLLABLE_MIN_S = 0.05  # s: a voiced run at least this long is a syllable's vowel (shorter: a click)
SPEECH_MIN_VOICED_S = 0.5  # s of voiced sound: less is too little to call anything talk
SPEECH_MIN_SYLLABLES = 3  # voiced runs: a word or two at least
SPEECH_MAX_VOICED_SHARE = 0.6  # of the span from the first syllable to the last: talk leaves
# consonants and pauses unvoiced between syllables (espeak-ng: 0.12-0.48 in Russian), a melody
# sounds through (0.82-1.0 on the real takes of ../shared/eval)
SPEECH_MAX_HELD_SHARE = 0.25  # of the voiced time, held in pitches at least MIN_STEADY_APART_S
# long: speech glides through its syllables (espeak-ng: 0-0.2), music holds notes (0.77-0.99)
SPEECH_MAX_HELD_S = 1.0  # s: a clip holding a pitch this long in all is never called talk
SPEECH_MIN_GLIDE_CENTS = 5.0  # median pitch change from one voiced frame to the next (cents):
# syllables glide (espeak-ng: 5.6-18), held notes barely move (1-3, with a 15-cent vibrato)


@dataclass(frozen=True)
class Voicing:
    """How the voiced sound of a whole clip is laid out: what tells a spoken message from a
    melody when the take is refused, so the learner hears the true reason."""

    voiced_s: float
    syllables: int  # voiced runs at least SYLLABLE_MIN_S long
    voiced_share: float  # voiced frames' share of the span from the first syllable to the last
    held_s: float  # steady parts of notes at least MIN_STEADY_APART_S long, in all
    glide_cents: float  # median |pitch change| between neighbouring voiced frames

    @property
    def speech(self) -> bool:
        """Enough voiced sound, in syllables with gaps between, gliding rather than held."""
        return (
            self.voiced_s >= SPEECH_MIN_VOICED_S
            and self.syllables >= SPEECH_MIN_SYLLABLES
            and self.voiced_share < SPEECH_MAX_VOICED_SHARE
            and self.held_s < min(SPEECH_MAX_HELD_S, SPEECH_MAX_HELD_SHARE * self.voiced_s)
            and self.glide_cents >= SPEECH_MIN_GLIDE_CENTS
        )


def voicing_of(f0_hz: npt.NDArray[np.floating], notes: list[Note], hop_s: float) -> Voicing:
    """The clip's :class:`Voicing` from the tracker's pitch (NaN unvoiced) and its notes as cut
    (:func:`core.plan.segment.segment_notes`, before :func:`performance_notes` drops any)."""
    f0 = np.asarray(f0_hz, dtype=np.float64)
    voiced = np.isfinite(f0) & (f0 > 0)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], voiced.astype(np.int8), [0]))))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True)
            if (b - a) * hop_s >= SYLLABLE_MIN_S]  # fmt: skip
    share = 0.0
    if runs:
        share = sum(b - a for a, b in runs) / max(1, runs[-1][1] - runs[0][0])
    with np.errstate(divide="ignore", invalid="ignore"):
        cents = 1200.0 * np.log2(np.where(voiced, f0, np.nan))
    steps = np.abs(np.diff(cents))
    steps = steps[np.isfinite(steps)]
    held = sum(n.steady_end - n.steady_start for n in notes if n.steady_end - n.steady_start
               >= _frames(n))  # fmt: skip
    return Voicing(
        voiced_s=float(voiced.sum()) * hop_s,
        syllables=len(runs),
        voiced_share=float(share),
        held_s=held * hop_s,
        glide_cents=float(np.median(steps)) if len(steps) else 0.0,
    )
