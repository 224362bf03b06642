"""Retrying Hub commits that lost a race: conflicts told by HTTP status, jittered exponential backoff.

The Hub answers 412 (Precondition Failed) to a `create_commit` whose
`parent_commit` is no longer the branch head, and 409 (Conflict) when another
commit to the same repo is being processed. Both mean "re-read and try again";
every other status is a real error. `huggingface_hub.utils.http_backoff` retries
single HTTP requests; a commit must instead be rebuilt from the new head (dedup
again, new card), so the caller's whole attempt is retried here, waiting a
random time in [0, min(cap, base * 2**attempt)] ("full jitter") so that
writers that collided once do not collide again in lockstep.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from huggingface_hub.errors import HfHubHTTPError

from hub.schema import ArchiveError

T = TypeVar("T")
CONFLICT_STATUSES = frozenset({409, 412})


class ConflictError(ArchiveError):
    """The repo kept changing under us: every attempt lost a race with another writer."""


def status_of(e: BaseException) -> int | None:
    response = getattr(e, "response", None)
    return getattr(response, "status_code", None)


def is_conflict(e: BaseException) -> bool:
    return isinstance(e, HfHubHTTPError) and status_of(e) in CONFLICT_STATUSES


@dataclass(frozen=True)
class Backoff:
    """How often and how long to wait between attempts."""

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 20.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt number `attempt` (0-based): uniform in [0, min(cap, base * 2**attempt)]."""
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2 ** attempt))


def retry_on_conflict(attempt: Callable[[], T], backoff: Backoff = Backoff(), *, what: str = "the repo",
                      sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> T:
    """Run `attempt` until it does not raise a 409/412 `HfHubHTTPError`; other errors propagate at once."""
    rng = rng or random.Random()
    for n in range(backoff.attempts):
        try:
            return attempt()
        except HfHubHTTPError as e:
            if not is_conflict(e):
                raise
            if n + 1 < backoff.attempts:
                sleep(backoff.delay(n, rng))
    raise ConflictError(f"{what} kept changing under us ({backoff.attempts} conflicting commits in a row); "
                        "retry later")
