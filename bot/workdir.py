"""What the service keeps in SMASK_WORK_DIR, and where.

The worker's scratch folders and the bot's short-lived score docs share one subfolder that the
sweeper owns; both the handlers and the worker name paths in it, so the names live here rather
than in either of them.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

# Scratch folders live in this subfolder of SMASK_WORK_DIR, one per attempt, named
# "<job id>-<attempt>": the sweeper deletes only what matches, never anything else there.
JOBS_SUBDIR = "smask-jobs"
# Small docs the bot fetches to see whether they are scores live here for a moment; the bot
# deletes each at once, and the sweeper removes what a crash left behind after this long.
SCORE_DOCS_SUBDIR = "score-docs"
SCORE_DOC_STALE_S = 600.0
# A job holds an exclusive flock on this file in its folder for as long as it uses the folder.
IN_USE_NAME = ".in-use"


def score_doc_path(work_dir: Path, key: str) -> Path:
    """Where the bot puts a small doc while it looks for a score: inside the folder we own."""
    return work_dir / JOBS_SUBDIR / SCORE_DOCS_SUBDIR / f"{key}.bin"


def hold(folder: Path) -> int | None:
    """Mark ``folder`` as in use by this process; the descriptor to close when done with it,
    or None where it cannot be held (a filesystem without flock).

    The job's state cannot say so: a job is "done" once its reply is sent, yet it still
    reads its folder afterwards, keeping the learner's take; a sweep in between once removed
    the take's audio under it. A lock, unlike a state, is also let go by a killed worker.
    Unheld, the folder is still safe while its job runs (the sweeper reads the job's state);
    only the take kept after the reply may then be lost."""
    try:
        fd = os.open(folder / IN_USE_NAME, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)  # fmt: skip
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        return None
    return fd


def in_use(folder: Path) -> bool:
    """Does a live process (this one included) hold ``folder``?"""
    try:
        fd = os.open(folder / IN_USE_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:  # never held, or not a file we made
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no flock here: the job's state alone decides, as before
        return False
    finally:
        os.close(fd)  # also lets go of our probe's lock
    return False
