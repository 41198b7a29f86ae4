"""Who is asking: the authenticated user, their organisation and roles, and what they own."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    organization_id: str | None = None
    admin: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] | None = None  # a scoped API key's scopes (Strait's jobs:read, …); None: any

    @property
    def owner_key(self) -> str:
        """Records belong to the organisation when there is one, else to the user (spec §4)."""
        return self.organization_id or self.user_id
