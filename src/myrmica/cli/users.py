"""``myrmica users …``: users' passwords (for the dashboard's sign-in form and Tork's basic auth)."""

from __future__ import annotations

import sys
from typing import Annotated
from urllib.parse import quote

import typer

from myrmica.cli.output import console, print_json
from myrmica.cli.state import client_of, json_wanted

app = typer.Typer(help="Users' passwords.", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    password: str = typer.prompt("New password", hide_input=True, confirmation_prompt="Again")
    return password


@app.command("set-password")
def set_password(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="A username or user id; `me` (the default) is the token's own user. "
                                             "Only the admin may set another user's.")] = "me",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line "
                                                 "of standard input (the default when it is not a terminal).")]
    = False,
) -> None:
    """Set a user's password (at least 8 characters; asked twice, never echoed). The user can then sign in
    to the dashboard with it; their open dashboard sessions end."""
    password = _read_password(password_stdin)
    if not password:
        raise typer.BadParameter("the password is empty", param_hint="password")
    body = client_of(ctx).json("PUT", f"/api/users/{quote(user, safe='')}/password", json={"password": password})
    if json_wanted(ctx):
        print_json(body)
        return
    console.print(f"set the password of [bold]{body['username']}[/bold] ({body['id']})", highlight=False)
