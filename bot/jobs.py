"""Our own durable job table: the record that makes "nothing lost, nothing twice" true.

huey delivers at most once and a SIGKILLed consumer loses the task it held, so huey is only the
doorbell. The truth lives here: a job moves ``queued -> running (lease) -> done | failed |
cancelled``; a worker must *claim* a job (atomically) before touching it, renews its lease
while it works, and a sweeper hands jobs whose lease expired back to the queue. The job id is
derived from (peer_id, message id), so a long-poll redelivery or a bot restart can never create
a second job for the same message.

Two backends share every decision (the pure functions below): SQLite (one file, ``BEGIN
IMMEDIATE`` transactions for changes, lock-free WAL reads) and Redis (optimistic
``WATCH``/``MULTI`` transactions).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

from bot.settings import Settings
from bot.sqlite_store import connect

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled")
# A stored job that cannot be read back (bad JSON, a missing field, a wrong type) is moved to
# this state: no worker claims or sweeps it, an operator can still read its raw data.
QUARANTINED = "quarantined"
HOUR_S = 3600.0
log = logging.getLogger("smask.jobs")
DEFAULT_RETENTION_S = 7 * 24 * HOUR_S  # finished jobs are kept a week (SMASK_JOB_RETENTION_S)


def job_id_for(peer_id: int, message_id: int, cmid: int = 0, part: int = 0) -> str:
    """Idempotency key of a user's message (``part``: which of its clips, 0 for the first).

    Community bots in group chats see ``id == 0`` and only a ``conversation_message_id``, so
    the key falls back to it there. A message with several clips makes one job per clip; the
    first keeps the message's own key, so one-clip messages are keyed as they always were.
    """
    base = f"{peer_id}_{message_id}" if message_id else f"{peer_id}_c{cmid}"
    return f"{base}_{part + 1}" if part else base


_JOB_ID_RE = re.compile(r"^(-?\d+)_c?\d+(?:_\d+)?$")


def peer_of(job_id: str) -> int:
    """The chat a job id names (see job_id_for), or 0: a damaged row still says who waits."""
    match = _JOB_ID_RE.match(job_id)
    return int(match.group(1)) if match else 0


def random_id_for(job_id: str, purpose: str) -> int:
    """A stable, non-zero int31 ``random_id`` for one logical message of a job.

    VK drops a ``messages.send`` whose random_id it has already seen from this sender, so a
    retried send (after a VK error 10 or a killed worker) never posts twice.
    """
    value = zlib.crc32(f"{purpose}:{job_id}".encode()) & 0x7FFFFFFF
    return value or 1


@dataclass
class Job:
    """One clip to correct, and everything needed to answer it from any worker host."""

    job_id: str
    peer_id: int
    from_id: int
    message_id: int
    cmid: int
    doc_url: str
    doc_title: str
    doc_size: int  # bytes, as declared by VK (never trusted for the download cap)
    kind: str = "doc"  # "doc": a file (clip or audio); "voice": a voice message
    fallback_url: str = ""  # a voice message's link_mp3, tried when link_ogg fails
    options: dict[str, Any] = field(default_factory=dict)  # the user's settings at submission
    lang: str = "ru"
    state: str = "queued"
    seq: int = 0
    attempts: int = 0
    worker: str = ""
    lease_until: float = 0.0  # unix seconds
    created_at: float = 0.0
    enqueued_at: float = 0.0
    reply_message_id: int = 0  # our "queued" message, edited as the job advances
    reply_cmid: int = 0  # its conversation_message_id: how it is edited in a group chat
    result_message_id: int = 0
    error_code: str = ""
    cancel_requested: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Job:
        """A stored job; fields a newer version added are ignored, so workers of two
        versions can share one Redis during a rolling upgrade.

        Every field is checked here, once: a row with a string where a time belongs would
        otherwise pass and fail later inside the sweep, where it stops every job behind it.

        Raises:
            BadJobRow: the text is no JSON object, or a field is missing or of a wrong type.
        """
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadJobRow(f"not JSON ({type(exc).__name__})") from None
        if not isinstance(data, dict):
            raise BadJobRow(f"a JSON {type(data).__name__}, not an object")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.name in _REQUIRED:
                    raise BadJobRow(f"field {f.name!r} is missing")
                continue
            values[f.name] = _checked(f.name, data[f.name])
        if values.get("state", "queued") not in ACTIVE_STATES + FINAL_STATES:
            raise BadJobRow(f"unknown state {str(values['state'])[:20]!r}")
        return cls(**values)


class BadJobRow(ValueError):
    """A stored job that cannot be read back; its store quarantines it (see QUARANTINED)."""


# Fields without a default; the others may be absent (a row written by an older version).
_REQUIRED = frozenset(
    f.name for f in fields(Job) if f.default is MISSING and f.default_factory is MISSING
)
_FIELD_TYPES: dict[str, type] = {"int": int, "str": str, "float": float, "bool": bool}


def _checked(name: str, value: Any) -> Any:
    declared = next(f.type for f in fields(Job) if f.name == name)
    if declared == "dict[str, Any]":
        if not isinstance(value, dict):
            raise BadJobRow(f"field {name!r} is {type(value).__name__}, not an object")
        return value
    want = _FIELD_TYPES[str(declared)]
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, want) and (want is bool or not isinstance(value, bool))
    if not ok:
        raise BadJobRow(f"field {name!r} is {type(value).__name__}, not {want.__name__}")
    if want is float and not math.isfinite(value):
        raise BadJobRow(f"field {name!r} is {value!r}, not a finite number")
    return value


@dataclass(frozen=True)
class QuarantineNotice:
    """A quarantined job whose user has not been told yet (``peer_id`` 0: nobody to tell)."""

    job_id: str
    peer_id: int
    lang: str  # "" when the row does not say: the service's default language
    reason: str


def _notice_for(job_id: str, raw: str | bytes | None, reason: str) -> QuarantineNotice:
    """Who waits behind a damaged row: the job id names the chat even when the data is junk."""
    lang = ""
    try:
        data = json.loads(raw) if raw is not None else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict) and data.get("lang") in ("ru", "en"):
        lang = str(data["lang"])
    return QuarantineNotice(job_id, peer_of(job_id), lang, reason)


@dataclass(frozen=True)
class SubmitLimits:
    """Admission limits checked atomically with the insert (see Settings for meaning)."""

    max_waiting_per_user: int
    max_clips_per_hour: int
    max_queue_length: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SubmitLimits:
        return cls(
            settings.max_waiting_per_user, settings.max_clips_per_hour, settings.max_queue_length
        )


@dataclass(frozen=True)
class SubmitResult:
    """``created`` False with ``refused`` empty means the message was already a job."""

    job: Job | None
    created: bool
    refused: str = ""  # "queue_full" | "user_waiting" | "user_hourly"
    position: int = 0


# --- decisions shared by both backends -----------------------------------------------------


def _admit(limits: SubmitLimits, *, queue_len: int, user_active: int, user_last_hour: int) -> str:
    if queue_len >= limits.max_queue_length:
        return "queue_full"
    if user_active >= limits.max_waiting_per_user:
        return "user_waiting"
    if user_last_hour >= limits.max_clips_per_hour:
        return "user_hourly"
    return ""


def _claim(job: Job, worker: str, now: float, lease_s: float) -> Job | None:
    claimable = job.state == "queued" or (job.state == "running" and job.lease_until < now)
    if not claimable:
        return None
    if job.cancel_requested:
        return replace(job, state="cancelled", worker="", lease_until=0.0)
    return replace(
        job, state="running", worker=worker, lease_until=now + lease_s, attempts=job.attempts + 1
    )


def _requeue_if_stale(job: Job, now: float, stale_queued_s: float) -> Job | None:
    if job.state == "running" and job.lease_until < now:
        return replace(job, state="queued", worker="", lease_until=0.0, enqueued_at=now)
    if job.state == "queued" and job.enqueued_at + stale_queued_s < now:
        return replace(job, enqueued_at=now)
    return None


class JobStore(Protocol):
    """What handlers, workers and the sweeper need; both backends implement it."""

    def submit(self, job: Job, limits: SubmitLimits, *, now: float | None = None) -> SubmitResult:
        """Insert ``job`` unless its id exists or a limit refuses it."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def update(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        """Apply ``change`` atomically; it returns the new job or None to leave it alone."""
        ...

    def active(self) -> list[Job]:
        """Queued and running jobs, oldest first."""
        ...

    def for_user(self, from_id: int) -> list[Job]:
        """The user's queued and running jobs, oldest first."""
        ...

    def position(self, job: Job) -> int:
        """1 for the job a worker takes next (running jobs count as ahead)."""
        ...

    def prune(self, before: float) -> int:
        """Delete finished jobs submitted before ``before`` (unix s); returns how many."""
        ...

    def beat(self, worker: str, info: dict[str, Any], ttl_s: float) -> None:
        """Record that worker process ``worker`` is alive for the next ``ttl_s`` seconds."""
        ...

    def forget(self, worker: str) -> None:
        """Drop a worker's heartbeat (it is stopping)."""
        ...

    def live_workers(self) -> list[dict[str, Any]]:
        """The ``info`` of every worker whose heartbeat has not expired."""
        ...

    def quarantined_count(self) -> int:
        """How many stored jobs were set aside as unreadable (for ``smask health``)."""
        ...

    def take_quarantine_notices(self) -> list[QuarantineNotice]:
        """Quarantined jobs nobody has told their user about yet; each is returned once,
        to one caller, so the user behind a damaged row gets one message however many
        workers restart over it."""
        ...

    def close(self) -> None: ...


# --- operations written once on top of update() --------------------------------------------


def claim(store: JobStore, job_id: str, worker: str, lease_s: float) -> Job | None:
    """Take a job for ``worker``; None when it is done, cancelled or leased by someone else.

    A job flagged by /cancel while queued is turned into ``cancelled`` here, and None returned.
    """
    now = time.time()
    result = store.update(job_id, lambda j: _claim(j, worker, now, lease_s))
    if result is None or result.state != "running" or result.worker != worker:
        return None
    return result


def renew(store: JobStore, job_id: str, worker: str, lease_s: float) -> bool:
    """Extend the lease; False when the job was taken over (lease lost) or finished."""
    now = time.time()

    def change(j: Job) -> Job | None:
        if j.state != "running" or j.worker != worker:
            return None
        return replace(j, lease_until=now + lease_s)

    return store.update(job_id, change) is not None


def finish(
    store: JobStore,
    job_id: str,
    worker: str,
    state: str,
    *,
    error_code: str = "",
    result_message_id: int = 0,
) -> bool:
    """Move the worker's running job to a final state; False if it no longer owns it."""
    assert state in FINAL_STATES, state

    def change(j: Job) -> Job | None:
        if j.state != "running" or j.worker != worker:
            return None
        return replace(
            j,
            state=state,
            worker="",
            lease_until=0.0,
            error_code=error_code,
            result_message_id=result_message_id or j.result_message_id,
        )

    return store.update(job_id, change) is not None


def set_reply_message(store: JobStore, job_id: str, message_id: int, cmid: int = 0) -> Job | None:
    """Remember our "queued" message so workers can edit it with progress.

    Returns:
        the job as stored now: the caller sees whether it was cancelled meanwhile, and then
        owes the acknowledgement its final words itself.
    """

    def change(j: Job) -> Job | None:
        if (j.reply_message_id, j.reply_cmid) == (message_id, cmid):
            return None
        return replace(j, reply_message_id=message_id, reply_cmid=cmid)

    return store.update(job_id, change) or store.get(job_id)


def cancel_for_user(store: JobStore, from_id: int) -> tuple[list[Job], list[Job]]:
    """Cancel a user's queued jobs now and flag running ones to stop at the next stage.

    Returns:
        (cancelled queued jobs, running jobs asked to stop)
    """
    cancelled: list[Job] = []
    flagged: list[Job] = []
    for job in store.for_user(from_id):

        def change(j: Job) -> Job | None:
            if j.state == "queued":
                return replace(j, state="cancelled", cancel_requested=True)
            if j.state == "running" and not j.cancel_requested:
                return replace(j, cancel_requested=True)
            return None

        new = store.update(job.job_id, change)
        if new is not None:
            (cancelled if new.state == "cancelled" else flagged).append(new)
    return cancelled, flagged


def sweep(store: JobStore, enqueue: Callable[[str], None], stale_queued_s: float) -> list[str]:
    """Re-enqueue jobs whose worker died (lease expired) or whose queue message was lost.

    Any number of sweepers may run at once: each hand-back is one atomic transition, and a
    duplicate queue message is harmless because only one worker can claim the job.
    """
    now = time.time()
    requeued: list[str] = []
    for job in store.active():
        if store.update(job.job_id, lambda j: _requeue_if_stale(j, now, stale_queued_s)):
            enqueue(job.job_id)
            requeued.append(job.job_id)
    return requeued


def _log_quarantined(job_id: str, reason: str) -> None:
    log.error(
        "job %s: its stored row is unreadable (%s); quarantined and skipped, the other jobs go on",
        job_id,
        reason,
    )


def _heartbeats(raws: Iterable[str | bytes]) -> list[dict[str, Any]]:
    """Heartbeat records; a damaged one is skipped (it expires) rather than failing health."""
    found = []
    for raw in raws:
        try:
            info = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(info, dict):
            found.append(info)
    return found


# --- SQLite ---------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    from_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
CREATE INDEX IF NOT EXISTS jobs_user ON jobs(from_id, created_at);
CREATE INDEX IF NOT EXISTS jobs_age ON jobs(created_at);
CREATE TABLE IF NOT EXISTS workers (
    worker TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    job_id TEXT PRIMARY KEY,
    peer_id INTEGER NOT NULL,
    lang TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL,
    notified INTEGER NOT NULL DEFAULT 0
);
"""

# A row found unreadable: (seq, job_id, raw data, reason).
_BadRow = tuple[int, str, Any, str]


class SqliteJobStore:
    """The job table in one SQLite file (WAL), safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with connect(self.path) as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: readers never block the writer
            conn.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # A connection per transaction: cheap for SQLite, and safe from any thread or process.
        with connect(self.path) as conn:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # One statement, no transaction: a WAL reader sees a committed snapshot and neither
        # takes nor waits for the write lock, so reads never stall renewals and claims.
        with connect(self.path) as conn:
            yield conn

    @staticmethod
    def _parse(seq: int, job_id: str, raw: Any) -> Job:
        job = Job.from_json(raw)
        if job.job_id != job_id:  # saving it would overwrite another job's row
            raise BadJobRow(f"its data names job {job.job_id[:40]!r}")
        return replace(job, seq=seq)

    @staticmethod
    def _quarantine(conn: sqlite3.Connection, bad: _BadRow) -> None:
        """Set one row aside inside the caller's transaction (once, and only if unchanged)."""
        seq, job_id, raw, reason = bad
        cur = conn.execute(
            "UPDATE jobs SET state = ? WHERE seq = ? AND state != ? AND data IS ?",
            (QUARANTINED, seq, QUARANTINED, raw),
        )
        if cur.rowcount:
            notice = _notice_for(job_id, raw, reason)
            conn.execute(
                "INSERT OR IGNORE INTO quarantine (job_id, peer_id, lang, reason, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_id, notice.peer_id, notice.lang, reason, time.time()),
            )
            _log_quarantined(job_id, reason)

    def _quarantine_all(self, bad: list[_BadRow]) -> None:
        """Rows a lock-free read found unreadable, set aside in one write transaction."""
        if bad:
            with self._tx() as conn:
                for row in bad:
                    self._quarantine(conn, row)

    def _load(
        self, conn: sqlite3.Connection, job_id: str, bad: list[_BadRow] | None = None
    ) -> Job | None:
        """The job, or None; an unreadable row is quarantined here (inside a write
        transaction, ``bad`` None) or collected into ``bad`` for the caller to quarantine."""
        row = conn.execute(
            "SELECT seq, data FROM jobs WHERE job_id = ? AND state != ?", (job_id, QUARANTINED)
        ).fetchone()
        if row is None:
            return None
        try:
            return self._parse(row[0], job_id, row[1])
        except BadJobRow as exc:
            if bad is None:
                self._quarantine(conn, (row[0], job_id, row[1], str(exc)))
            else:
                bad.append((row[0], job_id, row[1], str(exc)))
            return None

    @staticmethod
    def _save(conn: sqlite3.Connection, job: Job) -> None:
        conn.execute(
            "UPDATE jobs SET state = ?, data = ? WHERE job_id = ?",
            (job.state, job.to_json(), job.job_id),
        )

    def submit(self, job: Job, limits: SubmitLimits, *, now: float | None = None) -> SubmitResult:
        now = time.time() if now is None else now
        with self._tx() as conn:
            existing = self._load(conn, job.job_id)
            if existing is not None:
                return SubmitResult(existing, False, "", self._position(conn, existing))
            if conn.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job.job_id,)).fetchone():
                return SubmitResult(None, False)  # already a job, now quarantined
            queue_len = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()[0]
            user_active = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE from_id = ? AND state IN ('queued', 'running')",
                (job.from_id,),
            ).fetchone()[0]
            user_hour = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE from_id = ? AND created_at > ?",
                (job.from_id, now - HOUR_S),
            ).fetchone()[0]
            refused = _admit(
                limits, queue_len=queue_len, user_active=user_active, user_last_hour=user_hour
            )
            if refused:
                return SubmitResult(None, False, refused)
            new = replace(job, state="queued", created_at=now, enqueued_at=now)
            cur = conn.execute(
                "INSERT INTO jobs (job_id, from_id, state, created_at, data) "
                "VALUES (?, ?, ?, ?, ?)",
                (new.job_id, new.from_id, new.state, now, new.to_json()),
            )
            new = replace(new, seq=int(cur.lastrowid or 0))
            self._save(conn, new)
            return SubmitResult(new, True, "", self._position(conn, new))

    @staticmethod
    def _position(conn: sqlite3.Connection, job: Job) -> int:
        if job.state not in ACTIVE_STATES:
            return 0
        ahead = conn.execute(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND seq < ?",
            (job.seq,),
        ).fetchone()[0]
        return int(ahead) + 1

    def get(self, job_id: str) -> Job | None:
        bad: list[_BadRow] = []
        with self._read() as conn:
            job = self._load(conn, job_id, bad)
        self._quarantine_all(bad)
        return job

    def update(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        with self._tx() as conn:
            job = self._load(conn, job_id)
            if job is None:
                return None
            new = change(job)
            if new is not None:
                self._save(conn, new)
            return new

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Job]:
        """The readable jobs ``where`` selects; an unreadable row is quarantined and skipped,
        so one damaged row never stops the sweep (or a worker's start) for every other job."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT seq, job_id, data FROM jobs WHERE {where} ORDER BY seq", args
            ).fetchall()
        found: list[Job] = []
        bad: list[_BadRow] = []
        for seq, job_id, data in rows:
            try:
                found.append(self._parse(seq, job_id, data))
            except BadJobRow as exc:
                bad.append((seq, job_id, data, str(exc)))
        self._quarantine_all(bad)
        return found

    def active(self) -> list[Job]:
        return self._select("state IN ('queued', 'running')", ())

    def for_user(self, from_id: int) -> list[Job]:
        return self._select("from_id = ? AND state IN ('queued', 'running')", (from_id,))

    def position(self, job: Job) -> int:
        with self._read() as conn:
            return self._position(conn, job)

    def prune(self, before: float) -> int:
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled', ?) "
                "AND created_at < ?",
                (QUARANTINED, before),
            )
            conn.execute(
                "DELETE FROM quarantine WHERE at < ? AND notified = 1 "
                "AND job_id NOT IN (SELECT job_id FROM jobs)",
                (before,),
            )
            conn.execute("DELETE FROM workers WHERE expires_at < ?", (time.time(),))
            return int(cur.rowcount)

    def beat(self, worker: str, info: dict[str, Any], ttl_s: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO workers (worker, expires_at, data) VALUES (?, ?, ?) "
                "ON CONFLICT(worker) DO UPDATE SET expires_at = excluded.expires_at, "
                "data = excluded.data",
                (worker, time.time() + ttl_s, json.dumps(info)),
            )

    def forget(self, worker: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM workers WHERE worker = ?", (worker,))

    def live_workers(self) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT data FROM workers WHERE expires_at >= ? ORDER BY worker", (time.time(),)
            ).fetchall()
        return _heartbeats(row[0] for row in rows)

    def quarantined_count(self) -> int:
        with self._read() as conn:
            return int(
                conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state = ?", (QUARANTINED,)
                ).fetchone()[0]
            )

    def take_quarantine_notices(self) -> list[QuarantineNotice]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT job_id, peer_id, lang, reason FROM quarantine WHERE notified = 0 "
                "ORDER BY at"
            ).fetchall()
            conn.execute("UPDATE quarantine SET notified = 1 WHERE notified = 0")
        return [QuarantineNotice(str(j), int(p), str(lang), str(r)) for j, p, lang, r in rows]

    def close(self) -> None:
        """Nothing held open between transactions."""


# --- Redis ----------------------------------------------------------------------------------


_SUBMIT_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'exists' end
local now = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 'queue_full' end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then return 'user_waiting' end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[6]) then return 'user_hourly' end
redis.call('SET', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[8], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[8], ARGV[1])
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('EXPIRE', KEYS[4], math.ceil(tonumber(ARGV[3])) + 60)
return 'ok'
"""


_QUARANTINE_LUA = """
local raw = redis.call('GET', KEYS[1])
if raw and raw ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if not raw then return 0 end
if redis.call('HSETNX', KEYS[5], ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call('RPUSH', KEYS[6], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


class RedisJobStore:
    """The job table in Redis, shared by every worker host.

    Keys (``prefix`` first): ``job:<id>`` JSON string (a finished one expires
    ``retention_s`` after it finished), ``active`` zset (score = seq),
    ``user:<from_id>:active`` zset (Redis drops it when empty), ``user:<from_id>:recent`` zset
    (score = created_at; expires an hour after the user's last clip), ``worker:<id>``
    heartbeats (expire on their own), ``seq`` counter, ``quarantine`` hash (job id -> why its
    ``job:<id>`` is unreadable; that key then expires after ``retention_s``) and
    ``quarantine:notify`` list (quarantined jobs whose user is still to be told).
    """

    def __init__(
        self, url: str, *, prefix: str = "smask:", retention_s: float = DEFAULT_RETENTION_S
    ) -> None:
        import redis  # optional dependency: only deployments with SMASK_REDIS_URL need it

        self._redis = redis.Redis.from_url(url)
        self._watch_error = redis.WatchError
        self.prefix = prefix
        self.retention_s = retention_s
        self._submit_script = self._redis.register_script(_SUBMIT_LUA)
        self._quarantine_script = self._redis.register_script(_QUARANTINE_LUA)

    def _k(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    def _write(self, pipe: Any, job: Job) -> None:
        pipe.set(self._k("job", job.job_id), job.to_json())
        if job.state in ACTIVE_STATES:
            pipe.zadd(self._k("active"), {job.job_id: job.seq})
            pipe.zadd(self._k("user", job.from_id, "active"), {job.job_id: job.seq})
        else:
            pipe.zrem(self._k("active"), job.job_id)
            pipe.zrem(self._k("user", job.from_id, "active"), job.job_id)
            pipe.expire(self._k("job", job.job_id), max(1, math.ceil(self.retention_s)))

    def submit(self, job: Job, limits: SubmitLimits, *, now: float | None = None) -> SubmitResult:
        # One Lua script: the limit checks and the insert are atomic without WATCH, which
        # would make concurrent submits (all touching the "active" set) retry each other.
        now = time.time() if now is None else now
        seq = int(self._redis.incr(self._k("seq")))
        new = replace(job, state="queued", created_at=now, enqueued_at=now, seq=seq)
        keys = [
            self._k("job", job.job_id),
            self._k("active"),
            self._k("user", job.from_id, "active"),
            self._k("user", job.from_id, "recent"),
        ]
        args: list[str | int | float] = [
            job.job_id,
            now,
            HOUR_S,
            limits.max_queue_length,
            limits.max_waiting_per_user,
            limits.max_clips_per_hour,
            new.to_json(),
            seq,
        ]
        outcome = self._submit_script(keys=keys, args=args)
        outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if outcome == "exists":
            existing = self.get(job.job_id)
            position = self.position(existing) if existing else 0
            return SubmitResult(existing, False, "", position)
        if outcome != "ok":
            return SubmitResult(None, False, outcome)
        return SubmitResult(new, True, "", self.position(new))

    def _parse(self, job_id: str, raw: Any, found_in: str = "") -> Job | None:
        """The job, or None after quarantining an unreadable one (taken off ``found_in`` too)."""
        try:
            job = Job.from_json(raw)
            if job.job_id != job_id:  # saving it would overwrite another job's key
                raise BadJobRow(f"its data names job {job.job_id[:40]!r}")
            return job
        except BadJobRow as exc:
            self._quarantine(job_id, raw, str(exc), found_in)
            return None

    def _quarantine(self, job_id: str, raw: Any, reason: str, found_in: str) -> None:
        notice = _notice_for(job_id, raw, reason)
        from_id = notice.peer_id
        with contextlib.suppress(ValueError, UnicodeDecodeError, AttributeError):
            stored = json.loads(raw).get("from_id")
            if isinstance(stored, int):
                from_id = stored
        record = {"peer_id": notice.peer_id, "lang": notice.lang, "reason": reason,
                  "at": time.time()}  # fmt: skip
        keys = [
            self._k("job", job_id),
            self._k("active"),
            self._k("user", from_id, "active"),
            found_in or self._k("active"),
            self._k("quarantine"),
            self._k("quarantine", "notify"),
        ]
        args: list[Any] = [job_id, raw, json.dumps(record), max(1, math.ceil(self.retention_s))]
        if self._quarantine_script(keys=keys, args=args):
            _log_quarantined(job_id, reason)

    def get(self, job_id: str) -> Job | None:
        raw = self._redis.get(self._k("job", job_id))
        return None if raw is None else self._parse(job_id, raw)

    def update(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        job_key = self._k("job", job_id)
        while True:
            with self._redis.pipeline() as pipe:
                try:
                    pipe.watch(job_key)
                    raw = pipe.get(job_key)
                    if raw is None:
                        return None
                    try:
                        job = Job.from_json(raw)
                        if job.job_id != job_id:
                            raise BadJobRow(f"its data names job {job.job_id[:40]!r}")
                    except BadJobRow as exc:
                        pipe.unwatch()
                        self._quarantine(job_id, raw, str(exc), "")
                        return None
                    new = change(job)
                    if new is None:
                        pipe.unwatch()
                        return None
                    pipe.multi()
                    self._write(pipe, new)
                    pipe.execute()
                    return new
                except self._watch_error:
                    continue

    def _jobs(self, index: str) -> list[Job]:
        """The readable jobs zset ``index`` lists; unreadable ones are quarantined, skipped."""
        members: Any = self._redis.zrange(index, 0, -1)
        ids = [i.decode() for i in members]
        if not ids:
            return []
        raws = self._redis.mget([self._k("job", i) for i in ids])
        found = (self._parse(i, r, index) for i, r in zip(ids, raws, strict=True) if r is not None)
        return [job for job in found if job is not None]

    def active(self) -> list[Job]:
        return self._jobs(self._k("active"))

    def for_user(self, from_id: int) -> list[Job]:
        return self._jobs(self._k("user", from_id, "active"))

    def position(self, job: Job) -> int:
        rank: Any = self._redis.zrank(self._k("active"), job.job_id)
        return 0 if rank is None else int(rank) + 1

    def prune(self, before: float) -> int:
        """Finished jobs expire by themselves (TTL); this catches keys written without one.

        Jobs finished by an older version carry no TTL: each gets the remainder of its
        retention (or is deleted when that has passed), and ``recent`` zsets without a TTL get
        one. ``before`` is the cut-off the SQLite backend uses.
        """
        pruned = 0
        for key in self._redis.scan_iter(match=self._k("job", "*"), count=500):
            if self._redis.ttl(key) != -1:  # has a TTL, or vanished meanwhile
                continue
            raw = self._redis.get(key)
            if raw is None:
                continue
            job_id = key.decode().removeprefix(self._k("job", ""))
            job = self._parse(job_id, raw)  # an unreadable one gets a TTL here
            if job is None or job.state not in FINAL_STATES:
                continue
            if job.created_at < before:
                pruned += int(self._redis.delete(key))
            else:
                self._redis.expire(key, max(1, math.ceil(job.created_at - before)))
        for key in self._redis.scan_iter(match=self._k("user", "*", "recent"), count=500):
            if self._redis.ttl(key) == -1:
                self._redis.expire(key, math.ceil(HOUR_S) + 60)
        quarantine = self._k("quarantine")
        for job_id, record in self._redis.hgetall(quarantine).items():
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                if json.loads(record)["at"] < before:
                    self._redis.hdel(quarantine, job_id)
        return pruned

    def beat(self, worker: str, info: dict[str, Any], ttl_s: float) -> None:
        if ttl_s <= 0:  # out of date as soon as written
            self.forget(worker)
            return
        self._redis.set(self._k("worker", worker), json.dumps(info), px=math.ceil(ttl_s * 1000))

    def forget(self, worker: str) -> None:
        self._redis.delete(self._k("worker", worker))

    def live_workers(self) -> list[dict[str, Any]]:
        keys = sorted(self._redis.scan_iter(match=self._k("worker", "*"), count=500))
        raws = self._redis.mget(keys) if keys else []
        return _heartbeats(r for r in raws if r is not None)

    def quarantined_count(self) -> int:
        return int(self._redis.hlen(self._k("quarantine")))

    def take_quarantine_notices(self) -> list[QuarantineNotice]:
        notify = self._k("quarantine", "notify")
        with self._redis.pipeline() as pipe:  # MULTI: the ids go to exactly one caller
            pipe.lrange(notify, 0, -1)
            pipe.delete(notify)
            ids = [i.decode() for i in pipe.execute()[0]]
        if not ids:
            return []
        records: Any = self._redis.hmget(self._k("quarantine"), ids)
        notices = []
        for job_id, raw in zip(ids, records, strict=True):
            try:
                record = json.loads(raw)
                notices.append(
                    QuarantineNotice(
                        job_id, int(record["peer_id"]), str(record["lang"]), str(record["reason"])
                    )
                )
            except (TypeError, ValueError, KeyError):
                notices.append(QuarantineNotice(job_id, peer_of(job_id), "", "unreadable"))
        return notices

    def close(self) -> None:
        self._redis.close()


def make_store(settings: Settings) -> JobStore:
    """Redis when SMASK_REDIS_URL is set (shared by many hosts), else the local SQLite file."""
    if settings.redis_url:
        return RedisJobStore(settings.redis_url, retention_s=settings.job_retention_s)
    return SqliteJobStore(settings.jobs_path)
