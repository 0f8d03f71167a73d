"""Where a local notebook's files are, below the embedded default's data directory, and how
its log is read: shared by SubmarineLocalSpawner and the service's ``/logs``."""

import os
from urllib.parse import quote

# the default server's place: a name no named server can have (they are [a-z0-9-])
DEFAULT_SERVER_DIR = "_default"


def notebook_path(user: str, server: str) -> str:
    """A notebook's place below a data directory's notebooks/, jupyter/ and logs/."""
    return os.path.join(quote(user, safe=""), server or DEFAULT_SERVER_DIR)


def log_file(data_dir: str, user: str, server: str) -> str:
    """Where a notebook's server writes its output (the service reads it for ``/logs``)."""
    return os.path.join(data_dir, "logs", notebook_path(user, server) + ".log")


def tail_lines(path: str, lines: int, block: int = 64 * 1024) -> list[str]:
    """The last ``lines`` lines of a file, reading from its end (logs grow large)."""
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            data, position = b"", end
            while position > 0 and data.count(b"\n") <= lines:
                position = max(0, position - block)
                f.seek(position)
                data = f.read(min(block, end - position)) + data
                end = position
    except OSError:  # none yet, or unreadable: nothing to show
        return []
    return data.decode("utf8", "replace").splitlines()[-lines:] if lines else []
