"""The server's own files are its user's alone: the data directory 0700, each secret file 0600.

A file is created with its mode (never chmod'ed after it was written, when another user could have
opened it meanwhile); files and directories left by an older version are tightened at start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from platformdirs import user_config_dir

log = logging.getLogger("myrmica")

DIR_MODE = 0o700
FILE_MODE = 0o600
# What a data directory holds that only the server may read (the database's files are tightened where
# the database is opened: store/database.py).
SECRET_FILES = ("secret.key", "admin-token", "server.lock")


def credentials_path() -> Path:
    """Where the CLI finds its server URL and token (``MYRMICA_CREDENTIALS`` overrides)."""
    override = os.environ.get("MYRMICA_CREDENTIALS")
    return Path(override) if override else Path(user_config_dir("myrmica")) / "credentials.json"


def tighten(path: Path, mode: int) -> None:
    """Give ``path`` (when it exists) no more than ``mode``; a failure is logged, never raised."""
    try:
        current = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return
    except OSError as exc:
        log.warning("cannot check the mode of %s: %s", path, exc)
        return
    if current & ~mode:
        try:
            os.chmod(path, current & mode)
        except OSError as exc:
            log.warning("cannot make %s private (mode %o): %s", path, current & mode, exc)


def private_dir(path: Path) -> Path:
    """``path`` exists and is 0700 (its parents are created with the usual mode)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    tighten(path, DIR_MODE)
    return path


def write_private(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` with mode 0600 (an existing file keeps no wider mode)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "w") as handle:
        with contextlib.suppress(OSError):
            os.fchmod(fd, FILE_MODE)
        handle.write(content)


def create_private(path: Path) -> None:
    """Make sure ``path`` exists with mode 0600, creating it empty if needed (before a library that
    would create it with the process's umask opens it)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE))
    tighten(path, FILE_MODE)


def secure_data_dir(data_dir: Path) -> None:
    """The data directory 0700 and its secret files 0600, whatever an older version left."""
    private_dir(data_dir)
    for name in SECRET_FILES:
        tighten(data_dir / name, FILE_MODE)


def save_credentials(url: str, token: str, path: Path | None = None) -> Path:
    """The CLI's server URL and token, 0600 (this module stays free of heavy imports: the CLI starts fast)."""
    target = path or credentials_path()
    write_private(target, json.dumps({"url": url, "token": token}, indent=2) + "\n")
    return target
