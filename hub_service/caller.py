"""Who is calling, and what JupyterHub's scopes let them do here."""

import functools
from dataclasses import dataclass

from jupyterhub.services.auth import check_scopes

ENVIRONMENTS_SCOPE = "custom:submarine:environments"
# the hub's spawners: admission of every start, and reports of how servers end
ADMISSION_SCOPE = "custom:submarine:admission"


@dataclass(frozen=True)
class Caller:
    name: str
    kind: str  # "user" or "service"
    admin: bool  # may see and change every notebook
    environments: bool  # may create, change and delete environments
    metrics: bool  # may read /metrics
    spawner: bool  # the hub's spawners: may ask for admission and report

    @classmethod
    def from_model(cls, model: dict) -> "Caller":
        """From the hub's identity model (``GET /hub/api/user``) of the request's token.

        Admin means the token carries the unfiltered ``admin:servers`` scope, so a
        token an admin made with fewer scopes gets no more than those scopes.
        """
        return _caller(model["name"], model.get("kind", "user"), frozenset(model.get("scopes", ())))

    def owns(self, owner: str) -> bool:
        return self.admin or (self.kind == "user" and self.name == owner)


@functools.lru_cache(maxsize=4096)
def _caller(name: str, kind: str, scopes: frozenset) -> Caller:
    """Scopes parsed once per identity, not per request."""
    admin = bool(check_scopes({"admin:servers"}, scopes))
    return Caller(
        name=name,
        kind=kind,
        admin=admin,
        environments=admin or bool(check_scopes({ENVIRONMENTS_SCOPE}, scopes)),
        metrics=admin or bool(check_scopes({"read:metrics"}, scopes)),
        spawner=bool(check_scopes({ADMISSION_SCOPE}, scopes)),
    )
