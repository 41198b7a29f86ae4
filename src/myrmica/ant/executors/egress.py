"""The SSRF guard of HTTP tasks: each request (redirects included) is checked before it is sent.

The rules are domain/egress.py's. A host name is resolved here and refused when any of its addresses
is; the connection then resolves it again, so a name that changes its answer between the two lookups
(DNS rebinding) could still slip through — the guard is a fence, not a sandbox.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

import httpx

from myrmica.domain.egress import address_refusal, host_allowed, literal, name_refusal


class EgressRefused(httpx.RequestError):
    """A request to a target the guard refuses (never sent)."""


@dataclass(frozen=True)
class EgressGuard:
    allow_private: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, allow_private: bool, allowed_hosts: tuple[str, ...] | list[str] = ()) -> EgressGuard:
        return cls(allow_private, frozenset(h.strip().lower() for h in allowed_hosts if h.strip()))

    def to_config(self) -> dict[str, object]:
        return {"allow_private": self.allow_private, "allowed_hosts": sorted(self.allowed_hosts)}

    async def refusal(self, url: httpx.URL) -> str | None:
        """Why ``url`` may not be requested (None: it may)."""
        if self.allow_private:
            return None
        host = url.host
        if not host:
            return "the URL has no host"
        if host_allowed(host, url.port, self.allowed_hosts):
            return None
        reason = name_refusal(host)
        if reason is not None:
            return f"{host} is {reason}"
        if literal(host) is not None:
            return None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, url.port or 443, type=socket.SOCK_STREAM)
        except OSError:
            return None  # the connection will fail and say why
        for info in infos:
            address = literal(str(info[4][0]))
            reason = address_refusal(address) if address is not None else None
            if reason is not None:
                return f"{host} resolves to {address}, {reason}"
        return None

    async def check(self, request: httpx.Request) -> None:
        """An httpx request hook: raise :class:`EgressRefused` for a refused target."""
        reason = await self.refusal(request.url)
        if reason is not None:
            raise EgressRefused(f"refused to call {reason} (the http_allow_private setting permits it)",
                                request=request)
