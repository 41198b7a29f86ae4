"""Rendering pages: the Jinja2 templates shipped in the package, their filters and the pages' headers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.templating import Jinja2Templates

from myrmica import __version__
from myrmica.web.session import CSRF_FIELD, Viewer, csrf_token, keep_csrf

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))

# Scripts only from this server and no inline script; htmx is told not to eval (see base.html).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
REQUEST_STATES = ("PENDING", "READY", "EXECUTING", "PAUSED", "MANUAL_APPROVAL_REQUIRED", "BLOCKED",
                  "COMPLETED", "FAILED", "CANCELLED")


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def when(value: str | None) -> str:
    """``2026-12-03 07:35:02 UTC`` (or an empty string)."""
    moment = _moment(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def clock(value: str | None) -> str:
    """``07:35:02`` (UTC), for tables; the full moment is in the ``<time>`` element's title."""
    moment = _moment(value)
    return moment.astimezone(UTC).strftime("%H:%M:%S") if moment else ""


def seconds_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def took(start: str | None, end: str | None) -> str:
    """How long from ``start`` to ``end``."""
    began = _moment(start)
    if began is None:
        return ""
    ended = _moment(end)
    if ended is None:
        return ""  # still running (the live views show no ticking clock: it would redraw them every poll)
    return seconds_text(max(0.0, (ended - began).total_seconds()))


def size(value: int | None) -> str:
    """``812 B``, ``4.1 KiB``, ``2.0 MiB``."""
    if value is None:
        return ""
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"  # (not reached)


def state_class(state: str | None) -> str:
    return "state-" + (state or "none").lower().replace("_", "-")


def inline_svg(svg: str, label: str) -> Markup:
    """Graphviz's SVG made an accessible image (its text is Graphviz's own escaping of our DOT)."""
    safe_label = str(Markup.escape(label))
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{safe_label}" focusable="false" ', 1)
    return Markup(svg)  # noqa: S704 - Graphviz output of a DOT text we generate, escaped by Graphviz


TEMPLATES.env.filters.update(when=when, clock=clock, took=took, state_class=state_class, size=size)
TEMPLATES.env.globals.update(version=__version__, csrf_field=CSRF_FIELD, request_states=REQUEST_STATES,
                             terminal=TERMINAL, inline_svg=inline_svg)


def page(request: Request, name: str, viewer: Viewer | None, *, status: int = 200, title: str = "",
         **context: Any) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, name, {
        "viewer": viewer, "csrf": csrf_token(request), "title": title, "path": request.url.path, **context,
    }, status_code=status, headers=SECURITY_HEADERS)
    keep_csrf(request, response)
    return response


def fragment_html(request: Request, name: str, **context: Any) -> tuple[Markup, str]:
    """A live piece of a page and its digest (the digest is also written into the piece, for htmx to send)."""
    html = TEMPLATES.get_template(name).render({"request": request, "csrf": csrf_token(request), **context,
                                                "digest": _DIGEST_SLOT})
    digest = hashlib.sha256(html.encode()).hexdigest()[:16]
    return Markup(html.replace(_DIGEST_SLOT, digest)), digest  # noqa: S704 - rendered by our autoescaping templates


def fragment(request: Request, name: str, *, seen: str | None = None, **context: Any) -> Response:
    """A piece of a page that htmx polls. When it is what the browser already shows (``seen``, the
    digest it was sent with), the answer is 204 and htmx leaves the page alone: no flicker, and
    keyboard focus stays where it was."""
    html, digest = fragment_html(request, name, **context)
    if seen == digest:
        return Response(status_code=204, headers=SECURITY_HEADERS)
    return HTMLResponse(str(html), headers=SECURITY_HEADERS)


_DIGEST_SLOT = "@@digest@@"
