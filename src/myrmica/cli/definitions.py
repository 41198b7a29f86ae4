"""``myrmica definitions …``: manage job definitions on a server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from myrmica.cli.client import ApiClient
from myrmica.cli.output import console, print_json, print_table
from myrmica.cli.state import client_of, json_wanted

app = typer.Typer(help="Upload, list, inspect and switch job definitions.", no_args_is_help=True)


@app.command("apply")
def apply(ctx: typer.Context,
          files: Annotated[list[Path], typer.Argument(help="YAML or JSON job definition files.", exists=True,
                                                      dir_okay=False, readable=True)]) -> None:
    """Upload definitions; a changed file makes a new version, an unchanged one changes nothing."""
    client = client_of(ctx)
    results = []
    for path in files:
        content_type = "application/json" if path.suffix == ".json" else "application/yaml"
        response = client.request("POST", "/api/jobs/definitions", content=path.read_bytes(),
                                  headers={"Content-Type": content_type})
        body = response.json()
        results.append(body)
        if not json_wanted(ctx):
            verb = "created version" if response.status_code == 201 else "unchanged at version"
            console.print(f"{path}: [bold]{body['job_type']}[/bold] {verb} {body['version']} ({body['id']})")
            for warning in body.get("warnings") or []:
                console.print(f"  [yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    if json_wanted(ctx):
        print_json(results)


@app.command("list")
def list_(ctx: typer.Context,
          job_type: Annotated[str | None, typer.Option(help="Only this job type.")] = None,
          tags: Annotated[str | None, typer.Option(help="Comma-separated tags every result has.")] = None,
          page: int = 0, page_size: int = 100) -> None:
    """List the active definitions you can see."""
    params: dict[str, str | int] = {"page": page, "page_size": page_size}
    if job_type:
        params["job_type"] = job_type
    if tags:
        params["tags"] = tags
    body = client_of(ctx).json("GET", "/api/jobs/definitions", params=params)
    if json_wanted(ctx):
        print_json(body)
        return
    rows = [(d["job_type"], d["version"], d["methods"], d["tags"], "yes" if d["disabled"] else "",
             d["max_concurrency"], d["cron_trigger"], d["id"]) for d in body["Records"]]
    print_table(f"Job definitions ({body['TotalRecords']})",
                ["job type", "version", "methods", "tags", "disabled", "concurrency", "cron", "id"], rows)


@app.command("show")
def show(ctx: typer.Context, job_type: Annotated[str, typer.Argument(help="Job type or definition id.")],
         yaml: Annotated[bool, typer.Option("--yaml", help="Print the stored source text.")] = False) -> None:
    """Show one definition and its tasks."""
    client: ApiClient = client_of(ctx)
    if yaml:
        print(client.request("GET", f"/api/jobs/definitions/{job_type}/yaml").text)
        return
    body = client.json("GET", f"/api/jobs/definitions/{job_type}")
    if json_wanted(ctx):
        print_json(body)
        return
    console.print(f"[bold]{body['job_type']}[/bold] version {body['version']}  id {body['id']}"
                  f"{'  [red]disabled[/red]' if body['disabled'] else ''}")
    if body.get("description"):
        console.print(body["description"])
    rows = [(t["task_type"], t["method"], ", ".join(f"{k}→{v}" for k, v in t["on_exit_code"].items()),
             ",".join(t["tags"]), t["retry"]) for t in body["tasks"]]
    print_table("Tasks", ["task", "method", "next", "tags", "retry"], rows)


def _simple(ctx: typer.Context, method: str, path: str, done: str) -> None:
    body = client_of(ctx).json(method, path)
    if json_wanted(ctx):
        print_json(body)
    else:
        console.print(done)


@app.command("delete")
def delete(ctx: typer.Context, job_type: Annotated[str, typer.Argument(help="Job type or id.")]) -> None:
    """Delete a definition (every version leaves the active set)."""
    _simple(ctx, "DELETE", f"/api/jobs/definitions/{job_type}", f"deleted {job_type}")


@app.command("disable")
def disable(ctx: typer.Context, job_type: Annotated[str, typer.Argument(help="Job type or id.")]) -> None:
    """Stop new requests (and cron) for a definition."""
    _simple(ctx, "POST", f"/api/jobs/definitions/{job_type}/disable", f"disabled {job_type}")


@app.command("enable")
def enable(ctx: typer.Context, job_type: Annotated[str, typer.Argument(help="Job type or id.")]) -> None:
    """Allow requests for a disabled definition again."""
    _simple(ctx, "POST", f"/api/jobs/definitions/{job_type}/enable", f"enabled {job_type}")
