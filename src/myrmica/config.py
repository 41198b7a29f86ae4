"""Settings: command-line flags over ``MYRMICA_*`` environment variables over a YAML file over defaults."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from platformdirs import user_cache_path, user_data_dir

from myrmica.ant.executors.docker_options import DockerOptions, parse_image_map
from myrmica.ant.executors.egress import EgressGuard
from myrmica.ant.executors.sandbox import MODES as SANDBOX_MODES
from myrmica.ant.executors.sandbox import SandboxSettings
from myrmica.domain.documents import load_yaml
from myrmica.domain.errors import ValidationError
from myrmica.security.private_files import credentials_path

ENV_PREFIX = "MYRMICA_"


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 7777
    data_dir: Path = field(default_factory=lambda: Path(user_data_dir("myrmica")))
    database_url: str = ""
    broker_url: str = ""
    auth_enabled: bool = True
    admin_token: str = ""
    secret_key: str = ""
    embedded_ant: bool = True
    embedded_ant_process: bool = True  # without a broker, run the embedded ant in a child process
    ant_methods: tuple[str, ...] = (
        "SHELL", "HTTP_GET", "HTTP_POST_FORM", "HTTP_POST_JSON", "HTTP_PUT_FORM", "HTTP_PUT_JSON",
        "HTTP_DELETE", "HTTP_ENDPOINT", "DOCKER",
    )
    ant_tags: tuple[str, ...] = ()
    ant_id: str = ""  # the embedded ant's name; default "embedded-ant", or host and port with a broker
    ant_capacity: int = 50
    docker_host: str = ""  # the embedded ant's Docker engine; default unix:///var/run/docker.sock
    docker_image_map: tuple[str, ...] = ()  # IMAGE=LOCAL_IMAGE items: run LOCAL_IMAGE where a task names IMAGE
    docker_bind_allowed: tuple[str, ...] = ()  # host directories DOCKER tasks may bind-mount
    ant_keep_work_hours: float = 24.0  # job directories are removed this long after their last task began
    max_body_bytes: int = 256 * 1024
    max_log_bytes_per_task: int = 10 * 1024 * 1024
    max_task_timeout_secs: float = 3600.0
    max_job_timeout_secs: float = 6 * 3600.0
    max_schedule_attempts: int = 10_000
    max_composite_parallel: int = 100  # children of one parallel group or fan-out running at once, at most
    max_composite_children: int = 10_000  # items of one fan-out (Tork each), at most
    log_level: str = "info"
    graphviz_dot: str = "dot"  # the Graphviz program that draws graphs (dot.png, dot.svg)
    work_dir: Path | None = None  # the embedded ant's task directories; default: default_work_dir(data_dir)
    sandbox: str = "auto"  # auto | bwrap | none: how SHELL tasks are confined (ant/executors/sandbox.py)
    sandbox_network: bool = True  # False: sandboxed tasks get no network (bwrap --unshare-net)
    sandbox_hide: tuple[str, ...] = ()  # more host paths sandboxed tasks must not see
    config_path: Path | None = None  # the YAML file the settings came from (not a setting: hidden from tasks)
    tork_prefix: str = "/tork"  # where the Tork dialect is mounted; "/" mounts it at the root
    tork_basic_auth: bool = False  # Tork's routes take HTTP basic auth (users made by POST /users)
    # HTTP tasks may reach private, loopback and link-local targets (refused by default: SSRF)
    http_allow_private: bool = False
    http_allowed_hosts: tuple[str, ...] = ()  # ... or these hosts only (``host`` or ``host:port``; for tests)
    # Tork tasks with `image` run on DOCKER when docker_host is set; else they are refused, unless this
    # says to run them on the shell runtime, ignoring `image` (Tork's examples all name one).
    tork_image_on_shell: bool = False
    # Strait's project quotas: a trigger is 429 when the project has this many runs queued (or delayed),
    # or dequeued and executing, already (0: no limit)
    strait_max_queued_runs: int = 0
    strait_max_executing_runs: int = 0
    webhook_backoff_secs: float = 2.0  # Tork's webhooks wait this × the attempt number before a retry
    smtp_host: str = ""  # the SMTP server email verifications are sent through (none: not sent, 409)
    smtp_port: int = 25
    smtp_from: str = "myrmica@localhost"
    artifacts_url: str = ""  # the artifact store: "" = <data dir>/artifacts; file:///path; s3://bucket/prefix?…
    artifact_expiration_days: float = 1000.0  # a task's artifacts are kept this long unless expires_after says
    cache_expiration_days: float = 30.0  # a cache is kept this long unless its expires_after says
    approval_sla_check_secs: float = 60.0  # how often the leading queen handles breached approval SLAs
    max_upload_bytes: int = 100 * 1024 * 1024  # POST /api/artifacts takes a body this large, at most
    leader_lease_secs: float = 10.0  # the leader lease's length: a dead leader's duties move on this much later
    trigger_tick_secs: float = 1.0  # how often a queen looks for S3 triggers whose poll_interval has passed
    trigger_rescan_secs: float = 10.0  # how often it reads again which definitions have triggers
    trigger_s3_endpoint_url: str = ""  # S3 triggers' endpoint; default: the artifacts URL's endpoint_url, else AWS
    trigger_s3_region: str = ""
    trigger_sqs_endpoint_url: str = ""  # S3 notification triggers' SQS; default: the queue URL's host, else AWS
    trigger_queue_url: str = ""  # the Redis of queue triggers' streams; default: broker_url (none: no queue triggers)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'myrmica.db'}"

    @property
    def effective_work_dir(self) -> Path:
        return self.work_dir or default_work_dir(self.data_dir)

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"


def default_work_dir(data_dir: Path) -> Path:
    """``<user cache dir>/myrmica/work/<data dir name>-<hash of its path>``: outside the data directory,
    and one per data directory (two servers never share one, nor sweep each other's)."""
    resolved = Path(os.path.abspath(data_dir.expanduser()))
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return user_cache_path("myrmica") / "work" / f"{resolved.name or 'root'}-{digest}"


def _inside(path: Path, other: Path) -> bool:
    """``path`` is ``other`` or somewhere under it (symbolic links resolved where they exist)."""
    a, b = path.expanduser().resolve(), other.expanduser().resolve()
    return a == b or b in a.parents


_PATH_SETTINGS = {"work_dir"}  # Optional paths (their default None says nothing of their type)
_NOT_SETTINGS = {"config_path"}

_ENV_NAMES = {
    "database_url": ("DATABASE_URL", "DB"),
    "broker_url": ("BROKER_URL",),
}


def _coerce(name: str, raw: Any) -> Any:
    if name in _PATH_SETTINGS:
        return Path(str(raw)).expanduser() if str(raw).strip() else None
    default = getattr(Settings(), name)
    try:
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {raw!r}")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(str(raw)).expanduser()
        if isinstance(default, tuple):
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(raw)
    except ValueError as exc:
        raise ConfigError(f"setting {name}: {exc}") from exc


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}".replace("-", "_").replace(".", "_")
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def load_settings(
    overrides: dict[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge defaults, the YAML file, the environment and explicit overrides (highest first wins)."""
    env = os.environ if environ is None else environ
    known = {f.name for f in fields(Settings)} - _NOT_SETTINGS
    values: dict[str, Any] = {}
    path = config_file or (Path(env[f"{ENV_PREFIX}CONFIG"]) if f"{ENV_PREFIX}CONFIG" in env else None)
    if path is not None:
        try:
            doc = load_yaml(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
        except ValidationError as exc:
            raise ConfigError(f"config file {path}: {exc.message}") from exc
        if not isinstance(doc, dict):
            raise ConfigError(f"config file {path}: expected a mapping")
        for name, value in _flatten(doc).items():
            if name == "auth_enabled" or name in known:
                values[name] = _coerce(name, value)
            elif name == "db":
                values["database_url"] = str(value)
            else:
                raise ConfigError(f"config file {path}: unknown setting {name!r}")
    for name in known:
        for env_name in _ENV_NAMES.get(name, (name.upper(),)):
            if f"{ENV_PREFIX}{env_name}" in env:
                values[name] = _coerce(name, env[f"{ENV_PREFIX}{env_name}"])
                break
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    if path is not None:
        values["config_path"] = path
    settings = replace(Settings(), **values)
    if settings.ant_capacity <= 0:
        raise ConfigError("ant_capacity must be positive")
    if settings.max_composite_parallel <= 0 or settings.max_composite_children <= 0:
        raise ConfigError("max_composite_parallel and max_composite_children must be positive")
    if settings.ant_keep_work_hours < 0:
        raise ConfigError("ant_keep_work_hours must not be negative")
    settings = replace(settings, ant_methods=tuple(m.upper() for m in settings.ant_methods),
                       tork_prefix=tork_prefix(settings.tork_prefix))
    try:
        parse_image_map(settings.docker_image_map)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    settings = replace(settings, sandbox=settings.sandbox.strip().lower())
    if settings.sandbox not in SANDBOX_MODES:
        raise ConfigError(f"sandbox must be one of {', '.join(SANDBOX_MODES)}, not {settings.sandbox!r}")
    check_work_dir(settings)
    if settings.artifacts_url:
        from myrmica.artifacts import open_artifact_store

        try:
            open_artifact_store(settings.artifacts_url)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    unknown = [m for m in settings.ant_methods if m not in Settings.ant_methods]
    if unknown or not settings.ant_methods:
        raise ConfigError(f"ant_methods: the embedded worker cannot run {', '.join(unknown) or 'nothing'} "
                          f"(it runs {', '.join(Settings.ant_methods)})")
    return settings


def check_work_dir(settings: Settings) -> None:
    """The work directory and the data directory must not hold one another: tasks would reach the
    server's files, or the janitor would sweep them."""
    work, data = settings.effective_work_dir, settings.data_dir
    if _inside(work, data):
        raise ConfigError(f"work_dir {work} is inside the data directory {data}: tasks could read the "
                          "server's files; choose a directory outside it")
    if _inside(data, work):
        raise ConfigError(f"the data directory {data} is inside work_dir {work}; choose a directory outside it")


def hidden_paths(settings: Settings) -> tuple[str, ...]:
    """What sandboxed tasks must not see: the data directory, the CLI's credentials, the config file, the
    SQLite database (wherever it is) and the Docker engine's socket, plus ``sandbox_hide``."""
    paths = [str(settings.data_dir), str(credentials_path())]
    if settings.config_path is not None:
        paths.append(str(settings.config_path))
    url = settings.effective_database_url
    if url.startswith("sqlite:///"):
        database = url[len("sqlite:///"):].split("?")[0]
        paths += [database + suffix for suffix in ("", "-wal", "-shm", "-journal")]
    if settings.docker_host.startswith("unix://"):
        paths.append(settings.docker_host[len("unix://"):])
    return (*paths, *settings.sandbox_hide)


def sandbox_settings(settings: Settings) -> SandboxSettings:
    return SandboxSettings(mode=settings.sandbox, network=settings.sandbox_network, hide=hidden_paths(settings))
def tork_prefix(value: str) -> str:
    """The Tork dialect's mount point as a route prefix: "/tork", or "" for the root ("/")."""
    text = value.strip()
    if not text.startswith("/") or any(c.isspace() or c in "?#{}" for c in text) or "//" in text:
        raise ConfigError(f"tork_prefix {value!r}: a path such as /tork, or / for the root")
    text = text.rstrip("/")
    if text == "/api" or text.startswith("/api/"):
        raise ConfigError(f"tork_prefix {value!r}: /api is the native API's")
    return text


def http_guard(settings: Settings) -> EgressGuard:
    return EgressGuard.of(settings.http_allow_private, settings.http_allowed_hosts)


def docker_options(settings: Settings) -> DockerOptions:
    return DockerOptions.from_settings(settings.docker_host, settings.docker_image_map, settings.docker_bind_allowed)


def artifacts_url(settings: Settings) -> str:
    """The artifact store's URL, the default (``<data dir>/artifacts``) written out for an ant process."""
    return settings.artifacts_url or (settings.data_dir / "artifacts").resolve().as_uri()
