"""The ``myrmica`` command: the server, and a client for its API."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from myrmica import __version__
from myrmica.cli import definitions, requests, users
from myrmica.cli.ant import ant as ant_command
from myrmica.cli.client import ClientError
from myrmica.cli.output import err_console
from myrmica.cli.state import CliState
from myrmica.config import ConfigError, load_settings

app = typer.Typer(
    name="myrmica",
    help="Myrmica runs jobs: graphs of shell, HTTP and other tasks, scheduled, retried and recorded.\n\n"
         "Start a server with `myrmica server`; every other command talks to a server "
         "(URL and token from --url/--token, MYRMICA_URL/MYRMICA_TOKEN, or the credentials the server "
         "saved at its first start).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: …]" is text, not markup
)
app.add_typer(definitions.app, name="definitions")
app.command("submit")(requests.submit)
app.add_typer(requests.app, name="requests")
app.command("logs")(requests.logs)
app.command("ants")(requests.ants)
app.add_typer(users.app, name="users")


def _version(value: bool) -> None:
    if value:
        print(f"myrmica {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Server URL (env MYRMICA_URL).", envvar="MYRMICA_URL")] = None,
    token: Annotated[str | None, typer.Option(help="API token (env MYRMICA_TOKEN).", envvar="MYRMICA_TOKEN",
                                              show_default=False)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    ctx.obj = CliState(url=url, token=token, json=json_output)


@app.command()
def server(
    host: Annotated[str | None, typer.Option(help="Address to listen on. [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on. [default: 7777]")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where the database, secret key and admin token live (env MYRMICA_DATA_DIR). "
             "[default: the per-user data directory]")] = None,
    db: Annotated[str | None, typer.Option(
        help="Database URL, sqlite:///path or postgresql://user:pass@host/db (env MYRMICA_DATABASE_URL). "
             "[default: SQLite in the data directory]")] = None,
    broker: Annotated[str | None, typer.Option(
        help="Broker URL, redis://host:6379/0 (env MYRMICA_BROKER_URL). [default: in-process]")] = None,
    config: Annotated[Path | None, typer.Option(help="A YAML settings file (env MYRMICA_CONFIG).",
                                                exists=True, dir_okay=False)] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Open every route with no token. "
                                                            "For local experiments only.")] = False,
    no_embedded_ant: Annotated[bool, typer.Option("--no-embedded-ant",
                                                  help="Run no worker inside the server.")] = False,
    ant_methods: Annotated[str | None, typer.Option(
        help="Comma-separated methods the embedded worker runs (env MYRMICA_ANT_METHODS). "
             "[default: SHELL and every HTTP method]")] = None,
    ant_tags: Annotated[str | None, typer.Option(
        help="Comma-separated tags of the embedded worker; a task with tags runs only on a worker that has "
             "them all (env MYRMICA_ANT_TAGS). [default: none]")] = None,
    work_dir: Annotated[Path | None, typer.Option(
        help="Where the embedded worker's tasks get their working directories; never inside the data directory "
             "(env MYRMICA_WORK_DIR). [default: <user cache dir>/myrmica/work/<data dir name>-<hash>]")] = None,
    sandbox: Annotated[str | None, typer.Option(
        help="How SHELL tasks are confined: auto (bubblewrap when it works, else none with a warning), bwrap "
             "(refuse to start without it) or none (env MYRMICA_SANDBOX). [default: auto]")] = None,
    sandbox_network: Annotated[bool | None, typer.Option(
        "--sandbox-network/--no-sandbox-network",
        help="Whether sandboxed tasks reach the network (env MYRMICA_SANDBOX_NETWORK). [default: yes]")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning or error. [default: info]")] = None,
    tork_prefix: Annotated[str | None, typer.Option(
        help="Where the Tork dialect is mounted; / mounts it at the root, for Tork's own clients "
             "(env MYRMICA_TORK_PREFIX). [default: /tork]")] = None,
    artifacts: Annotated[str | None, typer.Option(
        help="The artifact store: s3://bucket/prefix?endpoint_url=… (credentials from the AWS_* variables or a "
             "profile) or file:///path (env MYRMICA_ARTIFACTS_URL). [default: <data dir>/artifacts]")] = None,
) -> None:
    """Start the server: the API, the scheduler and (unless told not to) an embedded worker."""
    try:
        settings = load_settings({
            "host": host, "port": port, "data_dir": data_dir, "database_url": db, "broker_url": broker,
            "auth_enabled": False if no_auth else None, "embedded_ant": False if no_embedded_ant else None,
            "log_level": log_level, "ant_methods": ant_methods, "ant_tags": ant_tags, "work_dir": work_dir,
            "sandbox": sandbox, "sandbox_network": sandbox_network, "tork_prefix": tork_prefix,
            "artifacts_url": artifacts,
        }, config_file=config)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    from myrmica.serve import serve

    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(settings)


app.command("ant")(ant_command)


def main() -> None:
    try:
        app()
    except ClientError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(1)


if __name__ == "__main__":
    main()
