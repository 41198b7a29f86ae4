"""``myrmica definitions …``: manage job definitions on a server."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from myrmica.cli.client import ApiClient, ClientError
from myrmica.cli.output import Id, Key, console, print_json, print_table
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
          page: Annotated[int, typer.Option(help="Page number, from 1.", min=1)] = 1,
          page_size: Annotated[int, typer.Option(help="Definitions per page.", min=1)] = 100) -> None:
    """List the active definitions you can see."""
    params: dict[str, str | int] = {"page": page - 1, "page_size": page_size}  # the API counts pages from 0
    if job_type:
        params["job_type"] = job_type
    if tags:
        params["tags"] = tags
    body = client_of(ctx).json("GET", "/api/jobs/definitions", params=params)
    if json_wanted(ctx):
        print_json(body)
        return
    records = body["Records"]
    disabled = any(d["disabled"] for d in records)  # a column only when it says something
    rows = [(d["job_type"], d["version"], _spaced(d["methods"]), _spaced(d["tags"]), d["cron_trigger"],
             *(["yes" if d["disabled"] else ""] if disabled else []), d["id"]) for d in records]
    print_table(f"Job definitions ({body['TotalRecords']})",
                [Key("job type"), "ver", "methods", "tags", "cron", *(["disabled"] if disabled else []), Id("id")],
                rows)


def _spaced(items: str | list[str] | None) -> str:
    """A comma-separated list with spaces, so that a narrow column wraps it between items."""
    parts = items.split(",") if isinstance(items, str) else items or []
    return ", ".join(part.strip() for part in parts if part.strip())


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
    facts = [f"at most {body['max_concurrency']} running at once" if body.get("max_concurrency") else "",
             f"cron {body['cron_trigger']}" if body.get("cron_trigger") else "",
             f"tags {_spaced(body.get('tags'))}" if body.get("tags") else ""]
    if any(facts):
        console.print(", ".join(f for f in facts if f), highlight=False, markup=False)
    rows = [(t["task_type"], t["method"], ", ".join(f"{k}→{v}" for k, v in t["on_exit_code"].items()),
             _spaced(t["tags"]), t["retry"]) for t in body["tasks"]]
    print_table("Tasks", [Key("task"), Key("method"), "next", "tags", "retry"], rows)


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


class GraphFormat(StrEnum):
    dot = "dot"
    svg = "svg"
    png = "png"


GRAPH_ROUTES = {GraphFormat.dot: "dot", GraphFormat.svg: "dot.svg", GraphFormat.png: "dot.png"}
GRAPH_SUFFIXES = {".dot": GraphFormat.dot, ".gv": GraphFormat.dot, ".svg": GraphFormat.svg, ".png": GraphFormat.png}
GRAPH_MAGIC = {GraphFormat.png: b"\x89PNG", GraphFormat.svg: b"<"}


@app.command("graph")
def graph(ctx: typer.Context, job_type: Annotated[str, typer.Argument(help="Job type or definition id.")],
          output: Annotated[Path | None, typer.Option(
              "-o", "--output", help="Write the graph to this file (its suffix .png, .svg or .dot picks the "
                                     "format unless --format says).", dir_okay=False)] = None,
          fmt: Annotated[GraphFormat | None, typer.Option(
              "--format", help="dot (the text, to stdout unless -o), or svg/png drawn by the server with "
                               "Graphviz. [default: from the -o suffix, else dot]")] = None) -> None:
    """Draw a definition's task graph. An error (Graphviz missing on the server, an unknown job type)
    is printed and exits 1; no file is written then."""
    chosen = fmt or (GRAPH_SUFFIXES.get(output.suffix.lower(), GraphFormat.png) if output else GraphFormat.dot)
    if output is None and chosen is not GraphFormat.dot and sys.stdout.isatty():
        raise typer.BadParameter(f"a {chosen.value.upper()} goes to a file: add -o FILE", param_hint="--output")
    data = client_of(ctx).request("GET", f"/api/jobs/definitions/{job_type}/{GRAPH_ROUTES[chosen]}").content
    magic = GRAPH_MAGIC.get(chosen)
    if magic is not None and not data.lstrip().startswith(magic):
        raise ClientError(0, f"the server answered something that is not {chosen.value.upper()}: {data[:80]!r}")
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    output.write_bytes(data)
    if json_wanted(ctx):
        print_json({"file": str(output), "format": chosen.value, "bytes": len(data)})
    else:
        console.print(f"wrote {output} ({chosen.value}, {len(data)} bytes)", highlight=False)
