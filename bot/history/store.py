"""The takes on disk: ``<root>/users/<vk id>/takes/<take id>/{take.json,before.ogg,after.ogg}``
and ``<root>/users/<vk id>/index.jsonl``, one line per take (``bot.history.index``).

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
from pathlib import Path
from typing import Any

from bot.history.audio import encode_opus_pair
from bot.history.config import HistoryConfig
from bot.history.index import INDEX_NAME, index_entry, read_index, write_index

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
    def reserve(self, user_id: int, job_id: str, created_at: float) -> str | None:
        """The id this job's take will be kept under (an earlier attempt's, or a new one), so
        the reply can link it before the take is encoded; None after a /forget."""
        if not self.config.enabled or self._forgotten_since(user_id, created_at):
            return None
        by_job = self._user_dir(user_id) / "by-job" / _safe_name(str(job_id))
        with contextlib.suppress(OSError):
            earlier = by_job.read_text().strip()
            if TAKE_ID_RE.match(earlier):
                return earlier
        take_id = new_take_id()
        by_job.parent.mkdir(parents=True, exist_ok=True)
        tmp = by_job.with_name(f".{by_job.name}.{secrets.token_hex(4)}")
        tmp.write_text(take_id)
        os.replace(tmp, by_job)
        return take_id

    def put(
        self, record: dict[str, Any], before_src: Path, after_src: Path, *, encoded: bool = False
    ) -> str | None:
        """Keep one finished take; returns its id, or None when nothing was kept (history
        off, or the learner said /forget after submitting it).

        ``record`` is ``bot.history.take.take_record``'s; its ``take_id`` is replaced by the
        id an earlier attempt of the same job got, so a re-run job keeps one take, not two.
        ``encoded``: the sources are the job's listening copies (OGG/Opus, written by its own
        ffmpeg runs) and are moved in as they are; otherwise they are encoded here.
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
            pairs = [(src, staging / f"{side}.ogg")
                     for side, src in zip(SIDES, (before_src, after_src), strict=True)]  # fmt: skip
            if encoded:
                for src, dst in pairs:
                    shutil.move(src, dst)
            else:
                encode_opus_pair(pairs)
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
        with self._lock:
            index = read_index(user / INDEX_NAME)
            index[take_id] = index_entry(record)
            write_index(user / INDEX_NAME, index.values())
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
        """The user's whole records, oldest first (expired ones left out even before a prune).
        Reads every take's report: for one take's page use ``get``, for charts ``summaries``."""
        out = []
        for entry in self.summaries(user_id, now):
            record = self.get(user_id, entry["take_id"], now)
            if record is not None:
                out.append(record)
        return out

    def summaries(self, user_id: int, now: float | None = None) -> list[dict[str, Any]]:
        """The user's index lines, oldest first, expired ones left out: what /history and the
        Mini App's list need, from one small file."""
        entries, _ = self._indexed(user_id)
        return [e for e in entries if not self._expired(e, now)]

    def _indexed(self, user_id: int) -> tuple[list[dict[str, Any]], list[str]]:
        """The index checked against the takes folder (the truth), rebuilt where they differ;
        also the ids of takes whose report cannot be read (retention drops those)."""
        user = self._user_dir(user_id)
        try:
            ids = {n for n in os.listdir(user / "takes") if TAKE_ID_RE.match(n)}
        except OSError:
            return [], []
        index = read_index(user / INDEX_NAME)
        healed = {tid: e for tid, e in index.items() if tid in ids}
        broken = []
        for tid in ids - healed.keys():
            record = self._read(user_id, tid)
            if record is None:
                broken.append(tid)
            else:
                healed[tid] = index_entry(record)
        if healed.keys() != index.keys():
            write_index(user / INDEX_NAME, healed.values())
        return sorted(healed.values(), key=lambda e: float(e["created_at"])), broken

    def _read(self, user_id: int, take_id: str) -> dict[str, Any] | None:
        """A take's report as stored, expired or not; None when unreadable."""
        try:
            path = self._user_dir(user_id) / "takes" / take_id / "take.json"
            record = json.loads(path.read_text())
            index_entry(record)  # the fields the index needs are there
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return record if isinstance(record, dict) else None

    def _expired(self, record: dict[str, Any], now: float | None) -> bool:
        now = time.time() if now is None else now
        return float(record.get("created_at", 0.0)) < now - self.config.days * DAY_S

    # --- retention -------------------------------------------------------------------------
    def prune(self, user_id: int, now: float | None = None) -> int:
        """Drop takes past ``SMASK_HISTORY_DAYS`` (and unreadable ones), then the oldest until
        the user's takes fit ``SMASK_HISTORY_MAX_MB_PER_USER`` (the newest take always
        stays). Returns how many."""
        folder = self._user_dir(user_id) / "takes"
        entries, broken = self._indexed(user_id)
        dated = [(0.0, tid) for tid in broken]
        dated += [(float(e["created_at"]), str(e["take_id"])) for e in entries]
        sized = [(created, _bytes(folder / tid), tid) for created, tid in dated]
        cutoff = (time.time() if now is None else now) - self.config.days * DAY_S
        dropped = 0
        total = sum(size for _, size, _ in sized)
        for i, (created, size, tid) in enumerate(sized):
            newest = i == len(sized) - 1
            if created < cutoff or (total > self.config.max_bytes_per_user and not newest):
                shutil.rmtree(folder / tid, ignore_errors=True)
                total -= size
                dropped += 1
        if dropped:
            self._indexed(user_id)  # the index loses the dropped lines
        return dropped

    def prune_all(self, now: float | None = None) -> int:
        """Retention for learners who stopped sending takes: the worker's sweeper and the web
        process both call it, so it runs whichever of them a deployment has."""
        users = self.root / "users"
        if not users.is_dir():
            return 0
        return sum(self.prune(int(u.name), now) for u in users.iterdir() if u.name.isdigit())


def _bytes(folder: Path) -> int:
    try:
        return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    except OSError:
        return 0


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:80] or "_"
