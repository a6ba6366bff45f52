"""What to do with each VK API error code.

Rate and flood limits (6, 9, 29) and VK's own internal errors (10) pass with time, so calls are
retried with exponential back-off. Access problems (15, 901, 917, 935) will not pass by
retrying: they are logged once in words an operator can act on, and the job goes on.
"""

from __future__ import annotations

import logging

RETRY_CODES: frozenset[int] = frozenset({6, 9, 10, 29})

OPERATOR_HINTS: dict[int, str] = {
    15: "access denied: check the community token's rights (messages, docs, photos)",
    901: "the user has not allowed messages from the community",
    917: "the community has no access to this chat (make the bot an admin)",
    935: "the community is not in this chat any more",
}

log = logging.getLogger("smask.vk")


def backoff_delay_s(attempt: int, base_s: float) -> float:
    """Delay before retry ``attempt`` (0-based): base, 2x, 4x... capped at 30 s."""
    return float(min(base_s * (2**attempt), 30.0))


def log_operator_error(code: int, method: str, peer_id: object = None) -> None:
    hint = OPERATOR_HINTS.get(code)
    if hint is not None:
        log.error("VK error %s on %s (peer %s): %s", code, method, peer_id, hint)
    else:
        log.error("VK error %s on %s (peer %s)", code, method, peer_id)
