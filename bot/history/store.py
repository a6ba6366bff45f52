"""The takes on disk: ``<root>/users/<vk id>/takes/<take id>/{take.json,before.ogg,after.ogg}``.

A take is built in ``<root>/staging`` and renamed into place, so any process sharing the
folder sees a whole take or none. ``/forget`` writes a tombstone (``<root>/forgotten/<vk id>``,
the time of the forget) before deleting: a job that was submitted before it and finishes
after it finds the tombstone and keeps nothing, even on another worker host.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.history.audio import encode_opus
from bot.history.config import HistoryConfig

log = logging.getLogger("smask.history")

TAKE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
SIDES = ("before", "after")
DAY_S = 86400.0


def new_take_id() -> str:
    """128 random bits: a take's address cannot be guessed from another's."""
    return secrets.token_urlsafe(16)


class TakeStore:
    """Every learner's takes under one folder (see the module docstring)."""

    def __init__(self, config: HistoryConfig) -> None:
        self.config = config
        self.root = config.root
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, state_dir: Path | None = None) -> TakeStore:
        return cls(HistoryConfig.from_env(state_dir=state_dir))

    # --- paths ---------------------------------------------------------------------------
    def _user_dir(self, user_id: int) -> Path:
        return self.root / "users" / str(int(user_id))

    def _take_dir(self, user_id: int, take_id: str) -> Path | None:
        if not TAKE_ID_RE.match(take_id):
            return None
        return self._user_dir(user_id) / "takes" / take_id

    def audio_path(self, user_id: int, take_id: str, side: str) -> Path | None:
        folder = self._take_dir(user_id, take_id)
        if folder is None or side not in SIDES:
            return None
        path = folder / f"{side}.ogg"
        return path if path.is_file() else None

    # --- tombstones ------------------------------------------------------------------------
    def forgotten_at(self, user_id: int) -> float:
        try:
            return float((self.root / "forgotten" / str(int(user_id))).read_text())
        except (OSError, ValueError):
            return 0.0

    def _forgotten_since(self, user_id: int, created_at: float) -> bool:
        """Was /forget said after this take's job was submitted?"""
        tomb = self.forgotten_at(user_id)
        return tomb > 0 and tomb >= created_at

    def forget(self, user_id: int, now: float | None = None) -> int:
        """Delete every take of the user; returns how many there were."""
        now = time.time() if now is None else now
        tomb = self.root / "forgotten" / str(int(user_id))
        tomb.parent.mkdir(parents=True, exist_ok=True)
        tmp = tomb.with_suffix(f".{secrets.token_hex(4)}")
        tmp.write_text(repr(now))
        os.replace(tmp, tomb)
        user = self._user_dir(user_id)
        count = len(list((user / "takes").glob("*"))) if (user / "takes").is_dir() else 0
        shutil.rmtree(user, ignore_errors=True)
        return count

    # --- writing ---------------------------------------------------------------------------
    def put(self, record: dict[str, Any], before_src: Path, after_src: Path) -> str | None:
        """Keep one finished take; returns its id, or None when nothing was kept (history
        off, or the learner said /forget after submitting it).

        ``record`` is ``bot.history.take.take_record``'s; its ``take_id`` is replaced by the
        id an earlier attempt of the same job got, so a re-run job keeps one take, not two.
        """
        if not self.config.enabled:
            return None
        user_id = int(record["user_id"])
        if self._forgotten_since(user_id, float(record["created_at"])):
            return None
        user = self._user_dir(user_id)
        by_job = user / "by-job" / _safe_name(str(record["job_id"]))
        with contextlib.suppress(OSError):
            earlier = by_job.read_text().strip()
            if TAKE_ID_RE.match(earlier):
                record = {**record, "take_id": earlier}
        take_id = str(record["take_id"])
        staging = self.root / "staging" / secrets.token_hex(8)
        staging.mkdir(parents=True)
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:  # two ffmpegs, one wall-clock
                sources = zip(SIDES, (before_src, after_src), strict=True)
                jobs = [pool.submit(encode_opus, src, staging / f"{s}.ogg") for s, src in sources]
                for job in jobs:
                    job.result()
            (staging / "take.json").write_text(json.dumps(record, ensure_ascii=False))
            final = user / "takes" / take_id
            final.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                if final.exists():
                    shutil.rmtree(final, ignore_errors=True)
                os.replace(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        by_job.parent.mkdir(parents=True, exist_ok=True)
        by_job.write_text(take_id)
        if self._forgotten_since(user_id, float(record["created_at"])):  # /forget meanwhile
            shutil.rmtree(final, ignore_errors=True)
            return None
        self.prune(user_id)
        return take_id

    # --- reading ---------------------------------------------------------------------------
    def get(self, user_id: int, take_id: str, now: float | None = None) -> dict[str, Any] | None:
        folder = self._take_dir(user_id, take_id)
        if folder is None:
            return None
        try:
            record: dict[str, Any] = json.loads((folder / "take.json").read_text())
        except (OSError, ValueError):
            return None
        if record.get("user_id") != int(user_id) or self._expired(record, now):
            return None
        return record

    def takes(self, user_id: int, now: float | None = None) -> list[dict[str, Any]]:
        """The user's takes, oldest first (expired ones left out even before a prune)."""
        folder = self._user_dir(user_id) / "takes"
        if not folder.is_dir():
            return []
        out = []
        for entry in folder.iterdir():
            record = self.get(user_id, entry.name, now)
            if record is not None:
                out.append(record)
        out.sort(key=lambda r: float(r["created_at"]))
        return out

    def _expired(self, record: dict[str, Any], now: float | None) -> bool:
        now = time.time() if now is None else now
        return float(record.get("created_at", 0.0)) < now - self.config.days * DAY_S

    # --- retention -------------------------------------------------------------------------
    def prune(self, user_id: int, now: float | None = None) -> int:
        """Drop takes past ``SMASK_HISTORY_DAYS``, then the oldest until the user's takes fit
        ``SMASK_HISTORY_MAX_MB_PER_USER`` (the newest take always stays). Returns how many."""
        folder = self._user_dir(user_id) / "takes"
        if not folder.is_dir():
            return 0
        entries = []
        for entry in folder.iterdir():
            try:
                created = float(json.loads((entry / "take.json").read_text())["created_at"])
            except (OSError, ValueError, KeyError, TypeError):
                created = 0.0
            size = sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
            entries.append((created, size, entry))
        entries.sort(key=lambda e: e[0])
        cutoff = (time.time() if now is None else now) - self.config.days * DAY_S
        dropped = 0
        total = sum(e[1] for e in entries)
        for i, (created, size, entry) in enumerate(entries):
            newest = i == len(entries) - 1
            if created < cutoff or (total > self.config.max_bytes_per_user and not newest):
                shutil.rmtree(entry, ignore_errors=True)
                total -= size
                dropped += 1
        return dropped

    def prune_all(self, now: float | None = None) -> int:
        """Retention for learners who stopped sending takes (the web process calls it)."""
        users = self.root / "users"
        if not users.is_dir():
            return 0
        return sum(self.prune(int(u.name), now) for u in users.iterdir() if u.name.isdigit())


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:80] or "_"
