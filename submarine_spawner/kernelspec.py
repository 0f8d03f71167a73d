"""The rules for a kernelSpec's entries: channels, conda and pip dependencies.

Pure functions: an entry in, the same entry back, or a :class:`KernelSpecError`
whose message names the entry and the rule. The entries become single argv
entries of ``conda install`` and ``pip install`` (never part of a shell string),
so the rules keep out what those programs would read as an option, a file or
an unvetted URL. :class:`KernelSpecPolicy` is the operator's one say on them.
"""

import re

from packaging.requirements import InvalidRequirement, Requirement
from traitlets import Bool
from traitlets.config import Configurable

MAX_ENTRY = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# [channel::]name[ version[ build]], e.g. numpy, numpy>=1.24,<2, conda-forge::numpy 1.26.* py311*
_CONDA_SPEC = re.compile(
    r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.-]+)*::)?"
    r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
    r"(?:\s*[=<>!~][A-Za-z0-9_.*+=<>!~,|]*|\s+[A-Za-z0-9_.*+][A-Za-z0-9_.*+=<>!~,|]*)?"
    r"(?:\s+[A-Za-z0-9_.*+]+)?$"
)
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")
_CHANNEL_URL = re.compile(r"^https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%+/-]*)?$")

# what pip reads as a file to install rather than a package name
ARCHIVE_SUFFIXES = (
    ".whl",
    ".zip",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
)
PIP_RULE = "a PEP 508 requirement such as pandas, numpy>=1.26 or requests[socks]==2.32.3"
CONDA_RULE = "a conda match spec such as numpy, numpy>=1.24,<2 or conda-forge::numpy 1.26.*"
CHANNEL_RULE = "a channel name such as defaults or conda-forge, or an https:// URL"


class KernelSpecError(ValueError):
    """A kernelSpec entry that cannot be used; the message names the entry and the rule."""


def _check_text(kind: str, entry: str, rule: str):
    """What no entry may be: empty, huge, multi-line, or an option."""
    if not entry.strip():
        raise KernelSpecError(f"{kind} {entry!r}: is empty (expected {rule})")
    if len(entry) > MAX_ENTRY:
        raise KernelSpecError(f"{kind} {entry[:40]!r}...: is longer than {MAX_ENTRY} characters")
    if _CONTROL.search(entry):
        raise KernelSpecError(f"{kind} {entry!r}: contains a control character such as a newline (expected {rule})")
    if entry.lstrip().startswith("-"):
        raise KernelSpecError(f"{kind} {entry!r}: options are not allowed (expected {rule})")


def check_pip_requirement(entry: str, allow_urls: bool = False) -> str:
    """A PEP 508 requirement; ``name @ URL`` only where the hub allows URLs."""
    _check_text("pip dependency", entry, PIP_RULE)
    try:
        requirement = Requirement(entry)
    except InvalidRequirement as e:
        reason = str(e).splitlines()[0]
        raise KernelSpecError(f"pip dependency {entry!r}: {reason} (expected {PIP_RULE})") from None
    if requirement.url and not allow_urls:
        raise KernelSpecError(f"pip dependency {entry!r}: URLs are not allowed on this hub (expected {PIP_RULE})")
    if requirement.name.lower().endswith(ARCHIVE_SUFFIXES) and not allow_urls:
        raise KernelSpecError(
            f"pip dependency {entry!r}: a file name (pip would install a local file), and files are not "
            f"allowed on this hub (expected {PIP_RULE})"
        )
    return entry


def check_conda_spec(entry: str) -> str:
    _check_text("conda dependency", entry, CONDA_RULE)
    if not _CONDA_SPEC.match(entry):
        raise KernelSpecError(f"conda dependency {entry!r}: is not {CONDA_RULE}")
    return entry


def check_channel(entry: str) -> str:
    _check_text("channel", entry, CHANNEL_RULE)
    if entry.startswith("https://"):
        if not _CHANNEL_URL.match(entry):
            raise KernelSpecError(
                f"channel {entry!r}: an https URL must be https://host[:port]/path, "
                "without credentials, query or fragment"
            )
    elif not _CHANNEL_NAME.match(entry):
        raise KernelSpecError(f"channel {entry!r}: is not {CHANNEL_RULE}")
    return entry


class KernelSpecPolicy(Configurable):
    """What a kernelSpec may hold beyond the rules above, from ``c.KernelSpecPolicy``.

    Read by the service (environment create and PATCH, notebook create) and by the
    spawners (a second line, for servers started without the service).
    """

    allow_pip_urls = Bool(
        False,
        help="Allow pipDependencies of the form 'name @ URL' (https://, file://, git+https://"
        "...). Off by default: with it, whoever may write environments can install code from "
        "anywhere the hub's machine (or a pod) can reach, local files included.",
    ).tag(config=True)

    @property
    def context(self) -> dict:
        """The pydantic validation context the seam model's kernelSpec validators read."""
        return {"allow_pip_urls": self.allow_pip_urls}
