"""Small Python packages made on the spot, as wheels: pip installs them without a network."""

import base64
import hashlib
import zipfile
from pathlib import Path

from .harness import open_way_to


def make_wheel(directory: Path, name: str, version: str = "1.0", source: str = "") -> Path:
    """A pure-Python wheel of one module ``name`` whose ``__init__.py`` is ``source``."""
    dist = f"{name}-{version}"
    files = {
        f"{name}/__init__.py": source,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    path = Path(directory) / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in files.items():
            data = text.encode()
            wheel.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{member},sha256={digest},{len(data)}\n")
        wheel.writestr(f"{dist}.dist-info/RECORD", "".join(record) + f"{dist}.dist-info/RECORD,,\n")
    # a package for anyone to install: as root, the hub builds environments as another OS user
    path.chmod(0o644)
    open_way_to(path.parent)
    return path


def requirement(wheel: Path) -> str:
    """The pipDependencies entry of a local wheel (a URL: the hub must allow them)."""
    return f"{wheel.name.split('-')[0]} @ {wheel.resolve().as_uri()}"
