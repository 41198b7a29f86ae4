"""Artifact stores: where task artifacts, caches and uploads keep their bytes (metadata is in the database).

``store.ArtifactStore`` is the protocol; ``filesystem.FilesystemStore`` (the embedded default, under the
data directory) and ``s3.S3Store`` (any S3-compatible service) implement it; ``open_artifact_store``
picks one from a URL.
"""

from myrmica.artifacts.factory import open_artifact_store
from myrmica.artifacts.store import ArtifactMissing, ArtifactStore, BadKey, StoredObject

__all__ = ["ArtifactMissing", "ArtifactStore", "BadKey", "StoredObject", "open_artifact_store"]
