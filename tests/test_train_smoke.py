"""Training keeps working: a two-step run, the data pipeline pieces and the TinySOL loader."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import wavfile

from models.checkpoint import load_tracker
from models.config import CONFIG_DIR, TrainConfig
from models.decode import refine_f0_hz
from models.training import dataset, synth
from models.training.train import train

ROOT = Path(__file__).resolve().parents[1]
SEED_HEADER = (
    "Path,Fold,Family,Instrument (abbr.),Instrument (in full),Technique (abbr.),"
    "Technique (in full),Pitch,Pitch ID,Dynamics,Dynamics ID,Instance ID,"
    "String ID (if applicable),Needed digital retuning"
)


def test_help_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "models.training.train", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--config" in proc.stdout


def test_two_steps_write_a_loadable_checkpoint(tmp_path: Path) -> None:
    config = TrainConfig.from_toml(CONFIG_DIR / "smoke.toml")
    assert config.steps == 2 and config.soundfont == ""
    out = tmp_path / "smoke.pt"
    train(config, out, cache_dir=tmp_path / "cache", device="cpu")
    tracker = load_tracker(out, "cpu")
    piece = torch.zeros(1, tracker.cqt_params.kernel_width + 80 * 9)
    probs, voiced = tracker(piece)
    assert probs.shape == (1, 10, tracker.hparams.n_pitch_bins) and voiced.shape == (1, 10)


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig().override(stepz=3)


def test_synthetic_truth_matches_the_audio() -> None:
    rng = np.random.default_rng(5)
    audio, truth = synth.synthetic_phrase(rng, duration_s=4.0, sample_rate=16000)
    steady = np.flatnonzero(truth.steady)
    assert len(steady) > 20
    f0, _ = refine_f0_hz(
        torch.from_numpy(audio),
        torch.from_numpy(steady * 160),
        torch.from_numpy(truth.f0_hz[steady]),
    )
    cents = 1200 * np.log2(f0.numpy() / truth.f0_hz[steady])
    assert np.median(np.abs(cents)) < 0.5


def test_midi_file_is_well_formed(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    phrase = synth.random_phrase(rng, low_midi=60, high_midi=72, duration_s=5.0)
    path = tmp_path / "p.mid"
    synth.write_midi(phrase, path)
    data = path.read_bytes()
    assert data[:4] == b"MThd" and data[14:18] == b"MTrk" and data.endswith(b"\xff\x2f\x00")


@pytest.mark.skipif(
    not (synth.fluidsynth_available() and synth.FLUIDR3.is_file()), reason="needs fluidsynth"
)
def test_calibrated_render_truth_within_half_a_cent() -> None:
    phrase = synth.Phrase(
        notes=[synth.Note(0.2, 1.2, 69, 0, velocity=100), synth.Note(1.5, 2.5, 76, 0)],
        duration_s=3.0,
        program=73,
    )
    # Calibration renders each note alone; the phrase render must then match it frame by frame.
    phrase.calibration_curves = synth.calibrate_phrase(phrase, synth.FLUIDR3)
    audio = torch.from_numpy(synth.render_phrase(phrase, synth.FLUIDR3))
    truth = synth.phrase_truth(phrase)
    steady = np.flatnonzero(truth.steady)
    f0, _ = refine_f0_hz(
        audio,
        torch.from_numpy(steady * 441),
        torch.from_numpy(truth.f0_hz[steady]),
        sample_rate=synth.RENDER_RATE,
    )
    assert np.median(np.abs(1200 * np.log2(f0.numpy() / truth.f0_hz[steady]))) < 0.5


def test_tinysol_loader_on_a_tiny_folder(tmp_path: Path) -> None:
    rows = [
        ("Winds/Flute/ordinario/Fl-ord-A4-mf-N-N.wav", "1", "A4", 440.0),
        ("Strings/Violoncello/ordinario/Vc-ord-C3-pp-1c-N.wav", "2", "C3", 130.81),
        ("Winds/Flute/ordinario/missing-file.wav", "3", "C5", 0.0),
    ]
    lines = [SEED_HEADER]
    for rel, fold, pitch, f0 in rows:
        family, instrument = rel.split("/")[0], rel.split("/")[1]
        lines.append(f"{rel},{fold},{family},X,{instrument},ord,ordinario,{pitch},0,mf,2,0,,FALSE")
        if f0:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(44100) / 44100
            note = 0.5 * np.sin(2 * math.pi * f0 * t) * np.minimum(1, (1 - t) * 5)
            wavfile.write(tmp_path / rel, 44100, (note * 32767).astype(np.int16))
    (tmp_path / "TinySOL_metadata.csv").write_text("\n".join(lines) + "\n")

    items = dataset.tinysol_items(tmp_path)
    assert [(i.midi, i.fold, i.instrument) for i in items] == [
        (69, 1, "Flute"),
        (48, 2, "Violoncello"),
    ]
    clip = dataset.load_tinysol_clip(items[0])
    assert clip.truth.voiced[10:80].all()
    np.testing.assert_allclose(clip.truth.f0_hz[clip.truth.voiced], 440.0)


def test_fused_inference_path_equals_the_trained_modules() -> None:
    from models.cqt import CqtParams
    from models.network import NetworkHparams, Tracker

    torch.manual_seed(0)
    net = Tracker(NetworkHparams(), CqtParams()).net.eval()
    for module in net.body:
        if isinstance(module, torch.nn.BatchNorm1d):
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 2)
    stacked = net.harmonic_stack(torch.randn(64, 141) - 3)
    with torch.inference_mode():
        torch.testing.assert_close(net.fused_body(stacked), net.body(stacked), atol=1e-4, rtol=1e-4)
