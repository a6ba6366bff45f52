"""The report: JSON facts, the chat text in both languages, and a readable PNG."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from core.report import NoteReport, Report


def make_report() -> Report:
    notes = [
        NoteReport(0.0, 1.0, "A4", 440.0, 30.0, 0.4),
        NoteReport(1.0, 3.0, "C5", 523.251, -40.0, -0.6),
        NoteReport(3.0, 4.0, "E5", 659.255, 2.0, 2.0),
    ]
    times = np.arange(400, dtype=np.float64) * 0.01
    before = np.concatenate([np.full(100, 445.0), np.full(200, 511.0), np.full(100, 660.0)])
    before[150:160] = np.nan
    after = np.concatenate([np.full(100, 440.1), np.full(200, 523.0), np.full(100, 660.0)])
    after[150:160] = np.nan
    return Report(
        notes=notes,
        key="C major",
        key_detected=True,
        a4_hz=440.0,
        duration_s=4.0,
        times_s=times,
        f0_before_hz=before,
        f0_after_hz=after,
    )


def test_summary_weights_notes_by_duration() -> None:
    report = make_report()
    # (30*1 + 40*2 + 2*1) / 4 = 28; (0.4 + 1.2 + 2) / 4 = 0.9
    assert report.mean_abs_cents_before == pytest.approx(28.0)
    assert report.mean_abs_cents_after == pytest.approx(0.9)
    assert report.n_corrected == 2


def test_to_dict_is_json_with_the_documented_fields() -> None:
    data = json.loads(json.dumps(make_report().to_dict()))
    assert set(data) == {"summary", "notes"}
    assert data["summary"]["mean_abs_cents_before"] == 28.0
    assert data["summary"]["mean_abs_cents_after"] == 0.9
    first = data["notes"][0]
    assert set(first) == {
        "start_s", "end_s", "name", "target_hz", "cents_before", "cents_after", "vibrato_cents",
    }  # fmt: skip
    assert first["name"] == "A4" and first["cents_before"] == 30.0


def test_text_in_russian_by_default_and_english() -> None:
    report = make_report()
    ru = report.to_text()
    assert "было 28 ц, стало 1 ц" in ru and "C мажор" in ru and "C5" in ru
    en = report.to_text("en")
    assert "28 cents before, 1 cent after" in en and "C major (detected)" in en
    assert len(ru.splitlines()) <= 5
    with pytest.raises(ValueError, match="lang"):
        report.to_text("de")


def test_text_when_everything_was_in_tune() -> None:
    report = Report(notes=[NoteReport(0.0, 1.0, "A4", 440.0, 2.0, 2.0)], key="A minor",
                    key_detected=False)  # fmt: skip
    assert "almost exactly in tune" in report.to_text("en")


def test_plot_writes_a_chat_sized_png(tmp_path: Path) -> None:
    path = tmp_path / "pitch.png"
    make_report().plot(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 600)
    assert 10_000 < len(data) < 1_000_000
