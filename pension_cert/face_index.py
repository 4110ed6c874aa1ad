"""The league indexes behind the one-to-many check: one float32 matrix per league (the
first four digits of a region code), with each row's squared norm.

A search is one matrix-vector product: |r - q|^2 = |r|^2 - 2 r.q + |q|^2, then
``argpartition`` for the two nearest (no full sort, no second pass over the matrix).
A league's index is built once (the first check there waits for it); afterwards each
enrolment, consent or withdrawal is applied to the rows it touches, in the background,
while the index as it was keeps serving: a check never waits for an update.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from pension_cert.templates import TemplateUnreadable, unseal

if TYPE_CHECKING:  # the context holds the indexes
    from pension_cert.context import CertContext

log = logging.getLogger(__name__)
WIDTH = 128
CATCH_UP_WAIT = 0.25  # seconds a check waits for an update in flight, at most


class RegionIndex:
    """A league's templates as rows of one float32 matrix, with their squared norms."""

    def __init__(self, ids: list[str], matrix: np.ndarray, token: str = "",
                 last_change: str = "") -> None:
        self.token, self.last_change = token, last_change
        self._ids = list(ids)
        self._rows = {person_id: row for row, person_id in enumerate(self._ids)}
        self._matrix = np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1, WIDTH)
        self._norms = np.einsum("ij,ij->i", self._matrix, self._matrix)

    def __len__(self) -> int:
        return len(self._ids)

    def search(self, person_id: str, live: np.ndarray) -> tuple[float | None,
                                                                tuple[str, float] | None]:
        """(distance to the person's own reference, (nearest other person, distance))."""
        if not self._ids:
            return None, None
        query = np.asarray(live, dtype=np.float32)
        squared = self._norms - 2.0 * (self._matrix @ query) + float(query @ query)
        row = self._rows.get(person_id)
        own = float(np.sqrt(max(squared[row], 0.0))) if row is not None else None
        k = min(2, len(squared) - 1)
        nearest = np.argpartition(squared, k)[:k + 1] if len(squared) > 1 else np.array([0])
        for i in sorted(nearest, key=lambda i: squared[i]):
            if self._ids[i] != person_id:
                return own, (self._ids[i], float(np.sqrt(max(squared[i], 0.0))))
        return own, None

    def apply(self, present: dict[str, np.ndarray], gone: set[str]) -> RegionIndex:
        """A new index with ``present`` rows added or replaced and ``gone`` removed (the
        old one keeps serving until the new one is swapped in)."""
        keep = [i for i, person_id in enumerate(self._ids)
                if person_id not in gone and person_id not in present]
        ids = [self._ids[i] for i in keep] + list(present)
        rows = [self._matrix[keep]] + ([np.stack(list(present.values()))] if present else [])
        return RegionIndex(ids, np.concatenate(rows) if rows else np.empty((0, WIDTH)),
                           self.token, self.last_change)


@dataclass
class RegionIndexes:
    """This process's indexes, one per league."""

    indexes: dict[str, RegionIndex] = field(default_factory=dict)
    updating: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def current(self, league: str, *, ctx: CertContext) -> RegionIndex:
        token = await ctx.repo.region_token(league)
        index = self.indexes.get(league)
        if index is None:
            index = await build(league, token, ctx=ctx)
            self.indexes[league] = index
        elif index.token != token:
            task = self.updating.get(league)
            if task is None:
                task = asyncio.create_task(self._catch_up(league, token, ctx=ctx))
                self.updating[league] = task
            # A few changed rows are applied in milliseconds: use them if they come in
            # time; otherwise the index as it was answers, and the update lands later.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout=CATCH_UP_WAIT)
            index = self.indexes[league]
        return index

    async def _catch_up(self, league: str, token: str, *, ctx: CertContext) -> None:
        try:
            self.indexes[league] = await caught_up(self.indexes[league], league, token,
                                                   ctx=ctx)
        except Exception:  # the old index keeps serving; the next check tries again
            log.exception("fraud index of league %s not updated", league)
        finally:
            self.updating.pop(league, None)

    async def settle(self) -> None:
        """Wait for the updates in flight (tests and shutdown)."""
        while self.updating:
            await asyncio.gather(*list(self.updating.values()), return_exceptions=True)


async def build(league: str, token: str, *, ctx: CertContext) -> RegionIndex:
    """A league's index from scratch: every consented template, opened in a thread."""
    last = await ctx.repo.last_change(league)  # before reading: a later change re-applies
    sealed = await ctx.repo.region_templates(league)
    opened = await asyncio.to_thread(_open_all, sealed, ctx.template_key)
    return RegionIndex(list(opened), np.stack(list(opened.values())) if opened
                       else np.empty((0, WIDTH)), token, last)


async def caught_up(index: RegionIndex, league: str, token: str, *,
                    ctx: CertContext) -> RegionIndex:
    """The index with the league's changes since it was made applied to their rows."""
    changes = await ctx.repo.changes_since(league, index.last_change)
    touched = sorted({person_id for _, person_id in changes})
    sealed = [(person_id, await ctx.repo.usable_template(person_id)) for person_id in touched]
    opened = await asyncio.to_thread(
        _open_all, [(p, blob) for p, blob in sealed if blob is not None], ctx.template_key)
    updated = index.apply(opened, set(touched) - set(opened))
    updated.token = token
    updated.last_change = changes[-1][0] if changes else index.last_change
    return updated


def _open_all(sealed: list[tuple[str, bytes]], template_key: bytes) -> dict[str, np.ndarray]:
    opened = {}
    for person_id, blob in sealed:
        try:
            opened[person_id] = unseal(blob, key=template_key, person_id=person_id)
        except TemplateUnreadable:
            continue
    return opened
