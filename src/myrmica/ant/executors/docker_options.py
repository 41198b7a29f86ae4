"""The DOCKER settings of an ant, and whether its engine answers (no Docker client imported here)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class DockerOptions:
    """The ant's DOCKER settings (see README "Containers (DOCKER)")."""

    host: str = DEFAULT_DOCKER_HOST
    image_map: Mapping[str, str] = field(default_factory=dict)  # image (or repository, or "*") → image
    bind_allowed: tuple[str, ...] = ()  # host directories a task may bind-mount (and what is under them)

    @classmethod
    def from_settings(cls, host: str, image_map: tuple[str, ...], bind_allowed: tuple[str, ...]) -> DockerOptions:
        return cls(host or DEFAULT_DOCKER_HOST, parse_image_map(image_map), tuple(bind_allowed))


def parse_image_map(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``("alpine=myrmica-test/busybox:latest", …)`` → a mapping; raises ValueError naming a bad item."""
    mapping: dict[str, str] = {}
    for item in items:
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"docker_image_map: {item!r} is not IMAGE=LOCAL_IMAGE")
        mapping[source.strip()] = target.strip()
    return mapping


def map_image(image: str, mapping: Mapping[str, str]) -> str:
    """The image to run for ``image``: an exact entry, else its repository's (no tag), else ``*``'s."""
    if image in mapping:
        return mapping[image]
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    for name in (repository, repository.removeprefix("docker.io/").removeprefix("library/"), "*"):
        if name in mapping:
            return mapping[name]
    return image


def engine_answers(host: str, timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers ``GET /_ping`` at ``host`` (unix:// or tcp://)."""
    url = urlparse(host)
    try:
        if url.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(timeout)
            sock.connect(url.path)
        elif url.scheme in ("tcp", "http"):
            sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 2375), timeout=timeout)
        else:
            return False
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(4096)
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]
