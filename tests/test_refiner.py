"""The temporal refiner: off by default (old weights, same numbers), a bounded reach in time,
chunk-invariant tracking, and training windows that never span two clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tracking import track_file

from core.analysis.pitch import track_pitch
from models.checkpoint import build_tracker, load_tracker, read_checkpoint, save_tracker
from models.network import NetworkHparams, TemporalRefiner, Tracker
from models.training.train_refiner import LogitBank, sample_windows

RATE = 16000


def melody(seconds: float) -> np.ndarray:
    """Harmonic notes 0.3-0.7 s long with short gaps: notes straddle every chunk boundary."""
    rng = np.random.default_rng(5)
    n = int(seconds * RATE)
    f = np.zeros(n)
    t = 0.1
    while t < seconds - 0.4:
        d = float(rng.uniform(0.3, 0.7))
        a, b = int(t * RATE), int(min(seconds, t + d) * RATE)
        f[a:b] = 440.0 * 2 ** (int(rng.integers(-12, 12)) / 12)
        t += d + float(rng.uniform(0.0, 0.15))
    phase = 2 * np.pi * np.cumsum(f) / RATE
    tone = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6)) * (f > 0)
    return (tone + 0.01 * rng.standard_normal(n)).astype(np.float32)


def body_only() -> Tracker:
    """The shipped weights' per-frame network alone: a checkpoint as written before the
    refiner existed (no refiner hparams, no refiner weights)."""
    payload = read_checkpoint(Path("models/weights/default.pt"))
    hparams = {k: v for k, v in payload["hparams"].items() if not k.startswith("refiner")}
    state = {k: v for k, v in payload["state_dict"].items() if not k.startswith("refiner.")}
    return build_tracker({**payload, "hparams": hparams, "state_dict": state})


def with_refiner(seed: int = 0, channels: int = 4) -> Tracker:
    """The shipped body plus a refiner with random (non-zero) weights everywhere, so every
    path through it changes the output."""
    tracker = body_only().with_refiner(channels)
    assert tracker.refiner is not None
    torch.manual_seed(seed)
    for p in tracker.refiner.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return tracker.eval()


def test_without_a_refiner_old_checkpoints_load_and_read_no_context() -> None:
    tracker = body_only()
    assert tracker.refiner is None and tracker.context_frames == 0
    assert not any(k.startswith("refiner.") for k in tracker.state_dict())
    piece = torch.randn(1, tracker.cqt_params.kernel_width + 160 * 30) * 0.1
    high = torch.randn(1, tracker.cqt_params.high().kernel_width + 320 * 30) * 0.1
    probs, voiced = tracker(piece, high)
    logits, voicing, _ = tracker.frame_logits(piece, high)
    assert torch.equal(probs, torch.sigmoid(logits)) and torch.equal(voiced, torch.sigmoid(voicing))


def test_the_refiner_weights_hold_a_trained_refiner_and_the_default_none() -> None:
    """models/weights/refiner.pt is the default body plus its trained refiner (better in noisy
    rooms, worse on the real takes: models/weights/README.rst); the default stays per-frame."""
    refined = load_tracker("refiner", "cpu")
    assert refined.refiner is not None and refined.context_frames > 0
    assert refined.refiner.out.weight.abs().sum() > 0
    default = load_tracker("default", "cpu")
    assert default.refiner is None and default.context_frames == 0
    body = {k: v for k, v in refined.state_dict().items() if not k.startswith("refiner.")}
    assert body.keys() == default.state_dict().keys()
    assert all(torch.equal(v, default.state_dict()[k]) for k, v in body.items())


def test_an_untrained_refiner_changes_nothing() -> None:
    body = body_only()
    fresh = body.with_refiner(4).eval()
    audio = melody(3.0)
    a = track_pitch(audio, RATE, tracker=body)
    b = track_pitch(audio, RATE, tracker=fresh)
    np.testing.assert_array_equal(a.f0_hz, b.f0_hz)
    np.testing.assert_array_equal(a.voiced_prob, b.voiced_prob)


def test_a_frame_reads_exactly_context_frames_each_side() -> None:
    hp = NetworkHparams(n_pitch_bins=40, refiner_channels=3, refiner_dilations=(1, 2, 4))
    refiner = TemporalRefiner(hp, 24).eval()
    torch.manual_seed(1)
    for p in refiner.parameters():
        torch.nn.init.normal_(p, std=0.5)
    assert refiner.context_frames == 8
    t, c = 41, 20
    logits, voicing, loud = torch.randn(1, t, 40), torch.randn(1, t), torch.randn(1, t)
    base = refiner(logits, voicing, loud)[0, c]
    for k, moves in [(c - 9, False), (c + 9, False), (c - 8, True), (c + 8, True)]:
        changed = logits.clone()
        changed[0, k] += 3.0
        moved = not torch.equal(refiner(changed, voicing, loud)[0, c], base)
        assert moved == moves, k


def test_chunked_and_one_shot_agree_with_a_refiner() -> None:
    tracker = with_refiner()
    audio = melody(9.0)
    whole = track_pitch(audio, RATE, tracker=tracker, chunk_frames=100_000)
    plain = track_pitch(audio, RATE, tracker=body_only())
    assert not np.array_equal(whole.voiced_prob, plain.voiced_prob) or not np.array_equal(
        whole.f0_hz, plain.f0_hz, equal_nan=True
    ), "a random refiner must change something, or this test shows nothing"
    for chunk in (137, 250):
        parts = track_pitch(audio, RATE, tracker=tracker, chunk_frames=chunk)
        assert np.array_equal(np.isnan(parts.f0_hz), np.isnan(whole.f0_hz))
        # The same frames, the same decisions; the convolutions over a stretch of another
        # length round differently (1e-8 of a pitch: a millionth of a cent).
        np.testing.assert_allclose(parts.f0_hz, whole.f0_hz, rtol=1e-7)
        np.testing.assert_allclose(parts.voiced_prob, whole.voiced_prob, rtol=0, atol=1e-5)


def test_a_checkpoint_with_a_refiner_round_trips(tmp_path: Path) -> None:
    tracker = with_refiner(seed=2)
    save_tracker(tracker, tmp_path / "r.pt")
    payload = read_checkpoint(tmp_path / "r.pt")
    assert payload["hparams"]["refiner_channels"] == 4
    loaded = build_tracker(payload)
    assert loaded.context_frames == tracker.context_frames > 0
    for (k, a), (_, b) in zip(
        loaded.state_dict().items(), tracker.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k


def test_training_windows_stay_inside_one_clip() -> None:
    lengths = [300, 40, 500, 256]
    starts = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int64)
    n = int(starts[-1])
    bank = LogitBank(
        torch.zeros(n, 8, dtype=torch.float16),
        *(torch.zeros(n) for _ in range(5)),
        starts=starts,
    )
    window, context = 256, 30
    a, mask = sample_windows(bank, 4000, window, context, torch.Generator().manual_seed(0))
    clip = torch.searchsorted(starts, a, right=True) - 1
    assert torch.all(a + window <= starts[clip + 1]), "a window crossed into the next clip"
    assert set(clip.tolist()) == {0, 2, 3}  # the 40-frame clip is too short for a window
    at_start = a == starts[clip]
    at_end = a + window == starts[clip + 1]
    assert at_start.any() and at_end.any() and (~at_start & ~at_end).any()
    # Edge frames inside a clip take no loss; at the clip's own ends they do.
    inner = ~at_start & ~at_end
    assert not mask[inner][:, :context].any() and not mask[inner][:, -context:].any()
    assert mask[inner][:, context:-context].all()
    assert mask[at_start][:, :context].all() and mask[at_end][:, -context:].all()


@pytest.mark.parametrize("frames", [5, 60])
def test_frames_past_a_short_piece_are_cut_before_the_refiner(frames: int) -> None:
    tracker = with_refiner(seed=3)
    audio = melody(0.01 * frames + 0.001)
    track = track_pitch(audio, RATE, tracker=tracker)
    assert len(track) == frames + 1


def test_a_refiner_streamed_from_a_spool_is_the_one_shot_tracker() -> None:
    from test_stream import SR, fill_slowly
    from test_stream import melody as stereo_melody

    from core.analysis.pitch import track_source
    from core.media.audio import to_mono

    tracker = with_refiner(seed=4)
    audio = stereo_melody(6.0)
    whole = track_pitch(to_mono(audio), SR, tracker=tracker, chunk_frames=100_000)
    with fill_slowly(audio) as spool:
        streamed = track_source(spool, tracker=tracker, chunk_frames=137)
    assert np.array_equal(np.isnan(streamed.f0_hz), np.isnan(whole.f0_hz))
    np.testing.assert_allclose(streamed.f0_hz, whole.f0_hz, rtol=1e-7)
    np.testing.assert_allclose(streamed.voiced_prob, whole.voiced_prob, rtol=0, atol=1e-5)


def test_a_few_refiner_steps_on_a_frozen_body_write_a_loadable_tracker(tmp_path: Path) -> None:
    from models.config import CONFIG_DIR, TrainConfig
    from models.training.train_refiner import train_refiner

    config = TrainConfig.from_toml(CONFIG_DIR / "smoke.toml").override(
        init_from="models/weights/default.pt",
        n_pitch_bins=152,
        cqt_high_bins=24,
        refiner_channels=2,
        refiner_window=128,
        refiner_batch=2,
        steps=3,
    )
    out, bank_path = tmp_path / "r.pt", tmp_path / "bank.pt"
    trained = train_refiner(config, out, cache_dir=tmp_path / "cache", bank_path=bank_path)
    bank = LogitBank.load(bank_path)  # kept for the next run
    assert int(bank.starts[-1]) == len(bank) and bank.pitch_logits.dtype == torch.float16
    loaded = load_tracker(out, "cpu")
    body = load_tracker("default", "cpu")  # init_from: its refiner is continued, body frozen
    assert loaded.refiner is not None and trained.refiner is not None
    assert loaded.refiner.out.weight.abs().sum() > 0, "three steps must move the last layer"
    for (k, a), (_, b) in zip(
        loaded.net.state_dict().items(), body.net.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), f"the body must stay frozen: {k}"


def test_the_refiner_names_no_note_before_the_child_sings_it(shared_dir: Path) -> None:
    """The refiner's posterior already reads 0.41 s ahead, so the decoder's onset hand-over
    (meant for a ringing tail) must not take its share of the next note for that note: at
    0.1 of the old note's probability it named the child's next note up to 90 ms early.
    Wherever the per-frame weights hold one note for 50 ms either side, the refined track
    names that note too."""
    take = shared_dir / "eval" / "kids_tree.m4a"
    body = track_file(take, tracker=load_tracker("default", "cpu")).f0_hz
    refined = track_file(take, tracker=load_tracker("refiner", "cpu")).f0_hz
    semis = np.round(12 * np.log2(np.where(body > 0, body, np.nan) / 440.0))
    reach = 5
    held = np.zeros(len(semis), dtype=bool)
    for i in range(reach, len(semis) - reach):
        around = semis[i - reach : i + reach + 1]
        held[i] = bool(np.all(around == semis[i]))
    assert held.sum() > 300, "the take should hold notes for most of its sung frames"
    cents = 1200 * np.abs(np.log2(np.where(refined > 0, refined, np.nan) / body))
    early = np.flatnonzero(held & ~(cents <= 50))
    assert early.size == 0, f"refined track leaves a held note at {early * 0.01} s"


def test_the_pipeline_loads_the_weights_it_is_asked_for() -> None:
    from core.pipeline import load_tracker_in_background

    for weights, refined in (("default", False), ("refiner", True)):
        loading = load_tracker_in_background(None, "cpu", weights)
        assert callable(loading)
        assert (loading().refiner is not None) is refined
