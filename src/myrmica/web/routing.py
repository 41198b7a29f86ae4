"""The dashboard's routes answer in HTML: a failure becomes a page (or, for htmx, a redirect to login)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from myrmica.api.body import read_body
from myrmica.api.errors import ApiError
from myrmica.domain.documents import check_value
from myrmica.domain.errors import DomainError, ValidationError
from myrmica.web.render import page
from myrmica.web.session import CSRF_FIELD, CsrfRefused, LoginRequired, Viewer, check_csrf, login_path, viewer

MAX_FORM_FIELDS = 200


class WebRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = login_path(request)
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": target})
                return RedirectResponse(target, status_code=303)
            except CsrfRefused:
                return error_page(request, 403, "Refused", "This form is out of date or came from another site. "
                                                           "Reload the page and try again.")
            except ApiError as exc:
                return error_page(request, exc.status, _heading(exc.status), exc.message)
            except DomainError as exc:
                return error_page(request, exc.status, _heading(exc.status), exc.message)

        return answer


def _heading(status: int) -> str:
    return {401: "Sign in needed", 403: "Not allowed", 404: "Not found", 409: "Not now",
            413: "Too large", 503: "Unavailable"}.get(status, "Refused")


def error_page(request: Request, status: int, heading: str, message: str) -> Response:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    return page(request, "error.html", viewer, status=status, title=heading, heading=heading, message=message,
                back=request.headers.get("referer") if _same_site(request) else None)


def _same_site(request: Request) -> bool:
    referer = request.headers.get("referer", "")
    return referer.startswith(f"{request.url.scheme}://{request.url.netloc}/")


async def who(request: Request) -> Viewer:
    """The signed-in viewer (kept on the request, so that an error page still shows the menu)."""
    found = await viewer(request)
    request.state.viewer = found
    return found


def router(**kwargs: Any) -> APIRouter:
    return APIRouter(route_class=WebRoute, include_in_schema=False, **kwargs)


async def read_form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (within the server's body limit), CSRF-checked."""
    raw = await read_body(request)
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS,
                          strict_parsing=False)
        check_value(fields)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "the form is not valid") from exc
    except ValidationError as exc:
        raise ApiError(400, exc.message, field=exc.field) from exc
    check_csrf(request, (fields.get(CSRF_FIELD) or [""])[0])
    return fields


def one(fields: dict[str, list[str]], name: str, default: str = "") -> str:
    values = fields.get(name)
    return values[0] if values else default
