"""The bot is built with everything its handlers import late already loaded, so nothing
imports beside the handlers once long poll runs (bench/bot_ack.py, issue 23).

A background import of matplotlib at start held the GIL for about a second while the first
clips were acknowledged: p95 from ~100 to ~300 ms. Checked in a fresh interpreter, since
this test process may have imported matplotlib already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fakevk.harness import REPO

BUILD_BOT = """
import json, sys, threading, types
from pathlib import Path
from bot.app import create_bot
from tests.fakevk.harness import make_settings

fake = types.SimpleNamespace(api_url="http://127.0.0.1:9/method/")
create_bot(make_settings(Path(sys.argv[1]), fake))
figure = sys.modules.get("matplotlib.figure")
print(json.dumps({
    "chart_ready": figure is not None and hasattr(figure, "Figure")
    and hasattr(sys.modules.get("matplotlib.backends.backend_agg"), "FigureCanvasAgg"),
    "threads": sorted(t.name for t in threading.enumerate() if t is not threading.main_thread()),
}))
"""


def test_bot_is_built_with_the_chart_imported_and_no_import_thread(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BUILD_BOT, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["chart_ready"], "the first /history would pay for importing matplotlib"
    assert state["threads"] == [], f"still importing beside the handlers: {state['threads']}"
