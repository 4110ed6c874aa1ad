"""Who is calling. The identity issue fills in how principals are established."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PrincipalKind(StrEnum):
    PERSON = "person"  # a citizen, a family member, an agent: someone with a token
    SERVICE = "service"  # an institution or data feed with a service key


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    subject: str  # account id or service-key id
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    region_code: str | None = None

    @property
    def actor_id(self) -> str:
        """The key under which this caller's idempotency records and audits are kept."""
        return f"{self.kind.value}:{self.subject}"
