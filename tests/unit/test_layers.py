"""The layers, read from the import graph of ``src/myrmica`` (every import, those under ``TYPE_CHECKING``
and inside functions too):

    dialects (api/<dialect>/) → service → engine parts (queen/) → store / broker;  domain below them all

* ``domain`` imports no I/O package and nothing of the layers above it;
* ``service`` imports neither the queen, the store, the broker nor the API;
* a front door — a dialect module (``api/<dialect>/``) or the dashboard (``web/``) — imports neither
  the queen, the store, the broker nor the ant, and reaches neither the store nor the engine through
  the app's context (``ctx.store``, ``services["engine"]``) but where an allow-list says why: the
  modules that run jobs (requests, definitions, logs, the dashboard's queries) use the job service;
* no two queen modules import each other, directly or around a circle, and only the composition
  root's callers import ``queen/engine.py``.

Each rule is also tried on a small made-up tree that breaks it, so none can pass for want of a check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Packages that talk to the world (files, sockets, processes, databases, HTTP). ``os`` is not listed:
# domain uses os.path.commonprefix, a string function.
IO_PACKAGES = {"asyncio", "socket", "subprocess", "shutil", "tempfile", "pathlib", "threading", "multiprocessing",
               "ssl", "http", "urllib", "sqlalchemy", "alembic", "asyncpg", "aiosqlite", "redis", "httpx", "fastapi",
               "starlette", "uvicorn", "aiodocker", "boto3", "botocore", "prometheus_client"}
ABOVE_DOMAIN = ("api", "queen", "store", "broker", "ant", "service", "cli", "web", "security", "artifacts",
                "serve", "runtime", "metrics", "config")
NOT_FOR_SERVICE = ("api", "queen", "store", "broker", "ant", "cli", "web", "serve", "runtime")
NOT_FOR_DIALECTS = ("queen", "store", "broker", "ant")
# Front-door modules that may still import one of NOT_FOR_DIALECTS (module → why). None today.
DIALECT_IMPORT_ALLOWED: dict[str, str] = {}
# Front-door modules that may reach the store or the engine past the job service, and which of the two:
# things the service has no operation for yet (module → (what, why)). The rest use the service only.
CONTEXT_ACCESS_ALLOWED: dict[str, tuple[frozenset[str], str]] = {
    "myrmica.api.formicary.engine_view": (frozenset({"engine"}), "the engine's live view of the ants and a "
                                          "control message to one, for /api/ants, /api/executors, the dashboard"),
    "myrmica.api.formicary.executors": (frozenset({"store"}), "task execution rows of what runs on the ants"),
    "myrmica.api.formicary.configs": (frozenset({"store"}), "per-job configs and secrets (and their definition's "
                                      "owner)"),
    "myrmica.api.formicary.tokens": (frozenset({"store"}), "users' API tokens"),
    "myrmica.api.formicary.system": (frozenset({"store", "engine"}), "health checks, the queen's id and lead"),
    "myrmica.web.queries": (frozenset({"engine"}), "the ants page (the engine's live view of the ants)"),
}
# The service layer's objects in the app context, which every dialect may use: the job service, users
# with passwords (basic auth), the cluster's workers and running counts, Strait's jobs and runs and its
# SDK's run callbacks, Formicary's accounts and catalogs, artifacts, webhook triggers and the management
# of event triggers.
SERVICE_KEYS = frozenset({"jobs", "health_checks", "users", "cluster", "strait", "accounts", "catalog", "artifacts",
                          "runs", "triggers", "trigger_admin"})
# The composition root and who may import it.
ENGINE = "myrmica.queen.engine"
ENGINE_IMPORTERS = {"myrmica.serve"}


@dataclass
class Module:
    name: str
    tree: ast.Module
    imports: set[str] = field(default_factory=set)


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def load_modules(root: Path) -> dict[str, Module]:
    """Every module under ``root`` (a ``src`` directory) with the modules it imports."""
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = _module_name(root, path)
        modules[name] = Module(name, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    for module in modules.values():
        package = module.name if (root / module.name.replace(".", "/") / "__init__.py").exists() \
            else module.name.rpartition(".")[0]
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                module.imports.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    module.imports.add(submodule if submodule in modules else base)
    return modules


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "myrmica" else ""


def domain_violations(modules: dict[str, Module]) -> list[str]:
    found = []
    for module in modules.values():
        if not _in(module.name, "myrmica.domain"):
            continue
        for imported in sorted(module.imports):
            top = imported.split(".")[0]
            if top in IO_PACKAGES or (top == "myrmica" and _layer(imported) in ABOVE_DOMAIN):
                found.append(f"{module.name} imports {imported}")
    return found


def service_violations(modules: dict[str, Module]) -> list[str]:
    return [f"{module.name} imports {imported}" for module in modules.values() if _in(module.name, "myrmica.service")
            for imported in sorted(module.imports) if _layer(imported) in NOT_FOR_SERVICE]


def front_doors(modules: dict[str, Module]) -> Iterator[Module]:
    """Dialect modules (``myrmica.api.<dialect>.…``; the API's own helpers are ``myrmica.api.x``) and the
    dashboard's (``myrmica.web.…``)."""
    for module in modules.values():
        parts = module.name.split(".")
        if (len(parts) >= 4 and parts[:2] == ["myrmica", "api"]) or _in(module.name, "myrmica.web"):
            yield module


def _services_key(node: ast.AST) -> str | None:
    """The key of ``….services[key]`` or ``….services.get(key, …)``, when ``node`` is one."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "services":
        return str(node.slice.value) if isinstance(node.slice, ast.Constant) else "?"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "services" and node.args:
        first = node.args[0]
        return str(first.value) if isinstance(first, ast.Constant) else "?"
    return None


def _reaches_context(tree: ast.Module) -> list[tuple[str, str]]:
    """``….store`` reads and ``services[…]`` lookups (but of the job service, or health checks): the store
    or the engine past the service, as (what, where)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "store":
            found.append(("store", f"line {node.lineno}: .store"))
        key = _services_key(node)
        if key is not None and key not in SERVICE_KEYS:
            found.append(("engine", f"line {getattr(node, 'lineno', 0)}: services[{key!r}]"))
    return found


def dialect_violations(modules: dict[str, Module]) -> list[str]:
    found = []
    for module in front_doors(modules):
        if module.name not in DIALECT_IMPORT_ALLOWED:
            found += [f"{module.name} imports {imported}" for imported in sorted(module.imports)
                      if _layer(imported) in NOT_FOR_DIALECTS]
        allowed = CONTEXT_ACCESS_ALLOWED.get(module.name, (frozenset(), ""))[0]
        found += [f"{module.name} {where}" for what, where in _reaches_context(module.tree) if what not in allowed]
    return found


def queen_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Circles of imports among queen modules (each found once, from its smallest name)."""
    queen = {name for name in modules if _in(name, "myrmica.queen") and name != "myrmica.queen"}
    edges = {name: sorted(i for i in modules[name].imports if i in queen and i != name) for name in queen}
    cycles: list[list[str]] = []

    def visit(start: str, node: str, path: list[str]) -> None:
        for nxt in edges[node]:
            if nxt == start:
                cycles.append([*path, start])
            elif nxt > start and nxt not in path:
                visit(start, nxt, [*path, nxt])

    for start in sorted(queen):
        visit(start, start, [start])
    return cycles


def engine_importers(modules: dict[str, Module]) -> list[str]:
    return sorted(m.name for m in modules.values() if ENGINE in m.imports and m.name not in ENGINE_IMPORTERS)


def queen_reaching_up(modules: dict[str, Module]) -> list[str]:
    """Queen parts that import the service or the API (only the composition root wires those)."""
    return [f"{m.name} imports {i}" for m in modules.values() if _in(m.name, "myrmica.queen") and m.name != ENGINE
            for i in sorted(m.imports) if _layer(i) in ("service", "api")]


# --- the real tree --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    found = load_modules(SRC)
    assert "myrmica.queen.engine" in found and "myrmica.service.jobs" in found  # the tree was read
    return found


def test_domain_imports_no_io_and_no_layer_above_it(modules: dict[str, Module]) -> None:
    assert domain_violations(modules) == []


def test_the_service_imports_neither_the_engine_nor_the_store_nor_a_dialect(modules: dict[str, Module]) -> None:
    assert service_violations(modules) == []


def test_dialects_and_the_dashboard_reach_jobs_only_through_the_service(modules: dict[str, Module]) -> None:
    assert {m.name for m in front_doors(modules)} >= {"myrmica.api.formicary.requests",
                                                      "myrmica.api.formicary.definitions",
                                                      "myrmica.api.formicary.logs", "myrmica.web.queries"}
    assert dialect_violations(modules) == []
    for name in ("requests", "definitions", "logs"):  # the job routes use the service
        assert "myrmica.api.jobs" in modules[f"myrmica.api.formicary.{name}"].imports
    assert "myrmica.service.jobs" in modules["myrmica.web.queries"].imports


def test_no_import_cycles_among_queen_modules(modules: dict[str, Module]) -> None:
    assert queen_cycles(modules) == []


def test_only_the_composition_roots_callers_import_the_engine(modules: dict[str, Module]) -> None:
    assert engine_importers(modules) == []
    assert queen_reaching_up(modules) == []


def test_the_allow_lists_name_modules_that_exist(modules: dict[str, Module]) -> None:
    assert set(CONTEXT_ACCESS_ALLOWED) | set(DIALECT_IMPORT_ALLOWED) <= set(modules)


# --- the checks catch what they are for ------------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> dict[str, Module]:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        for parent in path.relative_to(root).parents:
            init = root / parent / "__init__.py"
            if parent != Path(".") and not init.exists():
                init.write_text("", encoding="utf-8")
    return load_modules(root)


def test_a_domain_module_importing_io_or_the_store_is_caught(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {
        "myrmica/domain/ok.py": "import re\nfrom myrmica.domain import other\n",
        "myrmica/domain/other.py": "from typing import Any\n",
        "myrmica/domain/bad.py": "import sqlalchemy\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                 "    from myrmica.store.rows import as_dict\n",
        "myrmica/store/rows.py": "",
    })
    assert domain_violations(modules) == ["myrmica.domain.bad imports myrmica.store.rows",
                                          "myrmica.domain.bad imports sqlalchemy"]


def test_a_service_importing_the_queen_is_caught(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {"myrmica/service/jobs.py": "def f():\n    from myrmica.queen.engine import Engine\n",
                               "myrmica/queen/engine.py": ""})
    assert service_violations(modules) == ["myrmica.service.jobs imports myrmica.queen.engine"]


def test_a_dialect_reaching_the_store_or_the_engine_is_caught(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {
        "myrmica/api/helper.py": "from myrmica.store.store import Store\n",  # a helper, not a dialect
        "myrmica/api/tork/jobs.py": "from myrmica.queen import engine\n",
        "myrmica/api/tork/logs.py": "async def f(ctx):\n    return await ctx.store.logs.read('x')\n",
        "myrmica/api/tork/nodes.py": "def f(ctx):\n    return ctx.services['engine']\n",
        "myrmica/web/pages.py": "def f(ctx):\n    return ctx.services.get('engine')\n",
        "myrmica/api/tork/fine.py": "from myrmica.api.jobs import jobs_of\n"
                                    "def f(ctx):\n    return ctx.services['jobs']\n",
        "myrmica/api/jobs.py": "", "myrmica/queen/engine.py": "", "myrmica/store/store.py": "",
    })
    assert dialect_violations(modules) == ["myrmica.api.tork.jobs imports myrmica.queen.engine",
                                           "myrmica.api.tork.logs line 2: .store",
                                           "myrmica.api.tork.nodes line 2: services['engine']",
                                           "myrmica.web.pages line 2: services['engine']"]


def test_a_circle_of_queen_imports_is_caught(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {
        "myrmica/queen/a.py": "from myrmica.queen.b import B\n",
        "myrmica/queen/b.py": "from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from myrmica.queen.c import C\n",
        "myrmica/queen/c.py": "from myrmica.queen import a\n",
        "myrmica/queen/d.py": "from myrmica.queen.a import A\n",  # into the circle, not part of it
    })
    assert queen_cycles(modules) == [["myrmica.queen.a", "myrmica.queen.b", "myrmica.queen.c", "myrmica.queen.a"]]


def test_a_queen_part_importing_the_engine_or_the_service_is_caught(tmp_path: Path) -> None:
    modules = _tree(tmp_path, {
        "myrmica/queen/engine.py": "from myrmica.service.jobs import JobService\n",  # the root may
        "myrmica/queen/supervisor.py": "from myrmica.queen.engine import Engine\nfrom myrmica.service import jobs\n",
        "myrmica/serve.py": "from myrmica.queen.engine import Engine\n",
        "myrmica/service/jobs.py": "",
    })
    assert engine_importers(modules) == ["myrmica.queen.supervisor"]
    assert queen_reaching_up(modules) == ["myrmica.queen.supervisor imports myrmica.service.jobs"]
