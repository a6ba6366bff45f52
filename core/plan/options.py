"""What the user may choose for one correction, checked once where it is made.

The CLI's flags, the bot's settings and the benches all build a :class:`CorrectOptions`; the
planner reads it and :mod:`core.pipeline` passes it through. It lives with the planning
because nearly every field is a planning decision (key, reference, mode, tune).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from core.plan.scales import instrument_range, parse_key
from models.units import A4_HZ

if TYPE_CHECKING:
    from core.score.model import Score

Progress = Callable[[str, float], None]
MAX_TRANSPOSE = 48  # semitones: four octaves either way covers every instrument's reading


@dataclass(frozen=True)
class CorrectOptions:
    """What the user may choose; the same fields are CLI flags and bot settings.

    Attributes:
        key: tonic such as ``"D"``, ``"Bb"`` or ``"F#m"``; None detects it from the pitch
            histogram. Named or detected, the key only breaks near-ties (a note within 15
            cents of the midpoint between two notes goes to the one in the key); every
            chromatic note stays reachable, because a key must never pull a sung note by a
            semitone. A note nearest a note outside a named key is tuned to that note and
            reported (``Plan.off_key``, the report's ``off_key_notes``).
        scale: a name from data/scales.csv (major, minor, harmonic_minor, chromatic, ...).
            With no key named, major and minor are detected alike from the notes; another
            scale is kept and only its tonic is detected.
        a4_hz: reference pitch in Hz; None estimates it from the recording.
        mode: ``"natural"`` moves each note's centre and keeps vibrato and slides; ``"hard"``
            flattens every note onto its target.
        strength: percent of each note's error removed.
        deadband_cents: notes closer than this to their target are left alone. Natural mode
            always leaves notes within ``core.plan.targets.IN_TUNE_CENTS`` (3) alone: nobody hears
            that, and it is about the tracker's own error, so moving them would add error. Past
            the edge the correction fades in over ``core.plan.targets.KNEE_CENTS`` (3), so a note
            just outside it is nudged, not jumped onto the target.
        instrument: a preset from data/instruments.csv; pitch outside its range is ignored.
        device: torch device for tracking and shifting; None picks CUDA when available.
        weights: the pitch model when the caller passes no tracker: ``"auto"`` (the temporal
            refiner on takes whose harmonicity is below 12 dB: noisy, echoing rooms),
            ``"default"`` (never), ``"refiner"`` (always: steadier in noisy, echoing rooms, but
            it smooths very short notes into their neighbours; models/weights/README.rst) or a
            ``.pt`` file.
        score: the tune the take is checked against (core.score); None corrects each note to
            the nearest one as above.
        transpose: semitones from the score's written pitch to the sound played (performed =
            written + transpose; -2 for a B-flat clarinet reading concert pitch). None finds
            octave shifts (0, +-12, +-24) by itself. Ignored without a score.
        fix_wrong_notes: move a wrong note (up to 3 semitones from its score note) onto the
            score note instead of tuning the note that was played. Ignored without a score
            (the bot keeps the choice while a learner has no tune set).
        informed: with a score, listen a second time knowing the tune when the take is
            noisy or echoing (core.plan.informed): a note cut late in the ring of the note
            before starts where its own harmonics rise, repeats are looked for with a
            shallower dip, and the notes are aligned again. No pitch is read or moved, and a
            clean take never gets here. Ignored without a score.
        hear_onsets: in a take that does not read clean, cut notes where the onset network
            (core.analysis.onsets) hears them begin as well as where the pitch changes. Off,
            the note cutter reads the pitch track alone (benchmarks compare the two).
    """

    key: str | None = None
    scale: str = "major"
    a4_hz: float | None = A4_HZ
    mode: Literal["natural", "hard"] = "natural"
    strength: float = 100.0
    deadband_cents: float = 0.0
    instrument: str | None = None
    device: str | None = None
    weights: str = "auto"
    score: Score | None = None
    transpose: int | None = None
    fix_wrong_notes: bool = False
    informed: bool = False
    hear_onsets: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("natural", "hard"):
            raise ValueError(f"mode must be 'natural' or 'hard', got {self.mode!r}")
        if not 0.0 <= self.strength <= 100.0:
            raise ValueError(f"strength must be within 0..100 %, got {self.strength}")
        if self.deadband_cents < 0.0 or self.deadband_cents >= 50.0:
            raise ValueError(f"deadband must be within 0..50 cents, got {self.deadband_cents}")
        if self.a4_hz is not None and not 380.0 <= self.a4_hz <= 500.0:
            raise ValueError(f"A4 must be within 380..500 Hz, got {self.a4_hz}")
        parse_key(self.key, self.scale)  # raises ValueError naming the accepted values
        if self.instrument is not None:
            instrument_range(self.instrument)
        if self.score is not None:
            from core.score.model import Score

            if not isinstance(self.score, Score):
                raise ValueError(
                    f"score must be a core.score.model.Score, got {type(self.score).__name__}"
                )
        if self.transpose is not None and (
            isinstance(self.transpose, bool)
            or not isinstance(self.transpose, int)
            or not -MAX_TRANSPOSE <= self.transpose <= MAX_TRANSPOSE
        ):
            raise ValueError(
                f"transpose must be whole semitones within -{MAX_TRANSPOSE}..{MAX_TRANSPOSE}, "
                f"got {self.transpose!r}"
            )
        if not isinstance(self.fix_wrong_notes, bool):
            raise ValueError(f"fix_wrong_notes must be true or false, got {self.fix_wrong_notes!r}")


def no_progress(stage: str, fraction: float) -> None:
    """The progress callback of a caller that shows none."""
    return None
