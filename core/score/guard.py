"""Reading a score file in a warm child process, so no file can stall or swell its caller.

core.score.files bounds every value it knows music21 and mido to trust, but those libraries
are large and a file's next trick is not known yet. The bot parses a learner's doc in a child
held under an address-space limit and a wall-clock limit: a file that outgrows either ends
the child (a fresh one replaces it) and the learner hears the file is too big to read, while
the bot process itself never grows and its event loop and threads stay free.

The child is started once and imports music21 once, so an honest tune loads as fast as in
process. It speaks JSON over its stdin and stdout (a 4-byte length before each message), so
nothing it sends is unpickled: the child handles untrusted bytes, the parent trusts only data.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import resource
import select
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from core import errors
from core.errors import ScoreError, ScoreFileTooLarge, ScoreUnreadable

# A child that imports music21 reserves ~190 MB of address space and parsing the largest
# file the bounds let through (20000 notes, 3000 bars) touches ~400 MB more.
CHILD_MEMORY_BYTES = 768 * 2**20
READ_TIMEOUT_S = 12.0  # the largest file the bounds let through reads in ~7 s
CHILDREN = 1  # parses at once; each child may hold up to CHILD_MEMORY_BYTES
_HEADER = struct.Struct(">I")
_MAX_REPLY_BYTES = 64 * 2**20
_REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("smask.score")


class _Child:
    """One warm reader process; replaced after any failure, so its state never carries on."""

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(_REPO), env.get("PYTHONPATH", "")) if p
            )
            env["OPENBLAS_NUM_THREADS"] = "1"  # each BLAS thread reserves address space
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "core.score.guard", str(self.memory_bytes)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=str(_REPO),
            )
        return self.proc

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


class ScoreReaderPool:
    """Warm children that read score files under hard time and memory limits.

    Thread-safe: a caller takes an idle child (waiting for one when all are busy), so an
    async caller should gate its calls to ``size`` at a time before it takes a thread.
    """

    def __init__(
        self,
        *,
        size: int = CHILDREN,
        memory_bytes: int = CHILD_MEMORY_BYTES,
        timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.size = size
        self.timeout_s = timeout_s
        self._idle: queue.Queue[_Child] = queue.Queue()
        self._all = [_Child(memory_bytes) for _ in range(size)]
        for child in self._all:
            self._idle.put(child)

    def warm_up(self) -> None:
        """Start every child now (they import music21 while the bot serves others)."""
        for child in self._all:
            child.start()

    def close(self) -> None:
        for child in self._all:
            child.stop()

    def read(self, data: bytes, name: str, *, track: int | None = None) -> Any:
        """:func:`core.score.files.read_score_voices`, in a child.

        Raises:
            ScoreError: whatever the reader refused the file with; ScoreFileTooLarge when
                reading it took over ``timeout_s`` or more memory than a child may hold.
            core.score.files.NoSuchTrack: ``track`` is not one of the file's voices.
        """
        child = self._idle.get()
        try:
            reply = self._ask(child, data, name, track)
        finally:
            self._idle.put(child)
        return _from_reply(reply)

    def _ask(self, child: _Child, data: bytes, name: str, track: int | None) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        proc = child.start()
        assert proc.stdin is not None and proc.stdout is not None
        request = json.dumps({"name": name, "track": track, "size": len(data)}).encode()
        try:
            proc.stdin.write(_HEADER.pack(len(request)) + request + data)
            proc.stdin.flush()
            head = _read_exact(proc.stdout, _HEADER.size, deadline)
            (length,) = _HEADER.unpack(head)
            if length > _MAX_REPLY_BYTES:
                raise OSError(f"a reply of {length} bytes")
            reply: dict[str, Any] = json.loads(_read_exact(proc.stdout, length, deadline))
        except TimeoutError:
            child.stop()
            raise ScoreFileTooLarge(
                f"reading took over {self.timeout_s:g} s", timeout_s=self.timeout_s
            ) from None
        except (OSError, ValueError, EOFError) as exc:
            # The child died mid-read: out of its address space (a MemoryError that could
            # not even be answered) or killed. Either way the file is what did it.
            code = proc.poll()
            log.warning("score reader child died reading %r (%s, exit %s)", name, exc, code)
            child.stop()
            raise ScoreFileTooLarge(
                f"reading needed over {child.memory_bytes // 2**20} MB",
                memory_mb=child.memory_bytes // 2**20,
            ) from None
        if reply.get("restart"):
            child.stop()  # after a MemoryError the child's heap is not to be trusted
        return reply


def _read_exact(stream: IO[bytes], n: int, deadline: float) -> bytes:
    fd = stream.fileno()
    chunks: list[bytes] = []
    got = 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the reader closed its output")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _from_reply(reply: dict[str, Any]) -> Any:
    from core.score.files import NoSuchTrack, ScoreFile
    from core.score.model import Score

    if "score" in reply:
        return ScoreFile(
            Score.from_dict(reply["score"]), tuple(reply["voices"]), int(reply["chosen"])
        )
    kind, detail = str(reply.get("error", "")), str(reply.get("detail", ""))
    if kind == "NoSuchTrack":
        raise NoSuchTrack(detail)
    found = getattr(errors, kind, None)
    if isinstance(found, type) and issubclass(found, ScoreError):
        raise found(detail)
    raise ScoreUnreadable(detail or kind)


# --- the child ------------------------------------------------------------------------------


def _answer(data: bytes, name: str, track: int | None) -> dict[str, Any]:
    from core.score.files import NoSuchTrack, read_score_voices

    try:
        found = read_score_voices(data, name, track=track)
    except ScoreError as exc:
        return {"error": type(exc).__name__, "detail": exc.detail}
    except NoSuchTrack as exc:
        return {"error": "NoSuchTrack", "detail": str(exc)}
    except MemoryError:
        return {"error": "ScoreFileTooLarge", "detail": "out of memory", "restart": True}
    except RecursionError:
        return {"error": "ScoreUnreadable", "detail": "nested too deep", "restart": True}
    except Exception as exc:  # a reader bug must not look like a crash of the bot
        return {"error": "ScoreUnreadable", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    return {
        "score": found.score.to_dict(),
        "voices": list(found.voices),
        "chosen": found.chosen,
    }


def serve(memory_bytes: int) -> None:
    """The child's loop: limit itself, import the readers, answer until stdin closes."""
    with contextlib.suppress(ValueError, OSError):  # a lower hard limit already holds
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # The replies own fd 1; anything a library prints goes to stderr (the parent's devnull),
    # never into the middle of a reply.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    import mido  # noqa: F401  (warm: the first doc should not pay for the imports)
    import music21.musicxml.xmlToM21  # noqa: F401

    import core.score.files  # noqa: F401

    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return  # the parent is gone or closed us
        request = json.loads(stdin.read(_HEADER.unpack(head)[0]))
        data = stdin.read(int(request["size"]))
        track = request.get("track")
        reply = _answer(data, str(request["name"]), None if track is None else int(track))
        out = json.dumps(reply).encode()
        stdout.write(_HEADER.pack(len(out)) + out)
        stdout.flush()
        if reply.get("restart"):
            return


_POOL: ScoreReaderPool | None = None


def reader_pool() -> ScoreReaderPool:
    """The process's pool, made on first use and closed at exit."""
    global _POOL
    if _POOL is None:
        _POOL = ScoreReaderPool()
        atexit.register(_POOL.close)
    return _POOL


if __name__ == "__main__":
    serve(int(sys.argv[1]))
