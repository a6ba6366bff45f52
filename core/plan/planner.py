"""The plan: everything decided before a sample is moved.

Track, cut into notes, keep the performance's, choose the key and each note's target and shift;
with a tune, say which performed note is which score note and re-cut re-struck repeats. Only
per-frame arrays come in (:class:`core.analysis.clip.Analysis`), so planning is the same for a
streamed clip and a clip in memory, and benchmarks can hand exactly these targets to other
shifters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.analysis.clip import Analysis, analyse
from core.errors import Silent, Speech, TooShort, Unpitched
from core.media.audio import check_level, check_not_silent, to_mono
from core.plan.options import CorrectOptions, Progress, no_progress
from core.plan.performance import Voicing, performance_notes, voicing_of
from core.plan.scales import CHROMATIC, Key, detect_key, estimate_a4, instrument_range, parse_key
from core.plan.segment import Note, cut_at_onsets, segment_notes
from core.plan.targets import NoteTarget, plan_notes, shift_curve_cents
from models.units import hz_to_midi

if TYPE_CHECKING:
    from core.analysis.pitch import PitchTrack
    from core.media.spool import AudioSource
    from core.score.align import Alignment
    from core.score.model import Score
    from models.network import Tracker

MIN_PITCHED_S = 0.5  # s: less sustained pitch than this in a whole clip is "nothing to correct"
SUSTAINED_NOTE_S = 0.15  # s: notes shorter than this don't count towards MIN_PITCHED_S...
SUSTAINED_MEASURED_SHARE = 0.7  # ...nor do notes with a followable fundamental in fewer frames
A4_RESEGMENT_CENTS = 0.1  # cents: an A4 read on the performance alone this far off re-cuts notes
JUDGED_NOTE_S = 0.05  # s: shorter notes are not checked against a score (blips, not notes)...
JUDGED_WOBBLE_CENTS = 100.0  # ...nor ones whose pitch swings more than a semitone (no pitch)
REPEAT_TOLERANCE_BEATS = 0.4  # a re-struck repeat's attack this far (beats) from where it belonged
ROOM_TONE_DBFS = -35.0  # dBFS: with nothing voiced, a clip whose loudest window stays under
# this is a recording of a quiet room (silence), not noise (a fan, wind, drums are louder)
# Harmonicity (models.decode.harmonicity_db) under which a take is heard in a room and the
# informed pass listens again (core.plan.informed): bench.gate's dry phrases read 20 dB
# (median), bench.score's dry takes 18-31 dB, its takes in rooms with noise 14 dB and less;
# above it a take is clean and keeps today's reading note for note.
LISTEN_AGAIN_DB = 16.0
RESTRIKE_DB = 3.0  # dB: a note starting in a loudness dip this deep either side has its own attack
# Harmonicity under which a loudness dip is not taken for an attack (the re-strike rule,
# core.score.align ``struck``): in a room the echo, a talker or the noise make and fill dips
# of 3 dB inside a held note, and each piece after one became an "extra" note the learner
# never played. On bench.score's dev takes in rooms (bench.score_noisy --dev) the rule gave
# 29 of the 37 flags on clean takes at 20 dB; applied only from 18 dB up, 8 flags were left,
# extra F1 rose 0.13 -> 0.30, and the dry takes' extra F1 0.92 -> 0.95 (a dry take that
# reads 16-18 dB had such dips too). Below it a re-strike is absorbed, as before the rule.
ATTACKS_HEARD_DB = 18.0
# In a take that does not read clean, the note cutter hears a tune's repeats as one held note
# (the ring fills their dips) and the ring makes onsets late, so a learner playing the tune can
# read under core.score.align.THE_TUNE_AGREEMENT. A first reading at this agreement is only
# provisional: the repeats it expects are looked for (_split_repeats), and the take is the tune
# if the notes then agree clearly (RESCUED_AGREEMENT, above THE_TUNE_AGREEMENT). On
# bench.score_noisy's dev takes, another tune read in a room agreed up to 0.39 before the
# search and 0.46 after it; a learner's repeat-laden tune (Jingle Bells) 0.35 before, 0.55-0.64
# after.
PROVISIONAL_AGREEMENT = 0.25
RESCUED_AGREEMENT = 0.5
RESTRIKE_REACH = (12, 10)  # frames before / after the note's start where the louder sides are


@dataclass(frozen=True)
class Plan:
    """Everything decided before a sample is moved: the pitch, the notes, their targets."""

    track: PitchTrack
    a4_hz: float
    key: Key
    key_detected: bool
    f0_measured_hz: npt.NDArray[np.float64]  # fundamental refined per frame, NaN unmeasurable
    f0_ref_hz: npt.NDArray[np.float64]  # f0_measured_hz, the tracker's value where NaN
    targets: list[NoteTarget]
    shift_cents: npt.NDArray[np.float64]  # per frame, 0 where nothing moves
    alignment: Alignment | None = None  # the take against options.score (None without one)
    # Indices into ``targets`` of the notes tuned to a note outside a key the user named
    # (never with a detected key, nor a note the tune decided): the report names them.
    off_key: tuple[int, ...] = ()


def plan_correction(
    samples: npt.NDArray[np.float32] | None,
    sample_rate: int,
    options: CorrectOptions = CorrectOptions(),
    *,
    tracker: Tracker | None = None,
    progress: Progress | None = None,
    mono: npt.NDArray[np.float32] | None = None,
    analysis: Analysis | None = None,
    source: AudioSource | None = None,
) -> Plan:
    """Track, cut into notes, choose the key and each note's target and shift.

    Public so that benchmarks can hand exactly the same targets to other shifters.
    ``analysis`` is :func:`core.analysis.clip.analyse` of the clip when the caller streamed it
    (then ``samples`` may be None): planning reads per-frame arrays, and ``source`` (the
    clip's samples) only for the score-informed listening of a noisy take (core.plan.informed).

    Raises:
        Silent: no window of the recording is loud enough to analyse, or nothing voiced
            in a quiet room (see :func:`_refuse_nothing_to_correct`).
        Speech: talk, not a melody (the reason for any clip that reads as speech).
        TooShort: a held note, but less than ``MIN_PITCHED_S`` of sustained notes.
        Unpitched: sound, but no sustained notes (noise, drums).
    """
    from core.media.spool import ArraySource

    report_progress = progress or no_progress
    if analysis is None:
        if samples is None and mono is None:
            raise ValueError("plan_correction needs samples, mono or an analysis")
        mono = to_mono(samples) if mono is None else mono  # type: ignore[arg-type]
        check_not_silent(mono, sample_rate)
        source = ArraySource(mono[np.newaxis, :], sample_rate)
        analysis = analyse(source, tracker=tracker, device=options.device,
                           progress=report_progress)  # fmt: skip
    check_level(analysis.loudest_dbfs)
    track = analysis.track
    hop_s = track.hop_s
    report_progress("analysing", 0.6)
    a4_hz = options.a4_hz if options.a4_hz is not None else estimate_a4(track.f0_hz)
    midi_range = instrument_range(options.instrument) if options.instrument else None
    envelope = analysis.envelope_db
    f0_measured = analysis.f0_measured_hz
    # Only notes with a fundamental to follow count: a tracker can call breath or noise voiced.
    measurable = np.isfinite(f0_measured)
    # A take that does not read clean was likely made in a room: its held notes' loudness
    # swings as the room says, and only its deepest dips are attacks (core.plan.segment).
    echoing = not _reads_clean(track)

    def performed(a4: float) -> tuple[list[Note], list[Note]]:
        cut = segment_notes(track, a4_hz=a4, midi_range=midi_range, envelope_db=envelope,
                            f0_measured_hz=f0_measured, echoing=echoing)  # fmt: skip
        return cut, performance_notes(cut, track.voiced_prob, envelope, measurable)

    cut, notes = performed(a4_hz)
    if options.a4_hz is None and notes:
        # A4 is the performance's: a count-in, hum or a remark must not pull the estimate.
        in_notes = np.zeros(len(track), dtype=bool)
        for note in notes:
            in_notes[note.start : note.end] = True
        a4_performed = estimate_a4(np.where(in_notes, track.f0_hz, np.nan))
        if abs(1200.0 * np.log2(a4_performed / a4_hz)) > A4_RESEGMENT_CENTS:
            a4_hz = a4_performed
            cut, notes = performed(a4_hz)
    pitched_s = sum(
        n.duration_s
        for n in notes
        if n.duration_s >= SUSTAINED_NOTE_S
        and measurable[n.steady_start : n.steady_end].mean() >= SUSTAINED_MEASURED_SHARE
    )
    _refuse_nothing_to_correct(voicing_of(track.f0_hz, cut, hop_s), pitched_s,
                               analysis.loudest_dbfs)  # fmt: skip
    heard_notes = (_heard_notes(cut, track, envelope, measurable, a4_hz, source)
                   if echoing and options.hear_onsets and source is not None else None)  # fmt: skip
    # Frames where the phase could not be trusted keep the tracker's value (plots, hard mode);
    # plan_notes sees the gaps and leaves notes it cannot measure alone.
    f0_ref = np.where(np.isfinite(f0_measured), f0_measured, track.f0_hz)
    named = parse_key(options.key, options.scale)
    key, allowed, preferred = _choose_key(named, options.scale, notes)
    # Centres on the tracker's own (NCCF-refined) pitch: a periodicity measure, like the ear's
    # and Praat's, whereas the fundamental's phase alone is pulled around by a weak fundamental
    # under strong harmonics (violin: up to 8 cents apart, measured in bench/retune.py).
    plan_targets = partial(
        plan_notes,
        f0_hz=track.f0_hz,
        allowed=allowed,
        preferred=preferred,
        measurable=measurable,
        a4_hz=a4_hz,
        mode=options.mode,
        strength=options.strength,
        deadband_cents=options.deadband_cents,
    )
    alignment = None
    forced: Sequence[int | None] | None = None  # per note, the tune's note it is tuned to
    if options.score is None:
        notes = heard_notes if heard_notes is not None else notes
        targets = plan_targets(notes)
    else:
        # With a tune, its notes are the targets: the nearest-note plan gives the centres,
        # the alignment says which score note each one is (milliseconds: it is note-level).
        read = partial(_read_against_tune, options=options, track=track, a4_hz=a4_hz,
                       envelope=envelope, source=source, plan_targets=plan_targets)  # fmt: skip
        notes, targets, alignment = read(notes, plan_targets(notes))
        if heard_notes is not None:
            # The tune chooses the reading (a TV's attack reads further from it); the onsets
            # never decide whether it is the tune: more pieces, more chances to fit another
            # tune's repeats (2 of 384 dev readings against other tunes passed that way).
            heard_notes, heard_targets, heard = read(heard_notes, plan_targets(heard_notes))
            if alignment.is_the_tune and heard.agreement >= alignment.agreement:
                notes, targets, alignment = heard_notes, heard_targets, heard
        if alignment.is_the_tune:
            from core.score.align import correction_targets

            centres = [t.centre_midi for t in targets]
            forced, moves = correction_targets(
                alignment, centres, fix_wrong_notes=options.fix_wrong_notes
            )
            targets = plan_targets(notes, forced_midi=forced, semitones=moves)
    # Hard mode flattens frame by frame on the tracker's own reading: a periodicity measure
    # agrees with the ear (and Praat) frame by frame better than the fundamental alone does
    # (real flute take: 4.8 vs 7.1 cents mean difference from Praat per frame).
    shift = shift_curve_cents(
        targets,
        len(track),
        hop_s,
        f0_ref_hz=track.f0_hz,
        mode=options.mode,
        strength=options.strength,
        a4_hz=a4_hz,
    )
    report_progress("analysing", 1.0)
    off_key: tuple[int, ...] = ()
    if named is not None:
        in_key = named.allowed_mask()
        off_key = tuple(k for k, t in enumerate(targets) if (forced is None or forced[k] is None)
                        and not in_key[(t.target_midi - t.semitones) % 12])  # fmt: skip
    return Plan(track, a4_hz, key, named is None, f0_measured, f0_ref, targets, shift, alignment,
                off_key)  # fmt: skip


def _refuse_nothing_to_correct(voicing: Voicing, pitched_s: float, loudest_dbfs: float) -> None:
    """Refuse a clip with nothing to correct, naming the reason a learner recognises.

    Speech first, whatever else the clip holds: a spoken message with a few vowels held long
    enough to count as notes is still talk (core.plan.performance.Voicing.speech holds a clip
    with a second of held pitch, or a melody's unbroken voicing, to be music). Then the usual
    test, ``MIN_PITCHED_S`` of sustained notes, with its reason: a held note that was too
    short, nothing voiced in a quiet room (silence, though above the decoder's silence level),
    or sound without pitch (noise, drums).
    """
    facts = {"pitched_s": round(pitched_s, 3), "voiced_s": round(voicing.voiced_s, 3)}
    if voicing.speech:
        raise Speech("voiced syllables that glide, no held notes", syllables=voicing.syllables,
                     **facts)  # fmt: skip
    if pitched_s >= MIN_PITCHED_S:
        return
    if pitched_s >= SUSTAINED_NOTE_S:
        raise TooShort("too little sustained pitch", min_s=MIN_PITCHED_S, **facts)
    if voicing.syllables == 0 and loudest_dbfs < ROOM_TONE_DBFS:
        level = round(float(loudest_dbfs), 1)
        raise Silent(f"nothing voiced; loudest window {level} dBFS", level_dbfs=level,
                     threshold_dbfs=ROOM_TONE_DBFS)  # fmt: skip
    raise Unpitched("no sustained pitched note", **facts)


def _heard_notes(
    cut: list[Note],
    track: PitchTrack,
    envelope: npt.NDArray[np.float64],
    measurable: npt.NDArray[np.bool_],
    a4_hz: float,
    source: AudioSource,
) -> list[Note] | None:
    """The performance's notes cut again where the onset network heard notes begin, or None
    where that changes nothing.

    In a room the pitch track hears a note's onset late in the ring of the one before and a
    re-struck repeat not at all (core.analysis.onsets). Any heard onset may move a start back;
    only one where the sounding pitch's own harmonics rise cuts a note in two (the network
    hears a TV's chord or a talker's syllable too).
    """
    from core.analysis import onsets
    from models.onsets import load_onset_net

    prob = onsets.onset_probability(source, len(track), load_onset_net())
    own = partial(onsets.own_onset, source, f0_hz=track.f0_hz, hop_s=track.hop_s)
    recut = cut_at_onsets(cut, onsets.onset_frames(prob), track.f0_hz, envelope, a4_hz=a4_hz,
                          may_split=own)  # fmt: skip
    if recut is cut:
        return None
    return performance_notes(recut, track.voiced_prob, envelope, measurable)


def _reads_clean(track: PitchTrack) -> bool:
    """One gate for the rules that trust a take's loudness: at ``ATTACKS_HEARD_DB`` and up its
    dips are attacks; under it a room or noise may have made them."""
    return bool(track.harmonicity_db >= ATTACKS_HEARD_DB)


def _read_against_tune(
    notes: list[Note],
    targets: list[NoteTarget],
    options: CorrectOptions,
    track: PitchTrack,
    a4_hz: float,
    envelope: npt.NDArray[np.float64],
    source: AudioSource | None,
    plan_targets: Callable[[list[Note]], list[NoteTarget]],
) -> tuple[list[Note], list[NoteTarget], Alignment]:
    """Which score note each performed note is: aligned, repeats re-cut where the tune has
    them, aligned again, and in a noisy room (with ``options.informed``) listened to again.
    In a take that does not read clean, a reading short of the tune's agreement is first
    taken as provisional (``PROVISIONAL_AGREEMENT``) to look for the tune's repeats."""
    assert options.score is not None
    # A loudness dip is an attack only in a take that reads clean (see ATTACKS_HEARD_DB).
    attacks = envelope if _reads_clean(track) else None
    realign = partial(_align, options=options, f0_hz=track.f0_hz, a4_hz=a4_hz,
                      envelope_db=attacks)  # fmt: skip
    alignment = realign(targets)
    if not alignment.is_the_tune and attacks is None:
        provisional = realign(targets, min_agreement=PROVISIONAL_AGREEMENT)
        notes, targets, alignment = _recut_repeats(
            notes, targets, provisional, options, track, a4_hz, envelope, plan_targets, realign,
            fallback=alignment,
        )  # fmt: skip
    if alignment.is_the_tune:
        notes, targets, alignment = _recut_repeats(
            notes, targets, alignment, options, track, a4_hz, envelope, plan_targets, realign
        )
    if options.informed and alignment.is_the_tune and track.harmonicity_db < LISTEN_AGAIN_DB:
        notes, targets, alignment = _listen_again(
            notes, targets, alignment, plan_targets,
            partial(_informed_rise, source=source, a4_hz=a4_hz), realign,
            partial(_split_repeats, score=options.score, f0_hz=track.f0_hz,
                    envelope_db=envelope, a4_hz=a4_hz),
        )  # fmt: skip
    return notes, targets, alignment


def _recut_repeats(
    notes: list[Note],
    targets: list[NoteTarget],
    alignment: Alignment,
    options: CorrectOptions,
    track: PitchTrack,
    a4_hz: float,
    envelope: npt.NDArray[np.float64],
    plan_targets: Callable[[list[Note]], list[NoteTarget]],
    realign: Callable[..., Alignment],
    *,
    fallback: Alignment | None = None,
) -> tuple[list[Note], list[NoteTarget], Alignment]:
    """The notes re-cut where ``alignment`` (when it is the tune) expects repeats, aligned again.

    With ``fallback`` the alignment is provisional: the re-cut reading is kept only if it is
    the tune at ``RESCUED_AGREEMENT``, otherwise the notes stay as they were with ``fallback``.
    """
    keep = (notes, targets, alignment if fallback is None else fallback)
    if not alignment.is_the_tune:
        return keep
    assert options.score is not None
    split = _split_repeats(notes, targets, alignment, options.score, track.f0_hz, envelope, a4_hz)
    if len(split) <= len(notes):
        return keep
    split_targets = plan_targets(split)
    if fallback is None:
        return split, split_targets, realign(split_targets)
    again = realign(split_targets, min_agreement=RESCUED_AGREEMENT)
    if not again.is_the_tune:
        return keep
    return split, split_targets, again


def _align(
    targets: list[NoteTarget],
    options: CorrectOptions,
    f0_hz: npt.NDArray[np.float64],
    a4_hz: float,
    envelope_db: npt.NDArray[np.float64] | None = None,
    min_agreement: float | None = None,
) -> Alignment:
    """The take's notes against options.score; performed indices are into ``targets``.

    Each note is judged by where it is heard (:func:`core.plan.segment.heard_midi` over the frames
    its centre comes from): a short note with a wide vibrato played 40 cents sharp must not
    be read 50 cents sharp and called the next note.
    """
    from core.plan.segment import heard_midi
    from core.plan.targets import centre_window
    from core.score.align import align

    assert options.score is not None
    midi_all = hz_to_midi(f0_hz, a4_hz=a4_hz)
    centres, frames = [], []
    for t in targets:
        a, b = centre_window(t.note)
        heard = heard_midi(midi_all[a:b], t.note.hop_s)
        centres.append(heard if np.isfinite(heard) else t.centre_midi)
        frames.append(np.asarray(midi_all[a:b], dtype=np.float64))
    # Blips and pitchless wobbles (a breath, a word, a tracker slip) are not notes a
    # teacher would judge: they are left out of the alignment and tuned as usual.
    judged = [
        k
        for k, t in enumerate(targets)
        if t.note.duration_s >= JUDGED_NOTE_S and t.note.vibrato_cents <= JUDGED_WOBBLE_CENTS
    ]
    alignment = align(
        [centres[k] for k in judged],
        [targets[k].note.start_s for k in judged],
        [targets[k].note.end_s for k in judged],
        options.score,
        transpose=options.transpose,
        frames_midi=[frames[k] for k in judged],
        struck=None if envelope_db is None else [_struck(targets[k].note, envelope_db)
                                                 for k in judged],
        **({} if min_agreement is None else {"min_agreement": min_agreement}),
    )  # fmt: skip
    return replace(
        alignment,
        matches=tuple(replace(m, performed_index=judged[m.performed_index])
                      for m in alignment.matches),
    )  # fmt: skip


def _listen_again(
    notes: list[Note],
    targets: list[NoteTarget],
    alignment: Alignment,
    plan_targets: Callable[[list[Note]], list[NoteTarget]],
    rise: Callable[[list[Note], list[NoteTarget], Alignment], list[Note]],
    realign: Callable[[list[NoteTarget]], Alignment],
    split: Callable[..., list[Note]],
) -> tuple[list[Note], list[NoteTarget], Alignment]:
    """The score-informed second listening of a noisy take (core.plan.informed): onsets
    heard late in the previous note's ring start where the note's own harmonics rise, repeats
    in the ring are looked for with a shallower dip, and the notes are aligned again."""
    from core.plan import informed

    heard = rise(notes, targets, alignment)
    heard_targets = plan_targets(heard) if heard is not notes else targets
    split_notes = split(heard, heard_targets, alignment, dip_db=informed.RING_DIP_DB)
    if split_notes is notes:
        return notes, targets, alignment
    new_targets = plan_targets(split_notes)
    return split_notes, new_targets, realign(new_targets)


def _informed_rise(
    notes: list[Note],
    targets: list[NoteTarget],
    alignment: Alignment,
    *,
    source: AudioSource | None,
    a4_hz: float,
) -> list[Note]:
    """:func:`core.plan.informed.rise_onsets` where the clip's samples are at hand."""
    from core.plan import informed

    if source is None:
        return notes
    return informed.rise_onsets(notes, targets, alignment, source, a4_hz)


def _struck(note: Note, envelope_db: npt.NDArray[np.float64]) -> bool:
    """Whether the note begins with an attack of its own: it starts in a loudness dip at least
    ``RESTRIKE_DB`` below the sound just before and just after it. A piece the note cutter
    split off a note on its pitch alone (a wobble) has none, and stays a continuation."""
    s = note.start
    before, after = RESTRIKE_REACH
    if s < 3 or s + 2 > len(envelope_db):
        return False
    dip = float(np.min(envelope_db[s - 2 : s + 2]))
    prior = float(np.max(envelope_db[max(0, s - before) : s - 2]))
    rise = float(np.max(envelope_db[s : s + after]))
    return prior - dip >= RESTRIKE_DB and rise - dip >= RESTRIKE_DB


def _split_repeats(
    notes: list[Note],
    targets: list[NoteTarget],
    alignment: Alignment,
    score: Score,
    f0_hz: npt.NDArray[np.float64],
    envelope_db: npt.NDArray[np.float64],
    a4_hz: float,
    *,
    dip_db: float | None = None,
) -> list[Note]:
    """Notes re-cut where the tune has a repeat of a note's pitch that the note sounds through.

    A score note the alignment found missed or held, at a time a performed note of its pitch
    is sounding, was most likely re-struck softly (core.plan.segment.split_repeats looks for its
    attack there); so was a repeat the alignment passed over when it went back in the score
    right after the note (a jump back from the note leaves the repeats after it unvisited,
    neither missed nor held, yet the note sounds through where they belong). The repeats that
    follow a right note are timed from its own onset by the score's rhythm at the take's
    tempo (nearer the attack than the local tempo line a missed note's time comes from, which
    leans on neighbours a beat or more away), so they are looked for first. The notes come
    back in order, the same list when nothing was split.
    """
    from core.plan.segment import MIN_NOTE_S, split_repeats
    from core.score.align import OK_SEMITONES

    beat_s = alignment.seconds_per_beat(score)
    if beat_s <= 0:
        return notes
    tolerance_s = REPEAT_TOLERANCE_BEATS * beat_s
    wanted: dict[int, list[float]] = {}

    def want(k: int, at_s: float) -> None:
        """Look for a repeat in note ``k`` at ``at_s``, unless one is asked for near it."""
        times = wanted.setdefault(k, [])
        if all(abs(at_s - was) > tolerance_s for was in times):
            times.append(at_s)

    anchors = [m for m in alignment.matches if m.score_index is not None
               and m.onset_error_s is not None]  # fmt: skip
    for m, after in zip(anchors, [*anchors[1:], None], strict=True):
        if m.verdict != "ok":
            continue
        assert m.score_index is not None
        t, j = targets[m.performed_index], m.score_index
        reached = after.score_index if after is not None and after.score_index is not None else -1
        q = j + 1
        while q < len(score.notes) and score.notes[q].midi == score.notes[j].midi:
            at = t.note.start_s + (score.notes[q].onset_beats - score.notes[j].onset_beats) * beat_s
            if q >= reached > j or at >= t.note.end_s - MIN_NOTE_S:
                break
            want(m.performed_index, at)
            q += 1
    for gone in (*alignment.missed, *alignment.held):
        for k, t in enumerate(targets):
            # It belonged inside the note (a skipped repeat leaves a gap: the note ends first).
            sounds = t.note.start_s < gone.at_s < t.note.end_s - MIN_NOTE_S
            if sounds and abs(t.centre_midi - gone.expected_midi) < OK_SEMITONES:
                want(k, gone.at_s)
                break
    if not wanted:
        return notes
    out: list[Note] = []
    for k, note in enumerate(notes):
        if k not in wanted:
            out.append(note)
            continue
        tolerance = max(1, round(tolerance_s / note.hop_s))
        frames = [round(at / note.hop_s) for at in wanted[k]]
        out += split_repeats(note, frames, tolerance, f0_hz, envelope_db, a4_hz=a4_hz,
                             **({} if dip_db is None else {"dip_db": dip_db}))  # fmt: skip
    return out


def _choose_key(
    named: Key | None, scale: str, notes: list[Note]
) -> tuple[Key, npt.NDArray[np.bool_], npt.NDArray[np.bool_] | None]:
    """The key to report, the allowed pitch classes and the preferred ones (near-ties).

    Every chromatic note stays reachable, whether the key is named or detected: a key pulls
    only a note within ``core.plan.targets.PREFER_KEY_CENTS`` of a midpoint onto its note."""
    if named is not None:
        # A named key is a preference, as a detected one is: it never moves a sung note onto
        # another note. A note nearest a note outside the key is tuned to that note and
        # reported (Plan.off_key); inside the key the targets are what the strict key gave.
        return named, CHROMATIC.allowed_mask(), named.allowed_mask()
    if scale == "chromatic":
        return CHROMATIC, CHROMATIC.allowed_mask(), None
    # Major and minor compete on the histogram (the CLI's default "major" is no statement about
    # the music); any other scale named without a tonic is kept and only its tonic is detected.
    keep_scale = scale not in ("major", "minor", "natural_minor")
    detected = detect_key(
        [n.midi for n in notes], [n.duration_s for n in notes], scale=scale if keep_scale else None
    )
    return detected, CHROMATIC.allowed_mask(), detected.allowed_mask()
