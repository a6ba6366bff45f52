"""Where each note should go: targets in the key and the per-frame shift curve.

:func:`plan_notes` compares each note's centre with the nearest allowed note of the key;
*natural* mode shifts the whole note by one interval, so vibrato and slides inside it survive;
*hard* mode pulls every frame onto the note (the flat auto-tune effect). Strength scales the
interval, a deadband (and a 3-cent "already in tune" floor) leaves small errors alone, and the
correction fades in over ``KNEE_CENTS`` past that edge so the tracker's last fraction of a cent
never decides between "untouched" and "moved by 3 cents". :func:`shift_curve_cents` turns the
targets into cents per frame, the one thing :mod:`core.retune.psola` needs to know about the plan.

Pure numpy and no torch: planning is decided (and tested) without touching a sample, and the
shifter's ``RAMP_S`` and ``NO_SHIFT_CENTS`` come from here so the two sides agree on when a
shift has ended and when it is nothing at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from core.plan.scales import nearest_allowed_midi
from core.plan.segment import Note, centre_midi
from models.units import A4_HZ, hz_to_midi

Mode = Literal["natural", "hard"]

IN_TUNE_CENTS = 3.0  # cents: below this a note is left alone (under the ~5-cent JND, and
# about the tracker's own error, so touching it would add more error than it removes)
KNEE_CENTS = 3.0  # cents past the in-tune tolerance over which the correction fades in to 100 %
HYSTERESIS_CENTS = 15.0  # cents past a midpoint the previous note's target is still kept
CENTRE_SKIP_ONSET = 0.10  # share of a note's steady part left out of its centre at the start
CENTRE_SKIP_RELEASE = 0.25  # ...and before its sustain ends (the decay's first frames drift)
HELD_GAP_FRAMES = 2  # frames: notes closer than this are one sustained sound (for hysteresis)
PREFER_KEY_CENTS = 15.0  # cents past a midpoint a note of the detected key is still preferred
TAIL_S = 0.06  # s: a note's shift is held this long into the unvoiced frames after it (release)
GAP_BRIDGE_S = 0.12  # s: notes closer than this keep one shifted region (legato, slides)
RAMP_S = 0.03  # s: the shift ramps over this between notes (natural mode's retune speed)
HARD_SPEED_S = 0.01  # s: hard mode's retune speed (time constant of the pull onto the note)
MIN_MEASURED_SHARE = 0.5  # share of a note's steady frames that must be measurable to move it
NO_SHIFT_CENTS = 1e-3  # cents: smaller shifts count as none (bit-identical output)


@dataclass(frozen=True)
class NoteTarget:
    """A note, where it was, where it goes and how far it was moved (all at the same A4)."""

    note: Note
    centre_midi: float  # measured centre (refined by the phase-locked marks)
    target_midi: int
    shift_cents: float  # what the shifter applies to the note's centre; 0 when left alone
    semitones: int = 0  # whole semitones moved on top of the tuning (a wrong note put right)

    @property
    def cents_before(self) -> float:
        return (self.centre_midi - self.target_midi) * 100.0

    @property
    def cents_after(self) -> float:
        """Expected distance after the shift (the report measures it again on the output)."""
        return self.cents_before + self.shift_cents


def centre_window(note: Note) -> tuple[int, int]:
    """The frames a note's centre is measured over (see :func:`plan_notes`)."""
    a, b = note.steady_start, note.sustain_end
    if b - a >= 10:
        a, b = a + round(CENTRE_SKIP_ONSET * (b - a)), b - round(CENTRE_SKIP_RELEASE * (b - a))
    return a, b


def plan_notes(
    notes: list[Note],
    f0_hz: npt.NDArray[np.float64],
    *,
    allowed: npt.NDArray[np.bool_],
    preferred: npt.NDArray[np.bool_] | None = None,
    measurable: npt.NDArray[np.bool_] | None = None,
    a4_hz: float = A4_HZ,
    mode: Mode = "natural",
    strength: float = 100.0,
    deadband_cents: float = 0.0,
    forced_midi: Sequence[int | None] | None = None,
    semitones: Sequence[int] | None = None,
) -> list[NoteTarget]:
    """Choose each note's target and how far to move it.

    Args:
        notes: from :func:`core.plan.segment.segment_notes`.
        f0_hz: ``[frames]`` the pitch a note's centre is measured on:
            :func:`core.plan.segment.centre_midi` (the mean over whole vibrato cycles) from the
            steady
            part's start to its sustain end (the release rings on, at a drifting pitch), less
            the first ``CENTRE_SKIP_ONSET`` and last ``CENTRE_SKIP_RELEASE`` of that. On the
            held-out set of bench/retune.py this agrees with the same statistic on Praat's
            track over the notated note to 0.1 cents median and 1.2 p95 (the old median over
            the steady part less 10 / 25 %: 1.1 / 4.3).
        allowed, preferred: ``[12]`` pitch-class masks (see :func:`nearest_allowed_midi`).
        measurable: ``[frames]`` True where the fundamental's phase could be followed
            (finite :func:`frame_f0_hz`); a note mostly without it is left alone.
        forced_midi: per note, the note to tune it to instead of the nearest allowed one (a
            score's note, core.score.align); None entries choose as usual. The in-tune edge, knee
            and strength apply the same way.
        semitones: per note, whole semitones to move it on top of that (a wrong note moved
            onto its score note): applied in full, not scaled by strength, and only where the
            note can be measured; ``target_midi`` then is where it lands.
    """
    midi_all = hz_to_midi(f0_hz, a4_hz=a4_hz)
    targets: list[NoteTarget] = []
    previous: int | None = None
    previous_note: Note | None = None
    previous_centre = np.nan
    floor_cents = max(deadband_cents, IN_TUNE_CENTS if mode == "natural" else 0.0)
    for k, note in enumerate(notes):
        a, b = centre_window(note)
        centre = centre_midi(midi_all[a:b])
        centre = note.midi if not np.isfinite(centre) else centre
        share = 1.0
        if measurable is not None:
            share = float(np.mean(measurable[note.steady_start : note.steady_end]))
        # Hysteresis only inside one sustained sound (a wobble split into pieces), never
        # across a re-articulation: a new note 45 cents sharp is meant as the lower note.
        held = (
            previous_note is not None
            and note.start - previous_note.end <= HELD_GAP_FRAMES
            and abs(centre - previous_centre) * 100.0 < 2.0 * HYSTERESIS_CENTS
        )
        forced = forced_midi[k] if forced_midi is not None else None
        target = (
            forced
            if forced is not None
            else nearest_allowed_midi(
                centre,
                allowed,
                previous=previous if held else None,
                hysteresis_cents=HYSTERESIS_CENTS,
                preferred=preferred,
                prefer_cents=PREFER_KEY_CENTS if preferred is not None else 0.0,
            )
        )
        off_cents = (centre - target) * 100.0
        # A note whose fundamental cannot be followed (tracker octave slip, noise) stays as it
        # is: moving it would put grains on marks that are not the waveform's periods.
        excess = abs(off_cents) - floor_cents
        if excess <= 0.0 or share < MIN_MEASURED_SHARE:
            shift = 0.0
        else:
            shift = -off_cents * float(np.clip(strength, 0.0, 100.0)) / 100.0
            # A soft knee instead of a step at the tolerance: a centre read 0.2 cents either
            # side of it must not decide between 0 and 3 cents of shift.
            if floor_cents > 0.0:
                shift *= min(1.0, excess / KNEE_CENTS)
        move = semitones[k] if semitones is not None else 0
        if move and share >= MIN_MEASURED_SHARE:
            targets.append(NoteTarget(note, centre, target + move, shift + 100.0 * move, move))
        else:
            targets.append(NoteTarget(note, centre, target, shift))
        previous, previous_note, previous_centre = target, note, centre
    return targets


def shift_curve_cents(
    targets: list[NoteTarget],
    n_frames: int,
    hop_s: float,
    *,
    f0_ref_hz: npt.NDArray[np.float64] | None = None,
    mode: Mode = "natural",
    strength: float = 100.0,
    a4_hz: float = A4_HZ,
) -> npt.NDArray[np.float64]:
    """Per-frame shift in cents (0 where nothing moves).

    natural: each moved note gets one constant interval over its whole length (vibrato and
    slides inside it kept), held ``TAIL_S`` into its release, bridged linearly to a neighbour
    less than ``GAP_BRIDGE_S`` away, and ramped over ``RAMP_S``.
    hard: every voiced frame of a moved note is pulled onto the target (``f0_ref_hz`` needed),
    smoothed with the ``HARD_SPEED_S`` retune speed.
    """
    shift = np.zeros(n_frames, dtype=np.float64)
    active = np.zeros(n_frames, dtype=bool)
    tail = round(TAIL_S / hop_s)
    bridge = round(GAP_BRIDGE_S / hop_s)
    moved = [t for t in targets if abs(t.shift_cents) > NO_SHIFT_CENTS]
    # Frames of notes left alone are never touched by a neighbour's tail or bridge.
    kept = np.zeros(n_frames, dtype=bool)
    for t in targets:
        if abs(t.shift_cents) <= NO_SHIFT_CENTS:
            kept[t.note.start : t.note.end] = True
    for t in moved:
        a, b = t.note.start, t.note.end
        if mode == "hard" and f0_ref_hz is not None:
            midi = hz_to_midi(f0_ref_hz[a:b], a4_hz=a4_hz)
            # A wrong note's whole-semitone move is made in full; strength scales the tuning.
            tuning = (t.target_midi - t.semitones - midi) * 100.0
            frame_shift = tuning * np.clip(strength, 0.0, 100.0) / 100.0 + 100.0 * t.semitones
            frame_shift = np.where(np.isfinite(frame_shift), frame_shift, t.shift_cents)
            shift[a:b] = frame_shift
        else:
            shift[a:b] = t.shift_cents
        active[a:b] = True
    # Releases and gaps: hold into the tail; bridge short gaps between moved notes.
    ordered = sorted(moved, key=lambda t: t.note.start)
    for i, t in enumerate(ordered):
        end = t.note.end
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if (
            nxt is not None
            and 0 <= nxt.note.start - end <= bridge
            and not kept[end : nxt.note.start].any()
        ):
            a, b = end - 1, nxt.note.start
            if b > a + 1:
                shift[a:b] = np.linspace(shift[a], shift[b], b - a, endpoint=False)
                active[a:b] = True
            continue
        stop = min(n_frames, end + tail)
        if nxt is not None:
            stop = min(stop, nxt.note.start)
        for j in range(end, stop):
            if kept[j]:
                break
            if not active[j]:
                shift[j] = shift[end - 1]
                active[j] = True
    speed_s = HARD_SPEED_S if mode == "hard" else RAMP_S
    width = max(1, round(speed_s / hop_s))
    if width > 1:
        kernel = np.ones(width) / width
        smooth = np.convolve(shift, kernel, mode="same")
        # Smoothing only blurs edges; it must not invent shifts far from any moved note.
        grow = np.convolve(active.astype(np.float64), np.ones(width), mode="same") > 0
        shift = np.where(grow & ~kept, smooth, 0.0)
    shift[np.abs(shift) <= NO_SHIFT_CENTS] = 0.0
    return shift
