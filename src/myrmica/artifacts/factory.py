"""An artifact store from a URL: empty (``<data dir>/artifacts``), ``file:///path`` or
``s3://bucket/prefix?endpoint_url=http://host:port&region=eu-west-1&create_bucket=true``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from myrmica.artifacts.filesystem import FilesystemStore
from myrmica.artifacts.s3 import S3Store
from myrmica.artifacts.store import ArtifactStore

S3_OPTIONS = {"endpoint_url", "region", "create_bucket"}


def open_artifact_store(url: str, data_dir: Path | None = None) -> ArtifactStore:
    """Raises ``ValueError`` naming what is wrong with ``url``."""
    if not url:
        if data_dir is None:
            raise ValueError("an artifact store needs a URL or a data directory")
        return FilesystemStore(Path(data_dir) / "artifacts")
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"artifacts URL {url!r}: a file URL names an absolute path (file:///path)")
        return FilesystemStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"artifacts URL {url!r}: an s3 URL names its bucket (s3://bucket/prefix)")
        if parts.username or parts.password:
            raise ValueError("artifacts URL: give S3 credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                             "or a profile, not in the URL")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - S3_OPTIONS)
        if unknown:
            raise ValueError(f"artifacts URL: unknown option(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(S3_OPTIONS))})")
        return S3Store(parts.netloc, unquote(parts.path), endpoint_url=query.get("endpoint_url"),
                       region=query.get("region"),
                       create_bucket=query.get("create_bucket", "").lower() in ("1", "true", "yes"))
    raise ValueError(f"artifacts URL {url!r}: the scheme must be file or s3")
