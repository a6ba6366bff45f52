"""The one correction pipeline: the CLI (``smask correct``) and the bot worker both call it.

decode -> track pitch -> cut notes -> choose targets -> shift -> measure again -> encode. Each
stage lives in its own package (:mod:`core.media.io`, :mod:`core.analysis.clip`, :mod:`core.plan`,
:mod:`core.retune`; the report in :mod:`core.report`); this module only runs them in order,
streamed, and reports progress through one callback so a terminal bar and a chat message edit
can show the same thing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from core.analysis.clip import analyse
from core.media.audio import to_mono
from core.plan.options import CorrectOptions, Progress, no_progress
from core.plan.planner import Plan, plan_correction
from core.report import Report, build_report

if TYPE_CHECKING:
    from core.limits import MediaLimits
    from core.media.io import ResultWriter
    from core.media.listening import ListeningCopies
    from core.media.probe import Container, MediaInfo
    from core.media.spool import AudioSource
    from models.network import Tracker

__all__ = ["STAGES", "CorrectOptions", "correct_audio", "correct_file", "preload"]

STAGES = ("decoding", "analysing", "retuning", "encoding")


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
    listening: ListeningCopies | None = None,
) -> Report:
    """Correct the intonation of a clip; the picture is copied bit for bit.

    ``info`` is the clip's :func:`core.media.probe.probe` result when the caller already has it (the
    bot's worker probes first, to refuse a bad file before loading the model); ``limits`` and
    ``require_video`` then only apply if it is None. ``container`` picks the result's format
    for audio-only inputs (default: the input's own, see :func:`core.media.io.result_container`).
    ``listening``: also write the sound before and after as small Opus copies there, from
    audio the job holds (the bot keeps them for the learner's page); they may still be
    encoding on return (``listening.finish()`` waits); both are removed on failure.

    Raises:
        core.errors.InputError: the clip is refused (each subclass has a stable ``code``);
            Silent and Unpitched when there is nothing to correct.
        core.errors.ProcessingError: ffmpeg failed on a clip it had accepted.
    """
    from core.limits import MediaLimits
    from core.media.io import open_result, start_decode
    from core.media.probe import probe

    report_progress = progress or no_progress
    report_progress("decoding", 0.0)
    # Streamed: torch and the model load in a thread from the start (under the probe's and
    # the decode's ffmpeg runs); ffmpeg decodes into a spool on disk; the analysis follows
    # the decoder; the encoder takes untouched audio straight from the spool once the plan
    # is known, and the shifted regions in clip order as they are done.
    get_tracker = load_tracker_in_background(tracker, options.device, options.weights)
    if info is None:
        info = probe(Path(src), limits=limits or MediaLimits(), require_video=require_video)
    try:
        work = Path(dst).resolve().parent  # the job's temp files live beside its result
        spool = start_decode(Path(src), info, directory=work)
        with contextlib.closing(spool):
            # The encoder starts now and waits on its pipe, so its start-up (exec, opening the
            # clip, the muxer) is not on the path from the plan to the first encoded sample. A
            # clip refused later (Silent, Unpitched) kills it and leaves no file.
            feed = listening.after_feed(work) if listening else None
            with open_result(Path(src), Path(dst), info, container=container,
                             tee=feed) as writer:  # fmt: skip
                analysis = analyse(spool, tracker=get_tracker, device=options.device,
                                   progress=report_progress)  # fmt: skip
                plan = plan_correction(None, spool.sample_rate, options, progress=report_progress,
                                       analysis=analysis, source=spool)  # fmt: skip
                report_progress("retuning", 0.0)
                f0_after = _shift_streamed(spool, plan, options, writer, report_progress)
                report_progress("encoding", 0.0)
            if listening is not None:  # runs on, beside the reply's picture and upload
                listening.start(spool)
            report = build_report(plan, f0_after, spool.length, spool.sample_rate, options)
    except BaseException:
        if listening is not None:
            listening.remove()
        raise
    report_progress("encoding", 1.0)
    return report


def preload() -> None:
    """Import now what :func:`correct_file` imports lazily (torch, the tracker, the shifter,
    the media path, torchaudio's resampler).

    ``import core.pipeline`` stays light for a one-shot CLI run, which loads torch in a thread
    under ffmpeg; a long-lived worker calls this before its first job instead, so no job pays
    (or stalls its event loop on) a first import.
    """
    import torchaudio.functional  # noqa: F401  (core.analysis.pitch's resampler, imported on first use)


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
            from core.analysis.pitch import shipped_tracker

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
    from core.analysis.measures import FrameF0
    from core.retune.psola import shift_source

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
    from core.retune.psola import shift_pitch

    report_progress = progress or no_progress
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
    from core.analysis.phase import frame_f0_hz

    # Where the shift is 0 the output is the input, so what was unmeasurable stays so.
    expected = plan.f0_ref_hz * np.power(2.0, plan.shift_cents / 1200.0)
    f0_after = frame_f0_hz(to_mono(corrected), sample_rate, expected, plan.track.hop_s)
    return build_report(plan, f0_after, corrected.shape[-1], sample_rate, options)
