"""The one injected source of time.

Every service takes a ``Clock`` instead of calling ``datetime.now()``, so tests
move time forward explicitly and nothing ever sleeps to wait for it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# Days and months in the business rules are Asia/Shanghai calendar days.
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FrozenClock needs timezone-aware instants")
        self._now = instant.astimezone(UTC)


def local_date(instant: datetime) -> date:
    """The Asia/Shanghai calendar day an instant falls on."""
    return instant.astimezone(SHANGHAI).date()


def as_utc(instant: datetime) -> datetime:
    """Normalise a datetime read back from the database to aware UTC."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)
