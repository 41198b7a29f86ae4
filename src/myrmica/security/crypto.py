"""Secret values at rest: AES-256-GCM with a key from the settings or the data directory."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from myrmica.security.private_files import private_dir

PREFIX = "_ENCRYPTED_"
MASK = "****"


class SecretBox:
    def __init__(self, key_material: str) -> None:
        self._aead = AESGCM(hashlib.sha256(key_material.encode()).digest())
        self._material = key_material.encode()

    def derived_key(self, purpose: str) -> bytes:
        """A key for ``purpose`` (e.g. signing run tokens) derived from the secret key: HMAC-SHA256 of the
        purpose, so no two uses share a key and the encryption key itself never leaves this object."""
        return hmac.new(self._material, f"myrmica:{purpose}".encode(), hashlib.sha256).digest()

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        blob = base64.b64decode(stored[len(PREFIX):])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], None).decode()
        except InvalidTag as exc:
            raise ValueError("a secret could not be decrypted: the server's secret key changed") from exc


def load_or_create_key(configured: str, data_dir: Path) -> str:
    if configured:
        return configured
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    private_dir(data_dir)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
