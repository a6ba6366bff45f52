"""Which performed note is which note of the tune: a teacher's reading of a take against a score.

A learner plays at their own tempo with rubato, may start late or stop early, play the tune an
octave away, hit a neighbouring note, skip one, add one, or go back and play a passage again. A
teacher listening with the score follows along note by note and says "this was an F instead of
an F#", "you skipped the D", "that G came in late". This module does the same with notes, not
frames: a performed note is a pitch centre and an onset (core.plan.segment, the planner's centres),
a score note a written pitch and a beat, so the whole alignment is a small dynamic programme over
two note lists (milliseconds for a minute of music).

How:

1. **Pitch pass.** A Needleman-Wunsch alignment, semi-global (the take may begin anywhere in the
   score and stop anywhere: notes never reached are not "missed"), with four moves: a performed
   note *matches* a score note (rewarded when within half a semitone, less so a semitone or two
   away: a *wrong* note is one substitution, cheaper than a missed plus an extra note), an
   *extra* performed note, a *missed* score note, and a *jump back* (a repeated passage: a match
   whose predecessor is at or after the note, at a fixed cost, so only a repeat of a few notes
   pays for it). A performed note that only continues the previous one (no gap, same pitch: a
   wobble the note cutter split) is a cheap *continuation*, not an extra note. The pass runs
   for each candidate transposition (0, +-12, +-24 semitones, or the one given) and keeps the
   cheapest.
2. **Rhythm pass.** The pitch pass's matches give the take's tempo (the median of robust
   Theil-Sen slopes, score beats against seconds, over the stretches between jumps back). The
   alignment is run again with every match also priced by its rhythm: the time since the
   previous match (carried along each cell's best path, so extra and missed notes in between
   count right) against the score's time between the two notes at that tempo, free within
   rubato and capped so rhythm chooses *between* pitch-alike readings (which of two repeated
   Es was skipped, where a repeat went back to) rather than overruling a pitch. A restart
   sooner than the end of the note it leaves costs too (a restart keeps the beat or takes a
   breath). This pass also lets one performed note be *held* through the repeats of its
   pitch that follow it in the score when it lasts through them (the learner re-tongued
   them softly, the note cutter heard one note): neither missed nor matched.
3. **Rhythm.** Each matched note's onset is compared with the score's rhythm fitted to the
   take's own tempo around it (a Theil-Sen line through its neighbours, itself left out), so a
   ritardando is not an error, but a note that comes in a third of a beat early is. Missed notes
   get the time they belonged at the same way.

A take that is not this tune at all (too few notes in agreement) says so (``is_the_tune``
False) and flags nothing: the caller falls back to nearest-note correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from core.score.model import Score

Verdict = Literal["ok", "wrong", "extra"]

OK_SEMITONES = 0.5  # a performed centre nearer than this to the score note is that note...
# ...and one 50-60 cents off it is ambiguous by nature: a teacher who knows the tune calls it
# "a very flat A", not "a G#", unless it clearly holds nearer the other semitone: over
# HOLD_SHARE of its frames past the half-semitone. A note whose centre is pulled past the
# edge by a scoop, a fall-off or a lopsided vibrato while most of it sits on the score
# note's side is that note; a note that sits past the edge is the other semitone. Holding
# two thirds of the frames was measured too: bench.score's clarinet playing E +45 cents for
# an F (a wrong note, 55 cents off, with vibrato) became "a very flat F" and the clean wrong
# F1 fell from 0.976 to 0.968, so a majority it is.
EDGE_SEMITONES = 0.6
HOLD_SHARE = 0.5
WRONG_SEMITONES = 2.5  # up to a whole tone away: a wrong note in the score note's place
FAR_SEMITONES = 3.5  # farther than this a performed note is never played "instead of" it
COST_OK = -2.0  # a match within half a semitone
COST_WRONG = (-0.6, -0.3, 0.8)  # 1, 2, 3 semitones away (all cheaper than extra + missed)
COST_EXTRA = 1.0
COST_MISSED = 1.0
# An unmatched note this far (semitones) below the tune's lowest note or above its highest, at
# the take's transposition, is not judged: a learner's stray note lands near the melody, a
# talker's voice or a TV in the room does not (bench.score_noisy: the talker's notes around
# MIDI 50 under a flute's tune were 9 of the 22 flags on its clean takes at 10 dB).
BEYOND_SEMITONES = 7.0
COST_CONTINUE = 0.3  # a piece of the previous note (same pitch, no gap): cheaper than extra
COST_HELD = 0.3  # per repeat of its pitch one performed note held through (re-articulations the
HELD_SHARE = 0.7  # note cutter did not split), if it lasts this share of their onsets' span
MAX_HELD_REPEATS = 8  # repeats one performed note may be held through, at most
COST_JUMP = 3.0  # going back in the score: pays off from a repeat of three notes or more
COST_LATE_START = 0.5  # per score note skipped before the take begins (the earliest wins ties)...
LATE_START_CAP = 2.5  # ...up to this: practising from bar 5 is fine, noise before the tune
# matching two notes somewhere in the middle (then a jump back to the start) is not
RUBATO = float(np.log(1.15))  # a note's time may stray this far (log ratio) and cost nothing
RHYTHM_WEIGHT = 2.5  # per unit of log ratio beyond that...
RHYTHM_CAP = 1.5  # ...up to this (less than an ok note is worth over a wrong one). Weighing
# rhythm more (5.0, capped at 2.0) read more notes right on the dev set (bench.score --dev,
# songbook tunes: 0.957 -> 0.974) but fewer on the bench's own takes (0.974 -> 0.965, wrong F1
# 0.952 -> 0.934, extra F1 0.936 -> 0.863): not kept.
CONTINUE_GAP_S = 0.03  # s: pieces closer than this are one sounding note
NEIGHBOURS = 4  # matches on each side for a local tempo line
TIMING_BEATS = 1.0 / 3.0  # a note this far off the local rhythm is early/late...
TIMING_MIN_S = 0.15  # ...and at least this far in seconds (a teacher hears that)
THE_TUNE_AGREEMENT = 0.4  # (ok notes / all events) x (share of matches in time): "the tune"
IN_TIME_BEATS = 0.35  # a match this close to the local rhythm is in time (for the above)
JUMP_EVENTS = 3  # a jump back counts as this many events against "the tune" (a patchwork of
# bits of the score is another tune; a learner goes back once or twice)
THE_TUNE_MIN_OK = 3  # ...and at least this many notes right (fewer if the score is shorter)
OCTAVE_CANDIDATES = (0, 12, -12, 24, -24)

SKIP_LOOKBACK = 2  # missed notes in a row a match is priced across by its own rhythm (below)

_MATCH, _JUMP, _EXTRA, _CONTINUE, _MISSED, _HELD, _SKIP = 1, 2, 3, 4, 5, 6, 7


@dataclass(frozen=True)
class NoteMatch:
    performed_index: int  # index into the performed notes
    score_index: int | None  # None: extra note
    verdict: Verdict
    expected_midi: int | None  # score pitch after transposition
    onset_error_s: float | None  # vs. the score rhythm fitted to the take's tempo; None if extra


@dataclass(frozen=True)
class MissedNote:
    score_index: int
    expected_midi: int
    at_s: float  # where in the take it belonged


@dataclass(frozen=True)
class Alignment:
    matches: tuple[NoteMatch, ...]
    missed: tuple[MissedNote, ...]
    transposition_semitones: int
    tempo_ratio: float  # performed tempo / score tempo
    is_the_tune: bool  # False: not this tune -> nearest-note correction, nothing flagged
    # Score notes a performed note was held through (repeats of its pitch it did not re-strike
    # as far as the note cutter heard), at the time they belonged: neither missed nor matched.
    held: tuple[MissedNote, ...] = ()
    # How well the take reads as the tune (0-1: notes right, in their rhythm; THE_TUNE_AGREEMENT
    # makes it the tune): the planner compares two readings of one take by it.
    agreement: float = 0.0

    @property
    def n_ok(self) -> int:
        """Score notes played right (a note split in pieces counts once)."""
        return sum(1 for m in self.matches if m.verdict == "ok" and m.onset_error_s is not None)

    @property
    def n_wrong(self) -> int:
        return sum(1 for m in self.matches if m.verdict == "wrong" and m.onset_error_s is not None)

    @property
    def n_extra(self) -> int:
        return sum(1 for m in self.matches if m.verdict == "extra")

    def seconds_per_beat(self, score: Score) -> float:
        """The take's own beat length (the score's divided by the tempo ratio)."""
        return score.seconds_per_beat / self.tempo_ratio if self.tempo_ratio > 0 else 0.0


@dataclass
class _Path:
    """One alignment: per performed note its score index (-1 extra) and move; missed notes."""

    cost: float
    score_of: npt.NDArray[np.int64]  # [N] score index, -1 when extra
    move: npt.NDArray[np.int64]  # [N] _MATCH/_JUMP/_EXTRA/_CONTINUE
    missed: list[tuple[int, int]]  # (score index, performed notes before it)
    held: list[tuple[int, int]] = field(default_factory=list)  # (score index, holding note)


def align(
    performed_midi: Sequence[float] | npt.NDArray[np.floating],
    performed_onset_s: Sequence[float] | npt.NDArray[np.floating],
    performed_offset_s: Sequence[float] | npt.NDArray[np.floating],
    score: Score,
    *,
    transpose: int | None = None,
    struck: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
    frames_midi: Sequence[npt.NDArray[np.float64]] | None = None,
    min_agreement: float = THE_TUNE_AGREEMENT,
) -> Alignment:
    """Align performed notes (fractional MIDI centres, onsets and offsets in seconds, in time
    order) with ``score``'s notes.

    ``transpose``: performed = written + transpose semitones; None tries octave shifts.
    ``struck``: per performed note, whether it begins with an attack of its own (a loudness
    dip and rise, core.plan.planner): such a note read as a continuation of the note before
    it, where the tune has one note of that pitch (no repeat either side), is a re-strike, an
    extra note, not absorbed into the note as "ok". Where the tune repeats the pitch the
    reading is left as it is (a re-cut repeat and the note cutter's split are alike there).
    ``frames_midi``: per performed note, the pitch of the frames its centre comes from, for
    the edge rule (``EDGE_SEMITONES``); without them a note is its nearest semitone.
    ``min_agreement``: the agreement that makes the take "the tune" (``THE_TUNE_AGREEMENT``;
    the planner asks for less on a provisional reading of a take in a room).
    """
    midi = np.asarray(performed_midi, dtype=np.float64)
    onset = np.asarray(performed_onset_s, dtype=np.float64)
    offset = np.asarray(performed_offset_s, dtype=np.float64)
    n, m = len(midi), len(score.notes)
    if n == 0 or m == 0:
        return Alignment((), (), transpose or 0, 1.0, False)
    written = score.midi().astype(np.float64)
    beats = np.array([s.onset_beats for s in score.notes], dtype=np.float64)
    # A piece that continues the previous performed note: no gap and the same pitch.
    gap = np.concatenate([[np.inf], onset[1:] - offset[:-1]])
    same = np.concatenate([[False], np.abs(np.diff(midi)) < OK_SEMITONES])
    continues = (gap <= CONTINUE_GAP_S) & same

    best: tuple[_Path, int] | None = None
    durations = offset - onset
    for shift in OCTAVE_CANDIDATES if transpose is None else (transpose,):
        path = _dp(_pitch_cost(midi, written + shift), continues)
        if best is None or path.cost < best[0].cost - 1e-9:
            best = (path, shift)
    assert best is not None
    first, shift = best
    # Timing pass: the same alignment with each match also priced by its rhythm at the tempo
    # the pitch pass found (the tempo only: its note-by-note reading may be the one to fix).
    rate = _beats_per_second(first, onset, beats)
    lengths = np.array([s.duration_beats for s in score.notes], dtype=np.float64)
    rhythm = None
    if np.isfinite(rate) and rate > 0:
        rhythm = _Rhythm(onset, beats, 1.0 / rate, lengths)
    held = None
    if rhythm is not None:
        held = _Held.of(written, beats + lengths, durations, beats, rhythm.seconds_per_beat)
    path = _dp(_pitch_cost(midi, written + shift), continues, rhythm, held)
    if struck is not None:
        _restruck_as_extra(path, np.asarray(struck, dtype=bool), written)
    return _verdicts(path, midi, onset, written, beats, shift, score, frames_midi, min_agreement)


# ----------------------------------------------------------------------------------------------
# The dynamic programme


def _pitch_cost(
    midi: npt.NDArray[np.float64], expected: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """[N, M] cost of playing performed note i in the place of score note j."""
    dist = np.abs(midi[:, None] - expected[None, :])
    cost = np.full(dist.shape, np.inf)
    cost[dist < FAR_SEMITONES] = COST_WRONG[2]
    cost[dist < 2.5] = COST_WRONG[1]
    cost[dist < 1.5] = COST_WRONG[0]
    ok = dist < OK_SEMITONES
    # Inside half a semitone the nearer the better, but only just: intonation is not a mistake.
    cost[ok] = COST_OK + 0.2 * dist[ok]
    return cost


def _dp(
    cost: npt.NDArray[np.float64],
    continues: npt.NDArray[np.bool_],
    rhythm: _Rhythm | None = None,
    held: _Held | None = None,
) -> _Path:
    """Semi-global alignment with extra, missed, continuation, held and jump-back moves.

    With ``rhythm``, a match also pays for how far the time since the previous match strays
    from the score's time between the two notes at the take's tempo (the previous match is
    carried along each cell's best path, so extra and missed notes in between count right).
    With ``held``, a matched note may also cover the repeats of its own pitch that follow it
    in the score (the learner re-tongued them, the note cutter heard one long note): neither
    missed nor matched, and cheap, so a child is not told they skipped a note they played.

    A cell keeps one path, and with ``rhythm`` its price depends on that path's last match, so
    the cheapest way into a cell can be the wrong one to go on from: of C C C played C C and
    a pause, "began at the second C" (a late start, cheaper than a missed note) beats "missed
    the third C" into the third C's cell, and the pause before the D then costs the late
    start its rhythm. So a match is also priced straight from the cells up to
    ``SKIP_LOOKBACK`` score notes back in the previous row, as they were before that row's
    missed notes were swept in (``_SKIP``: a match after missed notes, each path with its own
    last match).
    """
    n, m = cost.shape
    cols = np.arange(m + 1, dtype=np.float64)
    d = np.full((n + 1, m + 1), np.inf)
    d[0] = np.minimum(COST_LATE_START * cols, LATE_START_CAP)  # later start: not missed notes
    move = np.zeros((n + 1, m + 1), dtype=np.int8)
    held_by = np.zeros((n + 1, m + 1), dtype=np.int16)  # _HELD cells: how many notes back
    jump_from = np.zeros((n + 1, m + 1), dtype=np.int64)  # _JUMP cells: the column left
    last_i = np.full(m + 1, -1, dtype=np.int64)  # performed index of each cell's last match
    last_j = np.full(m + 1, -1, dtype=np.int64)  # ...and its score index
    every = np.arange(m + 1)
    # Each row before its missed notes are swept in (for _SKIP): values, moves, last matches.
    unswept = d.copy()
    move_unswept = np.zeros((n + 1, m + 1), dtype=np.int8)
    skipped = np.zeros((n + 1, m + 1), dtype=np.int16)  # _SKIP cells: how many notes missed
    unswept_i, unswept_j = last_i.copy(), last_j.copy()
    for i in range(1, n + 1):
        prev = d[i - 1]
        cand = np.full((5, m + 1), np.inf)
        cand[0, 1:] = prev[:-1] + cost[i - 1]
        skip_by = np.zeros(m + 1, dtype=np.int16)
        if rhythm is not None:
            cand[0, 1:] += rhythm.cost(i - 1, last_i[:-1], last_j[:-1], every[1:] - 1)
            for k in range(1, min(SKIP_LOOKBACK, m - 1) + 1):
                dst = every[k + 1 :]  # the match's column; it comes from column dst - 1 - k
                src = dst - 1 - k
                value = (unswept[i - 1, src] + k * COST_MISSED + cost[i - 1, dst - 1]
                         + rhythm.cost(i - 1, unswept_i[src], unswept_j[src], dst - 1))  # fmt: skip
                better = value < cand[4, dst]
                cand[4, dst[better]] = value[better]
                skip_by[dst[better]] = k
        if i >= 2:
            # Going back from wherever the take was: min over j' >= j, each source priced by
            # how soon the restart came after the note it left (a restart keeps the beat or
            # takes a breath; it does not cut the last note short).
            source = prev if rhythm is None else prev + rhythm.restart(i - 1, last_i, last_j)
            best_from = _suffix_argmin(source)
            jump_from[i] = best_from
            cand[1, 1:] = source[best_from[1:]] + COST_JUMP + cost[i - 1]
        cand[2] = prev + COST_EXTRA
        if continues[i - 1]:
            cand[3] = prev + COST_CONTINUE
        pick = np.argmin(cand, axis=0)
        row = cand[pick, every]
        moves = np.array([_MATCH, _JUMP, _EXTRA, _CONTINUE, _SKIP], dtype=np.int8)[pick]
        skipped[i] = np.where(moves == _SKIP, skip_by, 0)
        matched = (moves == _MATCH) | (moves == _JUMP) | (moves == _SKIP)
        row_i = np.where(matched, i - 1, last_i)
        row_j = np.where(matched, every - 1, last_j)
        if held is not None:
            frozen = row.copy()
            for k in range(1, held.longest + 1):
                src = every[1 : m + 1 - k]  # cell after matching score note src - 1
                ok = matched[src] & (held.ahead[src - 1] >= k) & held.lasts(i - 1, src - 1, k)
                value = frozen[src] + k * COST_HELD
                better = ok & (value < row[src + k])
                dst = src[better] + k
                row[dst] = value[better]
                moves[dst] = _HELD
                held_by[i, dst] = k
                row_i[dst] = i - 1
                row_j[dst] = src[better] - 1
        unswept[i], move_unswept[i] = row, moves
        unswept_i, unswept_j = row_i.copy(), row_j.copy()
        # Missed score notes: row[j] = min(row[j], row[j-1] + COST_MISSED), as a running min.
        swept = np.minimum.accumulate(row - COST_MISSED * cols) + COST_MISSED * cols
        moves[swept < row - 1e-12] = _MISSED
        source = np.maximum.accumulate(np.where(moves != _MISSED, every, 0))
        last_i, last_j = row_i[source], row_j[source]
        d[i] = swept
        move[i] = moves
    j = int(np.argmin(d[n]))
    total = float(d[n, j])
    score_of = np.full(n, -1, dtype=np.int64)
    kinds = np.full(n, _EXTRA, dtype=np.int64)
    missed: list[tuple[int, int]] = []
    held_through: list[tuple[int, int]] = []
    i = n
    before_sweep = False  # after a _SKIP: the cell it came from, as it was before the sweep
    while i > 0:
        kind = int(move_unswept[i, j] if before_sweep else move[i, j])
        before_sweep = False
        if kind == _SKIP:
            k = int(skipped[i, j])
            score_of[i - 1] = j - 1
            kinds[i - 1] = _MATCH
            missed += [(q, i - 1) for q in range(j - 1 - k, j - 1)]
            j -= 1 + k
            i -= 1
            before_sweep = True
            continue
        if kind == _MISSED:
            missed.append((j - 1, i))
            j -= 1
            continue
        if kind == _HELD:
            k = int(held_by[i, j])
            held_through += [(q, i - 1) for q in range(j - k, j)]
            j -= k
            continue
        kinds[i - 1] = kind
        if kind in (_MATCH, _JUMP):
            score_of[i - 1] = j - 1
        if kind == _JUMP:
            j = int(jump_from[i, j])
        elif kind == _MATCH:
            j -= 1
        i -= 1
    # A continuation belongs to the note it continues (a split note is one score note).
    for k in range(n):
        if kinds[k] == _CONTINUE and k > 0:
            score_of[k] = score_of[k - 1]
    missed.sort()
    return _Path(total, score_of, kinds, missed, sorted(held_through))


def _restruck_as_extra(
    path: _Path, struck: npt.NDArray[np.bool_], written: npt.NDArray[np.float64]
) -> None:
    """A continuation with an attack of its own, where the tune has one note of that pitch
    (no repeat of it either side), is a re-strike: an extra note, not part of the note."""
    for i in np.flatnonzero(struck & (path.move == _CONTINUE)):
        j = int(path.score_of[i])
        if j < 0:
            continue
        repeated = (j > 0 and written[j - 1] == written[j]) or (
            j + 1 < len(written) and written[j + 1] == written[j]
        )
        if not repeated:
            path.score_of[i] = -1
            path.move[i] = _EXTRA


def _suffix_argmin(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """For every j, the index of the smallest of ``values[j:]`` (the first one on ties)."""
    n = len(values)
    backwards = values[::-1]
    running = np.minimum.accumulate(backwards)
    at = np.maximum.accumulate(np.where(backwards <= running, np.arange(n), 0))
    return np.asarray((n - 1 - at)[::-1], dtype=np.int64)


@dataclass(frozen=True)
class _Held:
    """Which score notes a performed note may be held through: the repeats of its pitch
    (``ahead[j]``: how many notes after j have j's pitch), and only if the performed note
    lasts ``HELD_SHARE`` of the time from its own note's onset to the end of the last one (at
    the take's tempo): a note of normal length followed by a skipped repeat is a missed note."""

    ahead: npt.NDArray[np.int64]
    longest: int
    duration_s: npt.NDArray[np.float64]
    onset_beats: npt.NDArray[np.float64]
    end_beats: npt.NDArray[np.float64]
    seconds_per_beat: float

    @classmethod
    def of(
        cls,
        written: npt.NDArray[np.float64],
        end_beats: npt.NDArray[np.float64],
        duration_s: npt.NDArray[np.float64],
        onset_beats: npt.NDArray[np.float64],
        seconds_per_beat: float,
    ) -> _Held:
        ahead = np.zeros(len(written), dtype=np.int64)
        for j in range(len(written) - 2, -1, -1):
            if written[j + 1] == written[j]:
                ahead[j] = ahead[j + 1] + 1
        # A note held through more than a few repeats of itself is not a learner's reading;
        # the cap keeps the held pass linear in the score (a 2000 x "C4" score: 13 s -> 0.4 s).
        longest = min(int(ahead.max(initial=0)), MAX_HELD_REPEATS)
        return cls(ahead, longest, duration_s, onset_beats, end_beats, seconds_per_beat)

    def lasts(self, i: int, j: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.bool_]:
        last = np.minimum(j + k, len(self.end_beats) - 1)
        span = (self.end_beats[last] - self.onset_beats[j]) * self.seconds_per_beat
        return np.asarray(self.duration_s[i] >= HELD_SHARE * span)


@dataclass(frozen=True)
class _Rhythm:
    """Prices a match by the time since the previous match against the score's, at the take's
    tempo: beyond rubato (``RUBATO``) the log ratio costs ``RHYTHM_WEIGHT``, up to a cap."""

    onset_s: npt.NDArray[np.float64]
    beats: npt.NDArray[np.float64]
    seconds_per_beat: float
    lengths: npt.NDArray[np.float64]  # each score note's length, beats

    def cost(
        self,
        i: int,
        prev_i: npt.NDArray[np.int64],
        prev_j: npt.NDArray[np.int64],
        j: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.float64]:
        have = prev_i >= 0
        took = self.onset_s[i] - self.onset_s[np.maximum(prev_i, 0)]
        written = (self.beats[j] - self.beats[np.maximum(prev_j, 0)]) * self.seconds_per_beat
        with np.errstate(divide="ignore", invalid="ignore"):
            stray = np.abs(np.log(np.maximum(took, 1e-3) / written))
        stray = np.where(written > 0, stray, np.inf)
        price = RHYTHM_WEIGHT * np.clip(stray - RUBATO, 0.0, None)
        return np.where(have, np.minimum(price, RHYTHM_CAP), 0.0)

    def restart(
        self, i: int, prev_i: npt.NDArray[np.int64], prev_j: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        """Price of going back to play note ``i`` after the match (prev_i, prev_j): only a
        restart sooner than the end of the note it leaves costs (a pause is free)."""
        have = prev_i >= 0
        took = self.onset_s[i] - self.onset_s[np.maximum(prev_i, 0)]
        length = self.lengths[np.maximum(prev_j, 0)] * self.seconds_per_beat
        with np.errstate(divide="ignore", invalid="ignore"):
            short = np.log(length / np.maximum(took, 1e-3))
        price = RHYTHM_WEIGHT * np.clip(short - RUBATO, 0.0, None)
        return np.where(have, np.minimum(price, RHYTHM_CAP), 0.0)


# ----------------------------------------------------------------------------------------------
# Tempo


def _segments(path: _Path) -> npt.NDArray[np.int64]:
    """Per performed note, the stretch between jumps back it belongs to (0, 1, ...)."""
    return np.cumsum(path.move == _JUMP).astype(np.int64)


def _theil_sen(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[float, float]:
    """Robust line y = a x + b (median pairwise slope, positive ones only); NaN if none."""
    dx = x[None, :] - x[:, None]
    dy = y[None, :] - y[:, None]
    upper = np.triu(np.ones(dx.shape, dtype=bool), 1) & (dx > 1e-9)
    slopes = dy[upper] / dx[upper]
    slopes = slopes[slopes > 0]
    if len(slopes) == 0:
        return float("nan"), float("nan")
    a = float(np.median(slopes))
    return a, float(np.median(y - a * x))


def _local_fit(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    at: float,
    *,
    exclude: int | None,
    fallback_slope: float,
) -> float:
    """y at ``at`` on a robust line through the NEIGHBOURS points on each side of it."""
    keep = np.ones(len(x), dtype=bool)
    if exclude is not None:
        keep[exclude] = False
    xs, ys = x[keep], y[keep]
    if len(xs) == 0:
        return float("nan")
    pos = int(np.searchsorted(xs, at))
    lo, hi = max(0, pos - NEIGHBOURS), min(len(xs), pos + NEIGHBOURS)
    xs, ys = xs[lo:hi], ys[lo:hi]
    if len(xs) >= 2:
        a, b = _theil_sen(xs, ys)
        if np.isfinite(a):
            return a * at + b
    nearest = int(np.argmin(np.abs(xs - at)))
    return float(ys[nearest] + fallback_slope * (at - xs[nearest]))


def _anchors(path: _Path) -> npt.NDArray[np.int64]:
    """Performed notes that start a score note (matches and jumps, not continuations)."""
    return np.flatnonzero((path.move == _MATCH) | (path.move == _JUMP))


def _beats_per_second(
    path: _Path, onset: npt.NDArray[np.float64], beats: npt.NDArray[np.float64]
) -> float:
    """The take's overall tempo: the median of each stretch's robust slope, by its length."""
    seg = _segments(path)
    anchors = _anchors(path)
    slopes, weights = [], []
    for s in np.unique(seg[anchors]) if len(anchors) else []:
        k = anchors[seg[anchors] == s]
        if len(k) >= 2:
            a, _ = _theil_sen(onset[k], beats[path.score_of[k]])
            if np.isfinite(a):
                slopes.append(a)
                weights.append(len(k))
    if not slopes:
        return float("nan")
    order = np.argsort(slopes)
    cum = np.cumsum(np.asarray(weights)[order])
    return float(np.asarray(slopes)[order][np.searchsorted(cum, cum[-1] / 2.0)])


# ----------------------------------------------------------------------------------------------
# Verdicts


def _verdicts(
    path: _Path,
    midi: npt.NDArray[np.float64],
    onset: npt.NDArray[np.float64],
    written: npt.NDArray[np.float64],
    beats: npt.NDArray[np.float64],
    shift: int,
    score: Score,
    frames: Sequence[npt.NDArray[np.float64]] | None = None,
    min_agreement: float = THE_TUNE_AGREEMENT,
) -> Alignment:
    n = len(midi)
    anchors = _anchors(path)
    seg = _segments(path)
    rate = _beats_per_second(path, onset, beats)
    spb = 1.0 / rate if np.isfinite(rate) and rate > 0 else score.seconds_per_beat
    tempo_ratio = score.seconds_per_beat / spb if spb > 0 else 1.0
    expected = (written + shift).astype(np.int64)
    lowest, highest = float(expected.min()), float(expected.max())
    matches: list[NoteMatch] = []
    n_ok = n_wrong = n_extra = 0
    for i in range(n):
        j = int(path.score_of[i])
        if j < 0:
            if not lowest - BEYOND_SEMITONES <= midi[i] <= highest + BEYOND_SEMITONES:
                continue  # not the learner's: a voice or a TV far from the tune (not judged)
            matches.append(NoteMatch(i, None, "extra", None, None))
            n_extra += 1
            continue
        ok = _is_the_note(midi[i], expected[j], None if frames is None else frames[i])
        error: float | None = None
        if path.move[i] != _CONTINUE:
            n_ok += int(ok)
            n_wrong += int(not ok)
            k = anchors[seg[anchors] == seg[i]]
            own = int(np.flatnonzero(k == i)[0])
            at = _local_fit(
                beats[path.score_of[k]],
                onset[k],
                float(beats[j]),
                exclude=own,
                fallback_slope=spb,
            )
            error = float(onset[i] - at) if np.isfinite(at) else 0.0
        matches.append(NoteMatch(i, j, "ok" if ok else "wrong", int(expected[j]), error))
    missed: list[MissedNote] = []
    for j, before in path.missed:
        # It belonged to the stretch of the performed note before it (or after, at the start).
        ref = before - 1 if before > 0 else 0
        k = anchors[seg[anchors] == seg[ref]] if len(anchors) else anchors
        at = float("nan")
        if len(k):
            at = _local_fit(
                beats[path.score_of[k]], onset[k], float(beats[j]), exclude=None, fallback_slope=spb
            )
        if not np.isfinite(at):
            at = float(onset[min(ref, n - 1)])
        missed.append(MissedNote(j, int(expected[j]), round(max(at, 0.0), 3)))
    held: list[MissedNote] = []
    for j, i in path.held:
        k = anchors[seg[anchors] == seg[i]]
        at = _local_fit(
            beats[path.score_of[k]], onset[k], float(beats[j]), exclude=None, fallback_slope=spb
        )
        at = at if np.isfinite(at) else float(onset[i])
        held.append(MissedNote(j, int(expected[j]), round(max(at, 0.0), 3)))
    # Another tune in the same key still lines up with half its notes here and there, but only
    # as a patchwork (jumps back) and not in the rhythm as well. On 60 simulated takes with 15 %
    # wrong and 7 % missed and extra notes every take scored over 0.5 and 59 over 0.55; 60
    # other random stepwise tunes in the same key and range (the hardest case) none over 0.35.
    events = n_ok + n_wrong + n_extra + len(missed) + JUMP_EVENTS * int(np.sum(path.move == _JUMP))
    errors = [abs(mt.onset_error_s) for mt in matches if mt.onset_error_s is not None]
    in_time = float(np.mean(np.asarray(errors) <= IN_TIME_BEATS * spb)) if errors else 0.0
    agreement = (n_ok / events) * in_time if events else 0.0
    is_tune = n_ok >= min(THE_TUNE_MIN_OK, len(written)) and agreement >= min_agreement
    if not is_tune:
        return Alignment((), (), shift, tempo_ratio, False, agreement=agreement)
    return Alignment(tuple(matches), tuple(missed), shift, tempo_ratio, True, tuple(held),
                     agreement)  # fmt: skip


def _is_the_note(centre: float, expected: float, frames: npt.NDArray[np.float64] | None) -> bool:
    """The edge rule: within half a semitone, or within ``EDGE_SEMITONES`` unless the note
    holds past the half-semitone in ``HOLD_SHARE`` of its frames."""
    dist = abs(centre - expected)
    if dist < OK_SEMITONES:
        return True
    if dist >= EDGE_SEMITONES or frames is None:
        return False
    heard = frames[np.isfinite(frames)]
    if len(heard) == 0:
        return False
    return float(np.mean(np.abs(heard - expected) >= OK_SEMITONES)) < HOLD_SHARE


def timing_flags(alignment: Alignment, score: Score) -> list[tuple[NoteMatch, float]]:
    """Matched notes early (negative) or late by more than a teacher lets pass, with the error
    in beats: ``TIMING_BEATS`` of the take's own beat and at least ``TIMING_MIN_S``. None for
    an untimed tune (typed without lengths): its even beats are a placeholder, not a rhythm."""
    spb = alignment.seconds_per_beat(score)
    if spb <= 0 or not score.timed:
        return []
    limit = max(TIMING_BEATS * spb, TIMING_MIN_S)
    return [
        (mt, mt.onset_error_s / spb)
        for mt in alignment.matches
        if mt.onset_error_s is not None and abs(mt.onset_error_s) > limit
    ]


MAX_FIX_SEMITONES = 3  # a wrong note is moved onto its score note only this far (PSOLA stays clean)


def correction_targets(
    alignment: Alignment, centres_midi: Sequence[float], *, fix_wrong_notes: bool = False
) -> tuple[list[int | None], list[int]]:
    """Per performed note, the note to tune it to (None: the nearest, as without a score) and
    the whole semitones to move it on top of that.

    A right note goes to its score note (after transposition), so one a quarter-tone off goes
    where the tune wants it, not to whichever semitone is nearer. A wrong note keeps the note
    the learner played (tuned to it) unless ``fix_wrong_notes``: then it is moved onto the score
    note, up to ``MAX_FIX_SEMITONES``. Extra notes, and every note of a take that is not the
    tune, go to the nearest note as before.
    """
    forced: list[int | None] = [None] * len(centres_midi)
    moves = [0] * len(centres_midi)
    if not alignment.is_the_tune:
        return forced, moves
    for mt in alignment.matches:
        i = mt.performed_index
        if mt.expected_midi is None or not np.isfinite(centres_midi[i]):
            continue
        if mt.verdict == "ok":
            forced[i] = mt.expected_midi
        elif mt.verdict == "wrong":
            played = round(float(centres_midi[i]))
            forced[i] = played
            if fix_wrong_notes and abs(mt.expected_midi - played) <= MAX_FIX_SEMITONES:
                moves[i] = mt.expected_midi - played
    return forced, moves
