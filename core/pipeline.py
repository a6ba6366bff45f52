"""The one correction pipeline: the CLI (``smask correct``) and the bot worker both call it.

decode -> track pitch -> cut notes -> choose targets -> shift -> measure again -> encode. The
stages report progress through one callback so a terminal bar and a chat message edit can show
the same thing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from core.analysis import Analysis, analyse
from core.audio import check_level, check_not_silent, to_mono
from core.errors import Unpitched
from core.notes import Note, segment_notes
from core.performance import performance_notes
from core.report import MissedReport, NoteReport, Report, ScoreReport
from core.scales import (
    CHROMATIC,
    Key,
    detect_key,
    estimate_a4,
    instrument_range,
    parse_key,
)
from core.targets import NoteTarget, plan_notes, shift_curve_cents
from models.units import A4_HZ, hz_to_midi, midi_to_hz, midi_to_note_name

if TYPE_CHECKING:
    from core.align import Alignment
    from core.limits import MediaLimits
    from core.media import ResultWriter
    from core.pitch import PitchTrack
    from core.probe import Container, MediaInfo
    from core.score import Score
    from core.spool import AudioSource
    from models.network import Tracker

Progress = Callable[[str, float], None]
STAGES = ("decoding", "analysing", "retuning", "encoding")
MIN_PITCHED_S = 0.5  # s: less sustained pitch than this in a whole clip is "nothing to correct"
SUSTAINED_NOTE_S = 0.15  # s: notes shorter than this don't count towards MIN_PITCHED_S...
SUSTAINED_MEASURED_SHARE = 0.7  # ...nor do notes with a followable fundamental in fewer frames
A4_RESEGMENT_CENTS = 0.1  # cents: an A4 read on the performance alone this far off re-cuts notes
JUDGED_NOTE_S = 0.05  # s: shorter notes are not checked against a score (blips, not notes)...
JUDGED_WOBBLE_CENTS = 100.0  # ...nor ones whose pitch swings more than a semitone (no pitch)
REPEAT_TOLERANCE_BEATS = 0.4  # a re-struck repeat's attack this far (beats) from where it belonged
MAX_TRANSPOSE = 48  # semitones: four octaves either way covers every instrument's reading


@dataclass(frozen=True)
class CorrectOptions:
    """What the user may choose; the same fields are CLI flags and bot settings.

    Attributes:
        key: tonic such as ``"D"``, ``"Bb"`` or ``"F#m"``. Named: the scale is applied strictly
            (every note goes to a note of the scale). None: the key is detected from the pitch
            histogram and only breaks near-ties (a note within 15 cents of the midpoint between
            two notes goes to the one in the key); every chromatic note stays reachable, because
            a wrong guess must never pull a deliberate accidental by a semitone.
        scale: a name from data/scales.csv (major, minor, harmonic_minor, chromatic, ...).
            With no key named, major and minor are detected alike from the notes; another
            scale is kept and only its tonic is detected.
        a4_hz: reference pitch in Hz; None estimates it from the recording.
        mode: ``"natural"`` moves each note's centre and keeps vibrato and slides; ``"hard"``
            flattens every note onto its target.
        strength: percent of each note's error removed.
        deadband_cents: notes closer than this to their target are left alone. Natural mode
            always leaves notes within ``core.targets.IN_TUNE_CENTS`` (3) alone: nobody hears
            that, and it is about the tracker's own error, so moving them would add error. Past
            the edge the correction fades in over ``core.targets.KNEE_CENTS`` (3), so a note just
            outside it is nudged, not jumped onto the target.
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
            from core.score import Score

            if not isinstance(self.score, Score):
                raise ValueError(
                    f"score must be a core.score.Score, got {type(self.score).__name__}"
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


def _no_progress(stage: str, fraction: float) -> None:
    return None


def correct_file(
    src: str | Path,
    dst: str | Path,
    options: CorrectOptions = CorrectOptions(),
    *,
    progress: Progress | None = None,
    tracker: Tracker | None = None,
    limits: MediaLimits | None = None,
    require_video: bool = False,
    info: MediaInfo | None = None,
    container: Container | None = None,
) -> Report:
    """Correct the intonation of a clip; the picture is copied bit for bit.

    ``info`` is the clip's :func:`core.probe.probe` result when the caller already has it (the
    bot's worker probes first, to refuse a bad file before loading the model); ``limits`` and
    ``require_video`` then only apply if it is None. ``container`` picks the result's format
    for audio-only inputs (default: the input's own, see :func:`core.media.result_container`).

    Raises:
        core.errors.InputError: the clip is refused (each subclass has a stable ``code``);
            Silent and Unpitched when there is nothing to correct.
        core.errors.ProcessingError: ffmpeg failed on a clip it had accepted.
    """
    from core.limits import MediaLimits
    from core.media import open_result, start_decode
    from core.probe import probe

    report_progress = progress or _no_progress
    report_progress("decoding", 0.0)
    # Streamed: torch and the model load in a thread from the start (under the probe's and
    # the decode's ffmpeg runs); ffmpeg decodes into a spool on disk; the analysis follows
    # the decoder; the encoder takes untouched audio straight from the spool once the plan
    # is known, and the shifted regions in clip order as they are done.
    get_tracker = load_tracker_in_background(tracker, options.device, options.weights)
    if info is None:
        info = probe(Path(src), limits=limits or MediaLimits(), require_video=require_video)
    spool = start_decode(Path(src), info, directory=Path(dst).resolve().parent)
    with contextlib.closing(spool):
        # The encoder starts now and waits on its pipe, so its start-up (exec, opening the
        # clip, the muxer) is not on the path from the plan to the first encoded sample. A
        # clip refused later (Silent, Unpitched) kills it and leaves no file.
        with open_result(Path(src), Path(dst), info, container=container) as writer:
            analysis = analyse(spool, tracker=get_tracker, device=options.device,
                               progress=report_progress)  # fmt: skip
            plan = plan_correction(
                None, spool.sample_rate, options, progress=report_progress, analysis=analysis
            )
            report_progress("retuning", 0.0)
            f0_after = _shift_streamed(spool, plan, options, writer, report_progress)
            report_progress("encoding", 0.0)
        report = _report(plan, f0_after, spool.length, spool.sample_rate, options)
    report_progress("encoding", 1.0)
    return report


def preload() -> None:
    """Import now what :func:`correct_file` imports lazily (torch, the tracker, the shifter,
    the media path, torchaudio's resampler).

    ``import core.pipeline`` stays light for a one-shot CLI run, which loads torch in a thread
    under ffmpeg; a long-lived worker calls this before its first job instead, so no job pays
    (or stalls its event loop on) a first import.
    """
    import torchaudio.functional  # noqa: F401  (core.pitch's resampler, imported on first use)

    import core.limits
    import core.media
    import core.pitch
    import core.probe
    import core.psola
    import core.spool  # noqa: F401


def load_tracker_in_background(
    tracker: Tracker | None, device: str | None, weights: str = "auto"
) -> Tracker | Callable[[], Tracker]:
    """The tracker, or a callable that waits for it while it loads in a thread of its own.

    Importing torch and reading the weights (most of a cold start) then overlaps ffmpeg's
    decode and the loudness pass instead of preceding them.
    """
    if tracker is not None:
        return tracker
    box: dict[str, Any] = {}

    def load() -> None:
        try:
            from core.pitch import shipped_tracker

            box["tracker"] = shipped_tracker(device, weights)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=load, name="smask-model", daemon=True)
    thread.start()

    def wait() -> Tracker:
        thread.join()
        if "error" in box:
            raise box["error"]
        loaded: Tracker = box["tracker"]
        return loaded

    return wait


def _shift_streamed(
    spool: AudioSource,
    plan: Plan,
    options: CorrectOptions,
    writer: ResultWriter,
    report_progress: Progress,
) -> npt.NDArray[np.float64]:
    """Shift from the spool into the encoder; the output's fundamental, measured on the way."""
    from core.measures import FrameF0
    from core.psola import shift_source

    hop_s, sample_rate, n = plan.track.hop_s, spool.sample_rate, spool.length
    # Where the shift is 0 the output is the input, so what was unmeasurable stays so.
    expected = plan.f0_ref_hz * np.power(2.0, plan.shift_cents / 1200.0)
    after = FrameF0(expected, sample_rate, hop_s, n)
    step = max(1, round(4.0 * sample_rate))

    def write(block: npt.NDArray[np.float32]) -> None:
        writer.write(block)
        after.push(to_mono(block))

    def copy(start: int, stop: int) -> None:
        writer.copy(spool, start, stop)
        for first in range(start, stop, step):
            after.push(to_mono(spool.read(first, min(stop, first + step))))

    shift_source(spool, plan.f0_ref_hz, plan.shift_cents, hop_s, write=write, copy=copy,
                 device=options.device,
                 progress=lambda f: report_progress("retuning", 0.8 * f))  # fmt: skip
    return after.result()


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


def plan_correction(
    samples: npt.NDArray[np.float32] | None,
    sample_rate: int,
    options: CorrectOptions = CorrectOptions(),
    *,
    tracker: Tracker | None = None,
    progress: Progress | None = None,
    mono: npt.NDArray[np.float32] | None = None,
    analysis: Analysis | None = None,
) -> Plan:
    """Track, cut into notes, choose the key and each note's target and shift.

    Public so that benchmarks can hand exactly the same targets to other shifters.
    ``analysis`` is :func:`core.analysis.analyse` of the clip when the caller streamed it
    (then ``samples`` may be None): planning itself only reads per-frame arrays.

    Raises:
        Silent: no window of the recording is loud enough to analyse.
        Unpitched: sound, but less than ``MIN_PITCHED_S`` of sustained notes.
    """
    from core.spool import ArraySource

    report_progress = progress or _no_progress
    if analysis is None:
        if samples is None and mono is None:
            raise ValueError("plan_correction needs samples, mono or an analysis")
        mono = to_mono(samples) if mono is None else mono  # type: ignore[arg-type]
        check_not_silent(mono, sample_rate)
        analysis = analyse(ArraySource(mono[np.newaxis, :], sample_rate), tracker=tracker,
                           device=options.device, progress=report_progress)  # fmt: skip
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

    def performed(a4: float) -> list[Note]:
        cut = segment_notes(track, a4_hz=a4, midi_range=midi_range, envelope_db=envelope,
                            f0_measured_hz=f0_measured)  # fmt: skip
        return performance_notes(cut, track.voiced_prob, envelope, measurable)

    notes = performed(a4_hz)
    if options.a4_hz is None and notes:
        # A4 is the performance's: a count-in, hum or a remark must not pull the estimate.
        in_notes = np.zeros(len(track), dtype=bool)
        for note in notes:
            in_notes[note.start : note.end] = True
        a4_performed = estimate_a4(np.where(in_notes, track.f0_hz, np.nan))
        if abs(1200.0 * np.log2(a4_performed / a4_hz)) > A4_RESEGMENT_CENTS:
            a4_hz = a4_performed
            notes = performed(a4_hz)
    pitched_s = sum(
        n.duration_s
        for n in notes
        if n.duration_s >= SUSTAINED_NOTE_S
        and measurable[n.steady_start : n.steady_end].mean() >= SUSTAINED_MEASURED_SHARE
    )
    if pitched_s < MIN_PITCHED_S:
        raise Unpitched("no sustained pitched note", pitched_s=round(pitched_s, 3))
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
    targets = plan_targets(notes)
    alignment = None
    if options.score is not None:
        # With a tune, its notes are the targets: the nearest-note plan gives the centres,
        # the alignment says which score note each one is (milliseconds: it is note-level).
        alignment = _align(targets, options, track.f0_hz, a4_hz)
        if alignment.is_the_tune:
            split = _split_repeats(notes, targets, alignment, options.score, track.f0_hz,
                                   envelope, a4_hz)  # fmt: skip
            if len(split) > len(notes):
                notes = split
                targets = plan_targets(notes)
                alignment = _align(targets, options, track.f0_hz, a4_hz)
        if alignment.is_the_tune:
            from core.align import correction_targets

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
    return Plan(track, a4_hz, key, named is None, f0_measured, f0_ref, targets, shift, alignment)


def _align(
    targets: list[NoteTarget], options: CorrectOptions, f0_hz: npt.NDArray[np.float64], a4_hz: float
) -> Alignment:
    """The take's notes against options.score; performed indices are into ``targets``.

    Each note is judged by where it is heard (:func:`core.notes.heard_midi` over the frames
    its centre comes from): a short note with a wide vibrato played 40 cents sharp must not
    be read 50 cents sharp and called the next note.
    """
    from core.align import align
    from core.notes import heard_midi
    from core.targets import centre_window

    assert options.score is not None
    midi_all = hz_to_midi(f0_hz, a4_hz=a4_hz)
    centres = []
    for t in targets:
        a, b = centre_window(t.note)
        heard = heard_midi(midi_all[a:b], t.note.hop_s)
        centres.append(heard if np.isfinite(heard) else t.centre_midi)
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
    )
    return replace(
        alignment,
        matches=tuple(replace(m, performed_index=judged[m.performed_index])
                      for m in alignment.matches),
    )  # fmt: skip


def _split_repeats(
    notes: list[Note],
    targets: list[NoteTarget],
    alignment: Alignment,
    score: Score,
    f0_hz: npt.NDArray[np.float64],
    envelope_db: npt.NDArray[np.float64],
    a4_hz: float,
) -> list[Note]:
    """Notes re-cut where the tune has a repeat of a note's pitch that the note sounds through.

    A score note the alignment found missed or held, at a time a performed note of its pitch
    is sounding, was most likely re-struck softly (core.notes.split_repeats looks for its
    attack there); so was a repeat the alignment passed over when it went back in the score
    right after the note (a jump back from the note leaves the repeats after it unvisited,
    neither missed nor held, yet the note sounds through where they belong). The repeats that
    follow a right note are timed from its own onset by the score's rhythm at the take's
    tempo (nearer the attack than the local tempo line a missed note's time comes from, which
    leans on neighbours a beat or more away), so they are looked for first. The notes come
    back in order, the same list when nothing was split.
    """
    from core.align import OK_SEMITONES
    from core.notes import MIN_NOTE_S, split_repeats

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
        out += split_repeats(note, frames, tolerance, f0_hz, envelope_db, a4_hz=a4_hz)
    return out


def correct_audio(
    audio: npt.NDArray[np.floating],
    sample_rate: int,
    options: CorrectOptions = CorrectOptions(),
    *,
    tracker: Tracker | None = None,
    progress: Progress | None = None,
) -> tuple[npt.NDArray[np.float32], Report]:
    """Correct ``[channels, samples]`` float32 audio; returns the same shape and the report.

    The whole clip in memory, shifted in one call: the reference :func:`correct_file`'s
    streamed path must match (tests/test_pipeline.py compares them sample for sample).
    """
    from core.psola import shift_pitch

    report_progress = progress or _no_progress
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[np.newaxis, :]
    mono = to_mono(samples)
    plan = plan_correction(
        samples, sample_rate, options, tracker=tracker, progress=progress, mono=mono
    )
    hop_s = plan.track.hop_s
    report_progress("retuning", 0.0)
    corrected = shift_pitch(
        samples,
        sample_rate,
        plan.f0_ref_hz,
        plan.shift_cents,
        hop_s,
        device=options.device,
        mono=mono,
    )
    report_progress("retuning", 0.8)
    report = _measure(plan, corrected, sample_rate, options)
    report_progress("retuning", 1.0)
    return corrected, report


def _measure(
    plan: Plan, corrected: npt.NDArray[np.float32], sample_rate: int, options: CorrectOptions
) -> Report:
    """The report, with "after" measured on the output itself.

    What the shifter did to each note is measured, not assumed: the output's fundamental is
    followed (seeded with the pitch we expect) and compared with the input's, frame by frame;
    the note's median ratio added to its "before" gives "after".
    """
    from core.psola import frame_f0_hz

    # Where the shift is 0 the output is the input, so what was unmeasurable stays so.
    expected = plan.f0_ref_hz * np.power(2.0, plan.shift_cents / 1200.0)
    f0_after = frame_f0_hz(to_mono(corrected), sample_rate, expected, plan.track.hop_s)
    return _report(plan, f0_after, corrected.shape[-1], sample_rate, options)


def _report(
    plan: Plan,
    f0_after: npt.NDArray[np.float64],
    n_samples: int,
    sample_rate: int,
    options: CorrectOptions,
) -> Report:
    """The report from the output's measured fundamental per frame (``f0_after``)."""
    track = plan.track
    moved_cents = 1200.0 * np.log2(f0_after / plan.f0_measured_hz)
    # The plot shows the tracker's pitch moved by what the shifter measurably did.
    shown_after = track.f0_hz * np.power(2.0, np.nan_to_num(moved_cents) / 1200.0)
    note_reports = []
    matches = {m.performed_index: m for m in plan.alignment.matches} if plan.alignment else {}
    for k, t in enumerate(plan.targets):
        steady = moved_cents[t.note.steady_start : t.note.steady_end]
        steady = steady[np.isfinite(steady)]
        moved = float(np.median(steady)) if t.shift_cents != 0.0 and len(steady) else 0.0
        # "Before" is the intonation of what was played: a wrong note moved onto its score
        # note was this far from the note the learner played, and "after" from the score note.
        before = t.cents_before + 100.0 * t.semitones
        match = matches.get(k)
        score_midi = match.expected_midi if match is not None else None
        note_reports.append(
            NoteReport(
                start_s=t.note.start_s,
                end_s=t.note.end_s,
                name=midi_to_note_name(t.target_midi),
                target_hz=float(midi_to_hz(t.target_midi, a4_hz=plan.a4_hz)),
                cents_before=before,
                cents_after=before + moved - 100.0 * t.semitones,
                vibrato_cents=t.note.vibrato_cents,
                score_index=match.score_index if match is not None else None,
                expected=midi_to_note_name(score_midi) if score_midi is not None else None,
                verdict=match.verdict if match is not None else None,
                onset_error_s=match.onset_error_s if match is not None else None,
                played=midi_to_note_name(t.target_midi - t.semitones) if match else None,
            )
        )
    missed, score_report = _score_report(plan, options)
    return Report(
        notes=note_reports,
        key=plan.key.name,
        key_detected=plan.key_detected,
        a4_hz=plan.a4_hz,
        a4_estimated=options.a4_hz is None,
        mode=options.mode,
        duration_s=n_samples / sample_rate,
        times_s=track.times_s,
        f0_before_hz=track.f0_hz,
        f0_after_hz=shown_after,
        missed=missed,
        score=score_report,
        harmonicity_db=track.harmonicity_db if np.isfinite(track.harmonicity_db) else None,
        noisy_recording=track.noisy,
    )


def _score_report(
    plan: Plan, options: CorrectOptions
) -> tuple[list[MissedReport], ScoreReport | None]:
    """The take against its tune, for report.json and the teacher's lines of the text."""
    score, al = options.score, plan.alignment
    if score is None or al is None:
        return [], None
    from core.align import timing_flags

    spb = al.seconds_per_beat(score)
    missed = [
        MissedReport(
            score_index=m.score_index,
            expected=midi_to_note_name(m.expected_midi),
            at_s=m.at_s,
            expected_midi=m.expected_midi,
            duration_s=score.notes[m.score_index].duration_beats * spb,
        )
        for m in al.missed
    ]
    report = ScoreReport(
        source=score.source,
        notes=len(score.notes),
        transposition_semitones=al.transposition_semitones,
        tempo_ratio=al.tempo_ratio,
        matched=al.n_ok + al.n_wrong,
        wrong=al.n_wrong,
        missed=len(al.missed),
        extra=al.n_extra,
        is_the_tune=al.is_the_tune,
        title=score.title,
        bars=tuple(n.bar if score.has_meter else None for n in score.notes),
        seconds_per_beat=spb,
        timing=tuple(
            (m.score_index, round(beats, 2))
            for m, beats in timing_flags(al, score)
            if m.score_index is not None
        ),
        durations_beats=tuple(n.duration_beats for n in score.notes),
    )
    return missed, report


def _choose_key(
    named: Key | None, scale: str, notes: list[Note]
) -> tuple[Key, npt.NDArray[np.bool_], npt.NDArray[np.bool_] | None]:
    """The key to report, the allowed pitch classes and the preferred ones (near-ties)."""
    if named is not None:
        return named, named.allowed_mask(), None
    if scale == "chromatic":
        return CHROMATIC, CHROMATIC.allowed_mask(), None
    # Major and minor compete on the histogram (the CLI's default "major" is no statement about
    # the music); any other scale named without a tonic is kept and only its tonic is detected.
    keep_scale = scale not in ("major", "minor", "natural_minor")
    detected = detect_key(
        [n.midi for n in notes], [n.duration_s for n in notes], scale=scale if keep_scale else None
    )
    return detected, CHROMATIC.allowed_mask(), detected.allowed_mask()
