"""Submarine resource strings (``cpu=1,memory=1.0Gi,nvidia.com/gpu=1``) as numbers.

Pure translation: text in, a :class:`Resources` out, or a :class:`ResourceError`
whose message names the entry and the rule. :class:`ResourcePolicy` adds the
operator's allow-list of extended resources and the per-notebook caps; the
service and both spawners configure it from the same ``c.ResourcePolicy`` section.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from jupyterhub.traitlets import ByteSpecification
from traitlets import Dict, Float, Integer, List, TraitError, Unicode, validate
from traitlets.config import Configurable

_QUANTITY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[A-Za-z]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
# "K" is not Kubernetes syntax, but Submarine documents it for memory: read it as "k".
_DECIMAL = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_EXTENDED_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")

MEMORY_EXAMPLES = "e.g. 512Mi, 1.0Gi, 2G"
CPU_EXAMPLES = "e.g. 1, 0.5, 500m"


class ResourceError(ValueError):
    """A resource string that cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class Resources:
    """What a notebook asked for. ``None`` means "not asked for"."""

    cpu: float | None = None
    memory: int | None = None  # bytes
    extended: dict[str, int] = field(default_factory=dict)

    @property
    def gpus(self) -> int:
        return self.extended.get("nvidia.com/gpu", 0)


def _number(entry: str, value: str, examples: str) -> tuple[Decimal, str]:
    if value.startswith("-"):
        raise ResourceError(f"{entry}: negative amounts are not allowed")
    match = _QUANTITY.match(value)
    if not match:
        raise ResourceError(f"{entry}: '{value}' is not a quantity ({examples})")
    try:
        return Decimal(match["number"]), match["suffix"]
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ResourceError(f"{entry}: '{value}' is not a quantity ({examples})") from None


def parse_cpu(value: str, entry: str = "cpu") -> float:
    """``1``, ``0.5`` or ``500m`` as cores; at least 1m, as Kubernetes counts."""
    number, suffix = _number(entry, value, CPU_EXAMPLES)
    if suffix == "m":
        number /= 1000
    elif suffix:
        raise ResourceError(f"{entry}: unit '{suffix}' is not a cpu unit ({CPU_EXAMPLES})")
    if number < Decimal("0.001"):
        raise ResourceError(f"{entry}: must be at least 1m (0.001 cores)")
    return float(number)


def parse_memory(value: str, entry: str = "memory") -> int:
    """A Kubernetes memory quantity (``1.0Gi``, ``512Mi``, ``2G``, ``1024``) in bytes."""
    number, suffix = _number(entry, value, MEMORY_EXAMPLES)
    scale = _BINARY.get(suffix) or _DECIMAL.get(suffix)
    if scale is None:
        raise ResourceError(
            f"{entry}: unit '{suffix}' is not a memory unit (Ki, Mi, Gi, Ti, k, M, G, T; {MEMORY_EXAMPLES})"
        )
    size = int(number * scale)
    if size < 1:
        raise ResourceError(f"{entry}: must be at least one byte")
    return size


def parse_count(value: str, entry: str) -> int:
    """Extended resources such as GPUs come in whole units."""
    if value.startswith("-"):
        raise ResourceError(f"{entry}: negative amounts are not allowed")
    if not value.isdigit():
        raise ResourceError(f"{entry}: must be a whole number (not possible to request a fraction)")
    return int(value)


def parse_resources(text: str, extended_allowed=("nvidia.com/gpu",)) -> Resources:
    """Parse ``key=value`` pairs separated by commas; unknown keys are refused.
    ``extended_allowed=None`` takes any extended resource name (``domain/name``)."""
    cpu = memory = None
    extended: dict[str, int] = {}
    seen = set()
    for raw in (text or "").split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise ResourceError(f"'{item}' is not of the form key=value (e.g. cpu=1,memory=1.0Gi)")
        if key in seen:
            raise ResourceError(f"{key} is given more than once")
        seen.add(key)
        entry = f"{key}={value}"
        if key == "cpu":
            cpu = parse_cpu(value, entry)
        elif key == "memory":
            memory = parse_memory(value, entry)
        elif key in (extended_allowed or ()) or (extended_allowed is None and _EXTENDED_NAME.match(key)):
            extended[key] = parse_count(value, entry)
        else:
            allowed = ", ".join(["cpu", "memory", *(extended_allowed or ["domain/name"])])
            raise ResourceError(f"'{key}' is not a known resource (allowed: {allowed})")
    return Resources(cpu=cpu, memory=memory, extended=extended)


def format_bytes(size: int) -> str:
    """The shortest exact binary quantity: 1073741824 -> 1Gi."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        scale = _BINARY[suffix]
        if size % scale == 0:
            return f"{size // scale}{suffix}"
    return str(size)


class ResourcePolicy(Configurable):
    """Which resources notebooks may ask for, and how much.

    Read by the service (to refuse a request before anything is made) and by the
    spawners (a second line, for servers started without the service).
    """

    extended_resources = List(
        Unicode(),
        default_value=["nvidia.com/gpu"],
        help="Extended resources (Kubernetes device-plugin names) notebooks may request.",
    ).tag(config=True)

    max_cpu = Float(0, help="Most cpu cores one notebook may ask for; 0 means no cap.").tag(config=True)

    max_memory = ByteSpecification(
        0, help="Most memory one notebook may ask for (bytes, or 4G style); 0 means no cap."
    ).tag(config=True)

    max_extended = Dict(
        value_trait=Integer(),
        help="Most units of an extended resource one notebook may ask for, e.g. "
        "{'nvidia.com/gpu': 2}. Resources not listed are not capped.",
    ).tag(config=True)

    @validate("extended_resources")
    def _domain_names(self, proposal):
        for name in proposal.value:
            if not _EXTENDED_NAME.match(name):
                raise TraitError(f"'{name}' is not an extended resource name (domain/name)")
        return proposal.value

    def parse(self, text: str) -> Resources:
        """Parse and check against the caps; raises :class:`ResourceError`."""
        resources = parse_resources(text, tuple(self.extended_resources))
        if self.max_cpu and resources.cpu is not None and resources.cpu > self.max_cpu:
            raise ResourceError(f"cpu={resources.cpu:g} is over this hub's cap of {self.max_cpu:g}")
        if self.max_memory and resources.memory is not None and resources.memory > self.max_memory:
            raise ResourceError(
                f"memory={format_bytes(resources.memory)} is over this hub's cap of {format_bytes(self.max_memory)}"
            )
        for name, count in resources.extended.items():
            cap = self.max_extended.get(name)
            if cap is not None and count > cap:
                raise ResourceError(f"{name}={count} is over this hub's cap of {cap}")
        return resources
