"""Unprivileged OS users for local notebooks when the hub runs as root: one per owner.

Each owner's notebooks run as a system user of their own, made on demand as JupyterHub's
``LocalAuthenticator.create_system_users`` does (``useradd``, an argv list: no shell). Its
name is derived from the hub name, stable and valid whatever the hub name holds:
``<prefix><readable part>-<hash>``, at most 32 characters, so two hub names never share one.
"""

import asyncio
import grp
import hashlib
import logging
import os
import pwd
import re
import stat
import subprocess

from jupyterhub.spawner import SpawnException

log = logging.getLogger(__name__)

NAME_MAX = 32  # what useradd and most tools take
_UNSAFE = re.compile(r"[^a-z0-9]+")


class OSUserError(SpawnException):
    """A notebook's OS user cannot be made or cannot reach what it runs; the message says why
    and what to do. To the hub, a start it declines (no traceback, the message in its answer)."""

    def __init__(self, message: str):
        super().__init__(message, reason="os_user", status_code=500)

    def __str__(self):
        return self.message


def system_name(hub_name: str, prefix: str) -> str:
    """The OS user of ``hub_name``'s notebooks."""
    digest = hashlib.sha256(hub_name.encode()).hexdigest()[:8]
    room = NAME_MAX - len(prefix) - len(digest) - 1
    readable = _UNSAFE.sub("-", hub_name.lower()).strip("-")[:room].rstrip("-")
    return f"{prefix}{readable}-{digest}" if readable else f"{prefix}{digest}"


_making: dict[str, asyncio.Lock] = {}


async def ensure(name: str, comment: str, home: str) -> pwd.struct_passwd:
    """The OS user ``name``, made (no login shell, a group of its own, ``home`` not created) if
    missing. Safe to call at once from several starts: one makes it, the others find it."""
    lock = _making.setdefault(name, asyncio.Lock())
    async with lock:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
        argv = [
            "useradd",
            "--no-create-home",
            "--home-dir",
            home,
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
            "--comment",
            comment,
            name,
        ]
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output, _ = await process.communicate()
        try:  # another process (a second hub) may have made it meanwhile
            user = pwd.getpwnam(name)
            log.info("Made the OS user %s (uid %d) for %s", name, user.pw_uid, comment)
            return user
        except KeyError:
            raise OSUserError(
                f"Could not make the OS user {name} that notebooks run as when the hub is root "
                f"({' '.join(argv)}: exit status {process.returncode}: "
                f"{output.decode(errors='replace').strip()})"
            ) from None


def groups_of(user: pwd.struct_passwd) -> set[int]:
    return {user.pw_gid} | {group.gr_gid for group in grp.getgrall() if user.pw_name in group.gr_mem}


def unreachable(path: str, user: pwd.struct_passwd, need=os.X_OK) -> str | None:
    """The first directory on the way to ``path`` (or ``path`` itself) that ``user`` may not
    pass, or open with ``need`` (``os.R_OK``, ``os.X_OK``), by its mode bits; None if all can."""
    path = os.path.realpath(path)
    groups = groups_of(user)
    parts = path.split(os.sep)
    for depth in range(1, len(parts) + 1):
        here = os.sep.join(parts[:depth]) or os.sep
        wanted = need if here == path else os.X_OK
        try:
            info = os.stat(here)
        except OSError:
            return here
        if user.pw_uid == info.st_uid:
            allowed = info.st_mode >> 6
        elif info.st_gid in groups:
            allowed = info.st_mode >> 3
        else:
            allowed = info.st_mode
        if (wanted & os.X_OK and not allowed & stat.S_IXOTH) or (wanted & os.R_OK and not allowed & stat.S_IROTH):
            return here
    return None


def as_user(user: pwd.struct_passwd | None, umask: int):
    """A ``preexec_fn`` that drops a child process to ``user`` (its group, no others) with
    ``umask``; None when there is no user to become (the hub is not root)."""
    if user is None:
        return None

    def become():
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
        os.umask(umask)

    return become


def own(path: str, user: pwd.struct_passwd, mode: int):
    """``path`` (a directory, made if missing) belongs to ``user`` alone; what it holds
    too, if it belonged to someone else (a workspace made before notebooks had users)."""
    os.makedirs(path, exist_ok=True)
    if os.stat(path).st_uid != user.pw_uid:
        for here, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(here, name), user.pw_uid, user.pw_gid)
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, mode)
