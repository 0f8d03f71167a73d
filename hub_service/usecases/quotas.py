"""Per-owner quotas: how many notebooks, and how much cpu, memory and GPUs at once.

The per-notebook caps are :class:`ResourcePolicy`'s; these add up an owner's
notebooks. A notebook counts towards the resource quotas while it is starting or
running (it holds what it asked for); towards ``max_notebooks`` whatever its status.
"""

from dataclasses import dataclass, field

from jupyterhub.traitlets import ByteSpecification
from traitlets import Dict, Float, Integer
from traitlets.config import Configurable

from submarine_spawner.resources import Resources, format_bytes, parse_resources

from .. import statuses
from ..errors import ApiError


@dataclass
class Usage:
    notebooks: int = 0
    cpu: float = 0.0
    memory: int = 0
    extended: dict[str, int] = field(default_factory=dict)

    def add(self, resources: Resources):
        self.cpu += resources.cpu or 0
        self.memory += resources.memory or 0
        for name, count in resources.extended.items():
            self.extended[name] = self.extended.get(name, 0) + count


def usage(rows) -> Usage:
    """What notebooks hold, from their ``(status, spec)`` (``store.usage_rows``)."""
    used = Usage()
    for row in rows:
        used.notebooks += 1
        if row.status in statuses.ACTIVE:
            # stored specs were valid when made: read every extended resource as it stands
            used.add(parse_resources(row.spec.get("spec", {}).get("resources", ""), extended_allowed=None))
    return used


class OwnerQuota(Configurable):
    """Limits on what one owner's notebooks may hold together; 0 means no limit."""

    max_notebooks = Integer(0, help="Notebooks one owner may have, whatever their status.").tag(config=True)
    max_cpu = Float(0, help="Cpu cores one owner's starting and running notebooks may ask for together.").tag(
        config=True
    )
    max_memory = ByteSpecification(
        0, help="Memory one owner's starting and running notebooks may ask for together (bytes, or 16G style)."
    ).tag(config=True)
    max_extended = Dict(
        value_trait=Integer(),
        help="Units of extended resources one owner's starting "
        "and running notebooks may ask for together, e.g. {'nvidia.com/gpu': 2}.",
    ).tag(config=True)

    def check(self, owner: str, used: Usage, adding: Resources | None, new: bool):
        """403 naming the limit and the current use if one more notebook (``new``) or
        one more running one (``adding``) goes over a quota."""
        if new and self.max_notebooks and used.notebooks + 1 > self.max_notebooks:
            raise ApiError(
                403,
                f"Quota: '{owner}' has {used.notebooks} notebooks and may have at most "
                f"{self.max_notebooks}; delete one first",
            )
        if adding is None:
            return
        over = []
        if self.max_cpu and adding.cpu and used.cpu + adding.cpu > self.max_cpu:
            over.append(f"cpu {used.cpu:g} in use + {adding.cpu:g} asked > {self.max_cpu:g}")
        if self.max_memory and adding.memory and used.memory + adding.memory > self.max_memory:
            over.append(
                f"memory {format_bytes(used.memory)} in use + {format_bytes(adding.memory)} asked > "
                f"{format_bytes(self.max_memory)}"
            )
        for name, cap in self.max_extended.items():
            asked = adding.extended.get(name, 0)
            if asked and used.extended.get(name, 0) + asked > cap:
                over.append(f"{name} {used.extended.get(name, 0)} in use + {asked} asked > {cap}")
        if over:
            raise ApiError(
                403,
                f"Quota: '{owner}' would go over the limit of running notebooks ({'; '.join(over)}); stop one first",
            )
