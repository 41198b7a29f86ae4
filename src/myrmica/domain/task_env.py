"""Variable names a task may not set: those that change how programs are found, loaded or started.

A task's environment is built from scratch on the ant (``ant/executors/task_env.py``): its own
variables over a fixed base. A variable of one of these names would let whoever sets it (a request's
params, a config, an earlier task's output) run code in every program of the task (``LD_PRELOAD``,
``BASH_ENV``, ``PYTHONSTARTUP`` …) or pick which program a command runs (``PATH``). A definition or a
request that names one is refused at upload or submit (:func:`check_names`); one from anywhere else is
left out of the task's environment, with a line in its log.

``ENV`` is allowed: only interactive shells read it, and it is a common variable name (``ENV: prod``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from myrmica.domain.errors import ValidationError

REFUSED_NAMES = frozenset({
    # where programs are found, and what a shell runs or how it splits words
    "PATH", "IFS", "CDPATH", "BASH_ENV", "SHELLOPTS", "BASHOPTS", "GLOBIGNORE", "PS4", "PROMPT_COMMAND",
    # the C library's loaders
    "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF", "MALLOC_CONF",
    # interpreters' start-up code and module paths
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONINSPECT",
    "PERL5LIB", "PERLLIB", "PERL5OPT", "PERL5DB", "RUBYLIB", "RUBYOPT", "NODE_OPTIONS", "NODE_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
})
REFUSED_PREFIXES = ("LD_", "DYLD_", "BASH_FUNC_")
WHY = "it changes how the task's programs are found, loaded or started"


def refused(name: str) -> bool:
    return name in REFUSED_NAMES or name.startswith(REFUSED_PREFIXES)


def check_names(names: Iterable[Any], field: str, *, task: str | None = None) -> None:
    """Raise a 422 naming the first refused variable of ``names`` (``field.NAME``)."""
    for name in names:
        if isinstance(name, str) and refused(name):
            where = f"task {task!r}: " if task else ""
            raise ValidationError(f"{where}{field}.{name}: a variable may not be named {name}: {WHY} "
                                  "(a task's PATH is the ant's)", field=f"{field}.{name}", task=task)


def check_mapping(values: Mapping[str, Any] | None, field: str, *, task: str | None = None) -> None:
    if values:
        check_names(values.keys(), field, task=task)
