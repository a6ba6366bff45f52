"""Note segmentation on pitch tracks with known notes, vibrato, glitches and re-tonguing."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from core.analysis.phase import frame_f0_hz
from core.plan.segment import (
    centre_midi,
    frame_envelope_db,
    heard_midi,
    segment_notes,
    split_repeats,
    vibrato_extent_cents,
)
from models.units import midi_to_hz

HOP_S = 0.01  # s


def track(midi: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(hop_s=HOP_S, f0_hz=midi_to_hz(midi))


def test_notes_split_at_pitch_changes_and_gaps() -> None:
    midi = np.concatenate([np.full(80, 60.3), np.full(60, 63.8), np.full(70, 67.0)])
    midi[100:105] = np.nan  # a breath inside the second note
    notes = segment_notes(track(midi))
    assert [(n.start, n.end) for n in notes] == [(0, 80), (80, 100), (105, 140), (140, 210)]
    assert [round(n.midi, 2) for n in notes] == [60.3, 63.8, 63.8, 67.0]
    assert notes[0].start_s == 0.0 and abs(notes[-1].end_s - 2.1) < 1e-9


def test_vibrato_stays_inside_one_note_and_is_measured() -> None:
    t = np.arange(150) * HOP_S
    midi = 70.0 + 0.4 * np.sin(2 * np.pi * 5.0 * t)  # +-40 cents
    notes = segment_notes(track(midi))
    assert len(notes) == 1
    assert 36.0 < notes[0].vibrato_cents < 44.0
    assert abs(notes[0].midi - 70.0) < 0.05


def test_single_frame_glitch_and_short_blips_are_not_notes() -> None:
    midi = np.full(100, 65.0)
    midi[50] = 77.0  # one-frame octave-ish slip
    midi = np.concatenate([midi, np.full(3, 50.0), np.full(50, 62.0)])
    notes = segment_notes(track(midi))
    assert [round(n.midi) for n in notes] == [65, 62]


def test_onset_glide_is_left_out_of_the_steady_part() -> None:
    glide = np.linspace(66.0, 69.0, 8)
    midi = np.concatenate([glide, np.full(60, 69.0)])
    (note,) = segment_notes(track(midi))
    assert note.start == 0 and note.steady_start >= 6
    assert abs(note.midi - 69.0) < 1e-9


def test_instrument_range_drops_out_of_range_frames() -> None:
    midi = np.concatenate([np.full(50, 40.0), np.full(50, 72.0)])
    notes = segment_notes(track(midi), midi_range=(60, 98))
    assert [round(n.midi) for n in notes] == [72]


def test_retongued_repeated_note_splits_at_the_loudness_dip() -> None:
    sr = 16000
    midi = np.full(120, 72.0)
    seconds = np.arange(int(1.2 * sr)) / sr
    amplitude = np.where(np.abs(seconds - 0.6) < 0.03, 0.05, 0.5)
    mono = amplitude * np.sin(2 * np.pi * 523.25 * seconds)
    envelope = frame_envelope_db(mono, sr, HOP_S, len(midi))
    assert envelope[60] < envelope[30] - 10
    notes = segment_notes(track(midi), envelope_db=envelope)
    assert len(notes) == 2 and abs(notes[1].start - 60) <= 3
    assert len(segment_notes(track(midi))) == 1


def soft_repeats(
    dip_at_s: list[float], *, dip: float = 0.6, vibrato_cents: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """A 1.5 s note at C5 whose level dips by ``dip`` (amplitude share) for 30 ms at each time:
    a repeat re-tongued so softly that the level drops only a few dB. Returns (midi, env)."""
    sr = 16000
    frames = 150
    t = np.arange(frames) * HOP_S
    midi = 72.0 + vibrato_cents / 100.0 * np.sin(2 * np.pi * 5.5 * t)
    seconds = np.arange(int(frames * HOP_S * sr)) / sr
    # A player's vibrato moves the level too (here +-0.7 dB with the pitch).
    swing_db = 0.7 * np.sin(2 * np.pi * 5.5 * seconds) if vibrato_cents else 0.0
    amplitude = 0.5 * 10 ** (swing_db / 20.0) * np.ones(len(seconds))
    for at in dip_at_s:
        amplitude[np.abs(seconds - at) < 0.015] *= dip
    phase = 2 * np.pi * np.cumsum(midi_to_hz(np.interp(seconds, t, midi))) / sr
    return midi, frame_envelope_db(amplitude * np.sin(phase), sr, HOP_S, frames)


def test_soft_repeat_too_shallow_for_the_cutter_is_split_where_the_score_expects_it() -> None:
    midi, env = soft_repeats([0.5, 1.0])
    assert 2.5 < env[70] - env[100] < 6.0  # shallower than a tongued dip (DIP_DB)
    (note,) = segment_notes(track(midi), envelope_db=env)
    pieces = split_repeats(note, [52, 97], 15, track(midi).f0_hz, env)
    assert [(p.start, p.end) for p in pieces] == [(0, 50), (50, 100), (100, 150)]
    assert all(abs(p.midi - 72.0) < 1e-6 for p in pieces)
    # Only where the score has a repeat: a dip far from it (beyond the tolerance) stays inside.
    (whole,) = split_repeats(note, [75], 15, track(midi).f0_hz, env)
    assert (whole.start, whole.end) == (0, 150)


def test_held_note_without_an_attack_is_not_split_where_a_repeat_was_expected() -> None:
    # A steady note, and one with a wide vibrato (its level swings with it): no attack anywhere.
    for vibrato in (0.0, 40.0):
        midi, env = soft_repeats([], vibrato_cents=vibrato)
        (note,) = segment_notes(track(midi), envelope_db=env)
        (whole,) = split_repeats(note, [50, 100], 20, track(midi).f0_hz, env)
        assert (whole.start, whole.end) == (note.start, note.end)


NOTE_SR = 16000  # Hz: the tones below whose loudness the note cutter reads
NOTE_FRAMES = 200  # a 2 s note


def note_seconds() -> np.ndarray:
    """The sample times of a ``NOTE_FRAMES`` note at ``NOTE_SR``."""
    return np.arange(int(NOTE_FRAMES * HOP_S * NOTE_SR)) / NOTE_SR


def level_envelope(midi: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """The note cutter's envelope of a tone that follows ``midi`` (per frame) at ``amplitude``
    (per sample)."""
    t = np.arange(NOTE_FRAMES) * HOP_S
    phase = 2 * np.pi * np.cumsum(midi_to_hz(np.interp(note_seconds(), t, midi))) / NOTE_SR
    return frame_envelope_db(amplitude * np.sin(phase), NOTE_SR, HOP_S, NOTE_FRAMES)


def swinging_note(
    swing_db: float, retongued_at_s: list[float], *, dip: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """A 2 s note at A4 with a 5.5 Hz vibrato whose level swings with it (``swing_db`` from
    peak to trough, as a violin's body or an oboe's formants make it), re-tongued at each of
    ``retongued_at_s`` (the amplitude times ``dip`` for 30 ms). Returns (midi, env)."""
    midi = 69.0 + 0.15 * np.sin(2 * np.pi * 5.5 * np.arange(NOTE_FRAMES) * HOP_S)
    seconds = note_seconds()
    level_db = swing_db / 2.0 * np.cos(2 * np.pi * 5.5 * seconds)
    amplitude = 0.3 * 10 ** (level_db / 20.0)
    for at in retongued_at_s:
        amplitude[np.abs(seconds - at) < 0.015] *= dip
    return midi, level_envelope(midi, amplitude)


def test_a_vibratos_loudness_swing_does_not_cut_the_note() -> None:
    """Dips of 8 dB at every vibrato cycle (deeper than DIP_DB) are one sustained note."""
    midi, env = swinging_note(8.0, [])
    troughs = [round((k + 0.5) / 5.5 / HOP_S) for k in range(1, 9)]
    assert all(env[i - 10 : i + 10].max() - env[i] > 6.0 for i in troughs)
    assert len(segment_notes(track(midi), envelope_db=env)) == 1


def test_a_retongued_repeat_inside_a_swinging_note_is_still_cut() -> None:
    """The tongue's dip goes deeper than any swing: the note is cut there, and only there."""
    midi, env = swinging_note(8.0, [1.0])
    notes = segment_notes(track(midi), envelope_db=env)
    assert len(notes) == 2 and abs(notes[1].start - 100) <= 3


def twice_swinging_note(depth_db: float) -> tuple[np.ndarray, np.ndarray]:
    """A 2 s note at A4 with a 5.5 Hz vibrato whose level dips twice a cycle, 60 and 120 ms
    apart (its partials crossing a room's resonance going up and coming down), ``depth_db``
    deep. Returns (midi, env)."""
    midi = 69.0 + 0.15 * np.sin(2 * np.pi * 5.5 * np.arange(NOTE_FRAMES) * HOP_S)
    phase_s = note_seconds() % (1.0 / 5.5)
    level_db = np.zeros(len(phase_s))
    for centre in (0.03, 0.09):  # two dips 60 ms apart, then 122 ms to the next pair
        level_db -= depth_db * np.exp(-0.5 * ((phase_s - centre) / 0.012) ** 2)
    return midi, level_envelope(midi, 0.3 * 10 ** (level_db / 20.0))


def test_a_vibrato_swinging_twice_a_cycle_in_a_room_does_not_cut_the_note() -> None:
    """Uneven pairs of 8 dB dips, one pair per vibrato cycle, are one sustained note in a take
    that reads as made in a room (they had cut a held note into a dozen repeats in
    bench.score_noisy's rooms)."""
    midi, env = twice_swinging_note(8.0)
    inner = env[1:-1]
    lows = np.flatnonzero((inner <= env[:-2]) & (inner <= env[2:]) & (inner < env.max() - 6.0))
    gaps = np.diff(lows)
    assert len(lows) >= 16 and gaps.min() <= 7 and gaps.max() >= 11  # uneven, and deep
    assert len(segment_notes(track(midi), envelope_db=env, echoing=True)) == 1
    # A take that reads clean is cut at such dips (only an even train is a swing there).
    assert len(segment_notes(track(midi), envelope_db=env)) > 1


def test_a_deep_retongued_repeat_inside_a_twice_swinging_note_is_still_cut() -> None:
    midi, env = twice_swinging_note(8.0)
    env = env.copy()
    env[99:102] -= 20.0  # a tongue's dip, deeper than any swing (SWING_MAX_DB)
    notes = segment_notes(track(midi), envelope_db=env, echoing=True)
    assert len(notes) == 2 and abs(notes[1].start - 100) <= 3


def test_irregular_room_dips_of_eight_db_do_not_cut_a_held_note_in_an_echoing_take() -> None:
    """A room's beating dips a held note's level at no rate at all: 8 dB dips 70-230 ms apart
    are one note in a take that does not read clean, where a clean take's rule (an attack is
    a 6 dB dip) cuts it at every one."""
    midi = np.full(NOTE_FRAMES, 69.0)
    seconds = note_seconds()
    level_db = np.zeros(len(seconds))
    for at in (0.25, 0.32, 0.55, 0.68, 0.91, 1.0, 1.23, 1.41, 1.52, 1.75):
        level_db -= 8.0 * np.exp(-0.5 * ((seconds - at) / 0.012) ** 2)
    env = level_envelope(midi, 0.3 * 10 ** (level_db / 20.0))
    assert len(segment_notes(track(midi), envelope_db=env)) >= 6
    assert len(segment_notes(track(midi), envelope_db=env, echoing=True)) == 1


def test_fast_retongued_repeats_at_a_vibratos_rate_are_each_a_note() -> None:
    """Five notes tongued 0.18 s apart (a vibrato's spacing) on a steady tone: each attack's
    dip is deep, so the even train is re-articulations, not a swing."""
    midi, env = swinging_note(0.0, [0.4, 0.58, 0.76, 0.94])
    notes = segment_notes(track(midi), envelope_db=env)
    assert len(notes) == 5


def soft_restrike(*, restarted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 1.2 s C5 whose level dips about 5 dB for 30 ms at 0.6 s (shallower than DIP_DB, as a
    re-tongued note whose room fills the gap), where the waveform either runs on (a held note
    swelling) or starts afresh at another phase (a re-struck one). Returns (midi, env, the
    fundamental measured from the phase by core.analysis.phase.frame_f0_hz)."""
    sr = 16000
    frames = 120
    seconds = np.arange(int(frames * HOP_S * sr)) / sr
    amplitude = 0.5 * np.ones(len(seconds))
    amplitude[np.abs(seconds - 0.6) < 0.015] *= 0.55
    hz = float(midi_to_hz(72.0))
    phase = 2 * np.pi * hz * seconds
    if restarted:
        phase = np.where(seconds >= 0.6, 2 * np.pi * hz * (seconds - 0.6) + 2.0, phase)
    mono = (amplitude * np.sin(phase)).astype(np.float32)
    midi = np.full(frames, 72.0)
    env = frame_envelope_db(mono, sr, HOP_S, frames)
    return midi, env, frame_f0_hz(mono, sr, midi_to_hz(midi), HOP_S)


def test_a_soft_restrike_is_cut_where_the_phase_jumps_and_a_held_swell_is_not() -> None:
    midi, env, measured = soft_restrike(restarted=True)
    assert 4.5 < env[30] - env[60] < 6.0  # too shallow for the loudness alone (DIP_DB)
    assert len(segment_notes(track(midi), envelope_db=env)) == 1
    notes = segment_notes(track(midi), envelope_db=env, f0_measured_hz=measured)
    assert len(notes) == 2 and abs(notes[1].start - 60) <= 3
    # The same dip with the waveform running on: a swell of one held note.
    midi, env, measured = soft_restrike(restarted=False)
    assert len(segment_notes(track(midi), envelope_db=env, f0_measured_hz=measured)) == 1


def test_a_phase_measured_far_off_all_along_does_not_cut_at_every_soft_dip() -> None:
    """A weak fundamental (a violin sample's) read 25 cents off at every frame, alternately
    up and down: no frame's jump stands out, so a soft dip stays inside the note."""
    midi, env, measured = soft_restrike(restarted=False)
    wobble = np.where(np.arange(len(midi)) % 2 == 0, 25.0, -25.0)
    noisy = measured * 2.0 ** (wobble / 1200.0)
    assert len(segment_notes(track(midi), envelope_db=env, f0_measured_hz=noisy)) == 1


def test_vibrato_extent_of_a_steady_tone_is_zero() -> None:
    assert vibrato_extent_cents(np.full(100, 60.0), HOP_S) < 1e-9
    assert vibrato_extent_cents(np.array([60.0, np.nan]), HOP_S) == 0.0


def test_short_pieces_chain_into_onsets_and_releases_without_losing_frames() -> None:
    from core.plan.segment import _absorb_short

    # Two short release pieces after a note both stay with it (none is dropped).
    assert _absorb_short([(0, 10), (10, 11), (11, 12)], 2) == [(0, 12)]
    # Two short onset pieces before a note both join it.
    assert _absorb_short([(0, 1), (1, 2), (2, 12)], 2) == [(0, 12)]
    # Between two notes, short pieces are the next note's slide in.
    assert _absorb_short([(0, 10), (10, 11), (11, 20)], 2) == [(0, 10), (10, 20)]


def test_centre_of_a_vibrato_note_is_its_mean_over_whole_cycles() -> None:
    """Wherever the note's window cuts the last cycle, the centre is the vibrato's middle."""
    worst_median = 0.0
    for frames in (50, 63, 77, 91):
        for phase in (0.0, 1.0, 2.5):
            t = np.arange(frames) * HOP_S
            midi = 70.02 + 0.2 * np.sin(2 * np.pi * 5.5 * t + phase)  # +2 cents, +-20 vibrato
            assert abs(centre_midi(midi) - 70.02) * 100 < 0.05
            worst_median = max(worst_median, abs(float(np.median(midi)) - 70.02) * 100)
    assert worst_median > 3.0  # the median alone would call some of these out of tune
    midi[30] += 12.0  # a one-frame octave slip of the tracker
    assert abs(centre_midi(midi) - 70.02) * 100 < 0.5


def test_centre_of_a_steady_note_ignores_glitches_and_gaps() -> None:
    midi = np.full(60, 64.1)
    midi[[10, 30]] = 64.1 + 0.01 * np.array([1, -1])  # tracker noise crossing the median
    midi[20] = 76.1  # a one-frame octave glitch
    midi[40:45] = np.nan
    assert abs(centre_midi(midi) - 64.1) * 100 < 0.5
    assert np.isnan(centre_midi(np.full(5, np.nan)))


def test_release_decay_is_left_out_of_the_sustain() -> None:
    sr = 16000
    midi = np.full(110, 72.0)
    seconds = np.arange(int(1.1 * sr)) / sr
    # Sustained for 0.8 s, then a release decaying 60 dB per second (a string ringing on).
    amplitude = np.where(seconds < 0.8, 0.5, 0.5 * 10 ** (-3.0 * (seconds - 0.8)))
    mono = amplitude * np.sin(2 * np.pi * 523.25 * seconds)
    envelope = frame_envelope_db(mono, sr, HOP_S, len(midi))
    (note,) = segment_notes(track(midi), envelope_db=envelope)
    assert note.steady_end == 110
    assert 80 <= note.sustain_end <= 80 + 17  # 9 dB down at 60 dB/s: 0.15 s into the release
    (plain,) = segment_notes(track(midi))
    assert plain.sustain_end == plain.steady_end


def test_running_median_is_scipys_median_filter() -> None:
    """core.plan.segment smooths without importing scipy.ndimage; same numbers, even sizes
    included."""
    from scipy.ndimage import median_filter

    from core.plan.segment import running_median

    rng = np.random.default_rng(0)
    for n in range(1, 30):
        for size in range(1, min(n, 7) + 1):
            x = np.round(rng.standard_normal(n), 1)  # ties too
            assert np.array_equal(running_median(x, size), median_filter(x, size, mode="nearest"))


def test_a_short_notes_wide_vibrato_is_heard_at_its_centre_wherever_the_window_cuts_it() -> None:
    """0.24 s of an 18-cent vibrato at 5.5 Hz (1.3 cycles) around 40 cents sharp: the mean
    over whole cycles leans up to 9 cents towards the half-cycle held once more; the fitted
    vibrato's centre does not, at any phase the note starts in."""
    t = np.arange(24) * HOP_S
    leaned = 0.0
    for start in np.linspace(0.0, 2.0 * np.pi, 8, endpoint=False):
        midi = 72.4 + 0.18 * np.sin(2.0 * np.pi * 5.5 * t + start)
        leaned = max(leaned, abs(centre_midi(midi) - 72.4))
        assert abs(heard_midi(midi, HOP_S) - 72.4) < 0.005
    assert leaned > 0.05


def test_a_steady_or_long_note_is_heard_at_centre_midi() -> None:
    t = np.arange(40) * HOP_S
    drifting = 72.4 + 0.05 * t / 0.4 + 0.02 * np.sin(2.0 * np.pi * 2.0 * t)  # no vibrato
    assert heard_midi(drifting, HOP_S) == centre_midi(drifting)
    t = np.arange(80) * HOP_S
    long_vibrato = 72.4 + 0.18 * np.sin(2.0 * np.pi * 5.5 * t + 0.8)  # four whole cycles
    assert heard_midi(long_vibrato, HOP_S) == centre_midi(long_vibrato)


def test_a_one_frame_slide_at_the_start_of_a_sound_is_cut_without_error() -> None:
    """A slide into a note can leave a one-frame piece at the very start of a voiced run (a
    peer's track on a bench.rooms count-in take did). Looking for a vibrato's loudness swings
    there sliced ``env`` from its end and raised: the cutter must take it as an onset."""
    midi = np.full(60, np.nan)
    midi[10:58] = 48.2
    midi[10:13] = [44.8, 46.7, 47.8]
    env = np.full(60, -80.0)
    env[10:58] = np.minimum(-27.0, np.linspace(-62.0, -20.0, 48))
    notes = segment_notes(track(midi), envelope_db=env)
    assert [(n.start, n.end) for n in notes] == [(10, 58)]
    assert round(notes[0].midi, 1) == 48.2
