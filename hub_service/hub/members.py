"""Who is in which hub group, and who is a hub admin, as the hub says (cached briefly).

Environments are limited to groups, and notebooks are shared with groups: both ask here.
A change (a create, a start) asks the hub afresh; a read may use an answer of at most
``max_age`` seconds, as token checks do.
"""

import time
from dataclasses import dataclass

from .client import HubClient


@dataclass(frozen=True)
class Member:
    groups: frozenset[str] = frozenset()
    admin: bool = False

    def may_use(self, environment: dict) -> bool:
        """An environment limited to groups is for their members (and admins)."""
        allowed = environment.get("groups") or []
        return not allowed or self.admin or bool(self.groups & set(allowed))


NOBODY = Member()


class Members:
    def __init__(self, hub: HubClient, max_age: float):
        self.hub = hub
        self.max_age = max_age
        self._cache: dict[str, tuple[float, Member]] = {}

    async def of(self, name: str, fresh: bool = False) -> Member:
        """``name``'s groups and admin flag; nobody's for a user the hub does not know."""
        cached = self._cache.get(name)
        if cached and not fresh and time.monotonic() - cached[0] < self.max_age:
            return cached[1]
        model = await self.hub.get_user(name)
        member = Member(frozenset(model.get("groups") or ()), bool(model.get("admin"))) if model else NOBODY
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[name] = (time.monotonic(), member)
        return member
