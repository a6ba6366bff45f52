"""How the bot's SQLite files (job table, user settings) are opened."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

BUSY_TIMEOUT_S = 30.0  # s: wait this long for another process's write lock


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived autocommit connection, closed on exit.

    One connection per use is cheap for SQLite and safe from any thread or process; callers
    open transactions themselves (``BEGIN IMMEDIATE``) where they write.
    """
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()
