"""Where the CLI finds its server and token: a 0600 JSON file (kept free of heavy imports, for the CLI's start-up)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from platformdirs import user_config_dir


def credentials_path() -> Path:
    override = os.environ.get("MYRMICA_CREDENTIALS")
    return Path(override) if override else Path(user_config_dir("myrmica")) / "credentials.json"


def write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def save_credentials(url: str, token: str, path: Path | None = None) -> Path:
    target = path or credentials_path()
    write_private(target, json.dumps({"url": url, "token": token}, indent=2) + "\n")
    return target
