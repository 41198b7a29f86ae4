"""Which network targets an HTTP task may reach (the SSRF guard's rules; pure, no DNS).

By default a task may not reach the server's own machine or its private networks: loopback
(127.0.0.0/8, ::1), private ranges (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 —
cloud metadata services — and fe80::/10), carrier-grade NAT (100.64/10), unspecified, multicast and
reserved addresses, and the names ``localhost`` and ``metadata.google.internal``. A hostname is judged
by every address it resolves to (ant/executors/egress.py). The ``http_allow_private`` setting lifts the
rule; ``http_allowed_hosts`` lifts it for named hosts (``host`` or ``host:port``, e.g. a test's server).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

BLOCKED_NAMES = frozenset({"localhost", "localhost.localdomain", "metadata.google.internal", "metadata"})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_refusal(address: Address) -> str | None:
    """Why ``address`` may not be reached (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a carrier-grade NAT address"
    if address.is_private:
        return "a private address"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "a reserved address"
    return None


def literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def name_refusal(host: str) -> str | None:
    """Why the host name itself may not be reached (before any lookup)."""
    name = host.strip().rstrip(".").lower()
    if name in BLOCKED_NAMES or name.endswith(".localhost"):
        return "a local host name"
    address = literal(name)
    return address_refusal(address) if address is not None else None


def host_allowed(host: str, port: int | None, allowed: Collection[str]) -> bool:
    """Whether ``host`` (at ``port``) is on the allow-list (entries ``host`` or ``host:port``)."""
    if not allowed:
        return False
    name = host.strip("[]").rstrip(".").lower()
    return name in allowed or (port is not None and f"{name}:{port}" in allowed)
