"""Bearer tokens remembered for a moment in each API process, so a dashboard's polls do not each query the token.

Every request of a dashboard carries the same token, and reading it was the largest fixed cost of a request
(docs/api-performance.md). A token read from the database serves the process for FLEET_API_TOKEN_CACHE_SECONDS
(2 s by default). Expiry is still checked on every request, and a token revoked through this process is dropped at
once; one revoked elsewhere (another API process, `fleet token revoke`) is refused within that time. Unknown
tokens are not remembered: each costs a query, and the rate limit bounds them. 0 reads the token every time.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from fleet.db.models import ApiToken
from fleet.tenancy import service as tenancy
from fleet.tenancy.roles import Role

# Far more tokens than any deployment holds; past it the cache starts again rather than grow without bound.
MAX_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class KnownToken:
    """What a request needs of a stored token: whose it is, and whether and how long it may be used."""

    id: int
    tenant_id: int
    name: str
    role: Role
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> "KnownToken":
        """The parts of a stored token a request needs."""
        return cls(
            id=token.id,
            tenant_id=token.tenant_id,
            name=tenancy.token_name(token),
            role=tenancy.token_role(token),
            revoked_at=token.revoked_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
        )


class TokenCache:
    """Tokens read in the last `seconds`, by the digest they are stored under (`fleet.tenancy.service.hash_token`),
    so the process keeps no secret."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._tokens: dict[str, tuple[float, KnownToken]] = {}

    def get(self, key: str) -> KnownToken | None:
        """The token under `key` when it was read recently enough."""
        found = self._tokens.get(key)
        if found is None or self._clock() - found[0] >= self.seconds:
            return None
        return found[1]

    def put(self, key: str, token: KnownToken) -> None:
        """Remember `token`, read just now."""
        if self.seconds <= 0:
            return
        if len(self._tokens) >= MAX_TOKENS:
            self._tokens.clear()
        self._tokens[key] = (self._clock(), token)

    def used(self, key: str, at: datetime) -> None:
        """The token under `key` had its use recorded `at`: not due again for a while."""
        found = self._tokens.get(key)
        if found is not None:
            self._tokens[key] = (found[0], replace(found[1], last_used_at=at))

    def forget(self, token_id: int) -> None:
        """Drop the token `token_id` (revoked by this process)."""
        for key in [key for key, (_, token) in self._tokens.items() if token.id == token_id]:
            self._tokens.pop(key, None)
