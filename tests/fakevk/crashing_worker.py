"""``python -m fakevk.crashing_worker``: the real worker process, which kills itself on one clip.

The fault suite needs a clip that kills every worker touching it, the way an OOM kill or a
codec's segfault would. No input crashes our decoder on purpose, so this wrapper makes one:
it runs the ordinary worker (``bot.cli.main(["worker"])``), and when a downloaded clip's
SHA-256 equals ``SMASK_TEST_CRASH_DIGEST`` the process SIGKILLs itself (no handler, no
cleanup, no chance to record the failure: a real crash). It lives under tests/, which the
image does not ship, so production code holds no way to switch it on.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bot import worker as worker_module
from bot.cli import main

DIGEST_ENV = "SMASK_TEST_CRASH_DIGEST"


def install(digest: str) -> None:
    real_download = worker_module.download

    async def download(url: str, dst: Path, **kwargs: Any) -> int:
        size = await real_download(url, dst, **kwargs)
        if hashlib.sha256(dst.read_bytes()).hexdigest() == digest:
            os.kill(os.getpid(), signal.SIGKILL)
        return size

    worker_module.download = download  # type: ignore[assignment]


if __name__ == "__main__":
    install(os.environ[DIGEST_ENV])
    sys.exit(main(["worker"]))
