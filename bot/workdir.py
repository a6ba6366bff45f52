"""What the service keeps in SMASK_WORK_DIR, and where.

The worker's scratch folders and the bot's short-lived score docs share one subfolder that the
sweeper owns; both the handlers and the worker name paths in it, so the names live here rather
than in either of them.
"""

from __future__ import annotations

from pathlib import Path

# Scratch folders live in this subfolder of SMASK_WORK_DIR, one per attempt, named
# "<job id>-<attempt>": the sweeper deletes only what matches, never anything else there.
JOBS_SUBDIR = "smask-jobs"
# Small docs the bot fetches to see whether they are scores live here for a moment; the bot
# deletes each at once, and the sweeper removes what a crash left behind after this long.
SCORE_DOCS_SUBDIR = "score-docs"
SCORE_DOC_STALE_S = 600.0


def score_doc_path(work_dir: Path, key: str) -> Path:
    """Where the bot puts a small doc while it looks for a score: inside the folder we own."""
    return work_dir / JOBS_SUBDIR / SCORE_DOCS_SUBDIR / f"{key}.bin"
