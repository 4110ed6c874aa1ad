"""Cursor pagination for lists sorted newest first: a page ends at a (time, id) pair, and
the next page starts strictly after it. The cursor is opaque to clients (base64 of the
pair) and stable when records are added meanwhile, unlike an offset."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.clock import as_utc
from common.errors import ValidationFailed


@dataclass(frozen=True)
class Cursor:
    at: datetime
    record_id: str

    def encode(self) -> str:
        raw = f"{as_utc(self.at).isoformat()}|{self.record_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, field: str = "cursor") -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at, _, record_id = raw.partition("|")
            return cls(as_utc(datetime.fromisoformat(at)), record_id)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValidationFailed("not a cursor this service gave out", field=field) from None

    def older_than(self, time_field: str) -> dict[str, Any]:
        """The query condition for records after this cursor, newest first."""
        return {"$or": [{time_field: {"$lt": self.at}},
                        {time_field: self.at, "_id": {"$lt": self.record_id}}]}
