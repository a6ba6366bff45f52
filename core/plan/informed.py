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

* a matched note heard late against that rhythm, right where a note of another pitch ends
  (no gap: the ring), starts where its rhythm says, up to ``RING_S`` earlier, never before
  the ringing note's steady part ends;
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

if TYPE_CHECKING:
    from core.plan.segment import Note
    from core.plan.targets import NoteTarget
    from core.score.align import Alignment

RING_S = 0.12  # s: how much earlier than heard a note may start (a room's ring over it)
RING_MIN_LATE_S = 0.02  # s: a note heard later than this against its rhythm is looked at
RING_DIP_DB = 1.0  # dB: a re-struck repeat's dip in an echoing room (the planner's is 2 dB)
RING_STEP_SEMITONES = 0.5  # the note before must be at least this far in pitch (its ring)


def ring_onsets(notes: list[Note], targets: list[NoteTarget], alignment: Alignment) -> list[Note]:
    """``notes`` with each late note heard in the previous note's ring started on time.

    Only a matched note (ok or wrong: the verdict is not read) that starts exactly where the
    note before it ends, at another pitch, moves; the note before is cut there, its steady
    part kept (the ring is not the note). Returns the same list when nothing moves.
    """
    out = list(notes)
    moved = False
    for m in alignment.matches:
        k = m.performed_index
        late = m.onset_error_s
        if late is None or late <= RING_MIN_LATE_S or k == 0 or m.score_index is None:
            continue
        note, before = out[k], out[k - 1]
        if before.end != note.start:
            continue
        if abs(targets[k].centre_midi - targets[k - 1].centre_midi) < RING_STEP_SEMITONES:
            continue
        frames = round(min(late, RING_S) / note.hop_s)
        start = max(note.start - frames, before.steady_end, before.steady_start + 1)
        if start >= note.start:
            continue
        out[k] = replace(note, start=start)
        out[k - 1] = replace(before, end=start, sustain_end=min(before.sustain_end, start))
        moved = True
    return out if moved else notes
