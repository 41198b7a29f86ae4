"""A SHELL task's environment, built from scratch: nothing of the ant's (or server's) own.

The ant's environment may hold ``MYRMICA_ADMIN_TOKEN``, ``MYRMICA_SECRET_KEY``, the broker's or the
database's password, cloud credentials (``AWS_*``) …; a task gets none of it. It gets:

- ``PATH``: the ant's ``PATH`` with empty and relative entries dropped (the programs it can run are
  the ones its user can; a relative entry would resolve in the task's own directory), or
  ``/usr/local/bin:/usr/bin:/bin`` when that leaves nothing;
- ``HOME``: the task's working directory;
- ``LANG``: the ant's, else ``C.UTF-8``; ``LC_ALL`` and ``TZ`` when the ant has them;
- ``USER`` and ``LOGNAME``: the ant's user name;
- its variables (configs, params, built-ins, its own and its job's variables, earlier outputs) and
  ``environment`` over these, except names that change how programs load (``domain/task_env.py``),
  which are left out with a line in the task's log;
- ``MYRMICA_JOB_DIR``: its request's job directory.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
DEFAULT_LANG = "C.UTF-8"


def safe_path(value: str | None) -> str:
    """``value``'s absolute entries, each once, in order; DEFAULT_PATH when none is left."""
    entries = [entry for entry in (value or "").split(":") if entry.startswith("/")]
    return ":".join(dict.fromkeys(entries)) or DEFAULT_PATH


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def base_environment(host: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables every task starts with (``HOME`` is added per task)."""
    host = os.environ if host is None else host
    user = _user_name()
    base = {"PATH": safe_path(host.get("PATH")), "LANG": host.get("LANG") or DEFAULT_LANG,
            "USER": user, "LOGNAME": user}
    for name in ("LC_ALL", "TZ"):
        if host.get(name):
            base[name] = host[name]
    return base
