"""Score-informed listening (issue 24): the tune helps the ears in an ordinary room.

In an echoing room the note before rings on into the next one, and the tracker's pitch path
stays with the ringing note until the new one dominates: the new note's onset is heard up
to a tenth of a second late, and where the tune repeats a pitch the echo fills the short dip
of the re-articulation. On bench.score's takes in unseen rooms (bench.score_noisy) those two
account for most misreadings ("merged": the performed note has no note of its own that
starts within 80 ms), far more than pitch misreadings: the pitch of a sustained note
survives the room, its edges do not.

When the learner has named the tune, its first alignment says which score note each
performed note is and when it belonged (the rhythm fitted to the take's own tempo), so a
second listening can look where the ears now know to look:

* a note cut right after a note of another pitch, and not already on time or early against
  its rhythm, starts where its own harmonics jump (:mod:`core.analysis.bands`: the bands of
  its pitch that the ringing note does not share), up to ``RISE_BACK_S`` before the cut. On
  bench.score's dev takes in rooms this found the onset of 45 of 107 notes cut 80-200 ms late
  at 20 dB and broke 4 of 774 cut on time (an earlier try moved notes to where the rhythm put
  them, capped at the ringing note's steady part: +0.003 matched; the rhythm alone is too
  loose to place an onset within 80 ms), and never more than ``RISE_SLACK_S`` before its
  rhythm's time. On the held-out takes it moved late cuts 56 -> 38 and raised matched by
  0.03, but lowered wrong F1 by 0.035, so the pass is off by default (docs/benchmarks.rst);
* a repeat of a note's pitch that the tune has inside a sounding note is looked for with a
  shallower dip (``RING_DIP_DB``, the planner's re-cut of soft repeats).

Then the performed notes are aligned again. Nothing here reads or moves a pitch: a note's
centre is measured as before, so a wrong note stays exactly as wrong (a semitone is never
moved onto its neighbour), and a clean take, which the planner never hands here (only a take
whose harmonicity reads under ``core.plan.planner.LISTEN_AGAIN_DB``), keeps today's verdicts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.media.spool import AudioSource
    from core.plan.segment import Note
    from core.plan.targets import NoteTarget
    from core.score.align import Alignment

RING_DIP_DB = 1.0  # dB: a re-struck repeat's dip in an echoing room (the planner's is 2 dB)
RING_STEP_SEMITONES = 0.5  # the note before must be at least this far in pitch (its ring)


RISE_BACK_S = 0.15  # s: how far before its cut a note's own onset is looked for
RISE_LAG = 4  # frames: a rise is the level now against this many frames before
RISE_MIN_DB = 6.0  # dB: the jump of a note's own harmonics that marks its onset
RISE_EARLY_S = -0.02  # s: a note this early against its rhythm (or earlier) stays where it is
RISE_SLACK_S = 0.06  # s: nor is it moved more than this earlier than its rhythm says


def rise_onsets(
    notes: list[Note],
    targets: list[NoteTarget],
    alignment: Alignment,
    source: AudioSource,
    a4_hz: float,
) -> list[Note]:
    """``notes`` with each note cut late in the ring of a note of another pitch started where
    its own harmonics jump (:func:`core.analysis.bands.pitch_level_db`).

    Looked for up to ``RISE_BACK_S`` before the cut, never inside the note before's attack;
    a note the tune's rhythm already finds on time or early is left alone, and so is a
    repeat of the same pitch (its bands are the ringing note's). The note before ends where
    the moved one starts. Nothing reads or moves a pitch. Returns the same list when nothing
    moves.
    """
    from core.analysis.bands import pitch_level_db

    errors = {m.performed_index: m.onset_error_s for m in alignment.matches}
    out = list(notes)
    moved = False
    for k in range(1, len(out)):
        note, before = out[k], out[k - 1]
        error = errors.get(k)
        if error is not None and error <= RISE_EARLY_S:
            continue
        centre, previous = targets[k].centre_midi, targets[k - 1].centre_midi
        if abs(centre - previous) < RING_STEP_SEMITONES:
            continue
        back_s = RISE_BACK_S if error is None else min(RISE_BACK_S, error + RISE_SLACK_S)
        lo = max(note.start - round(back_s / note.hop_s), before.steady_start + 2)
        hi = min(note.start + 2, note.end - 1)
        if hi <= lo:
            continue
        frames = np.arange(lo - RISE_LAG, hi + 1)
        level = pitch_level_db(source, frames, note.hop_s, centre, a4_hz=a4_hz,
                               other_midi=previous)  # fmt: skip
        if level is None:
            continue
        rise = level[RISE_LAG:] - level[:-RISE_LAG]
        j = int(np.argmax(rise))
        start = lo + j - RISE_LAG // 2
        if rise[j] < RISE_MIN_DB or start >= note.start or start <= before.steady_start + 1:
            continue
        out[k] = replace(note, start=start)
        if before.end > start:
            steady_end = max(before.steady_start + 1, min(before.steady_end, start))
            sustain_end = max(steady_end, min(before.sustain_end, start))
            out[k - 1] = replace(before, end=start, steady_end=steady_end,
                                 sustain_end=sustain_end)  # fmt: skip
        moved = True
    return out if moved else notes
