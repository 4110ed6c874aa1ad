"""The one-to-many fraud check: is the live face closer to another pensioner's reference
than to the person's own? Each process keeps one float32 matrix per region."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from pension_cert.context import CertContext
from pension_cert.templates import TemplateUnreadable, unseal


async def fraud_suspicion(person_id: str, live: np.ndarray, *, ctx: CertContext
                          ) -> dict[str, Any] | None:
    """Flag when the live face is closer to another pensioner's reference than to the
    person's own, and within the stricter one-to-many threshold."""
    person = await ctx.people.get(person_id)
    if person is None:
        return None
    index = await region_index(person.region_code[:4], ctx=ctx)
    # A region can hold hundreds of thousands of templates (1,000,000 take ~0.25 s):
    # search in a thread, where numpy runs without holding the event loop.
    own, nearest = await asyncio.to_thread(
        lambda: (index.distance_to(person_id, live), index.nearest_other(person_id, live)))
    if nearest is None or own is None:
        return None
    other_id, distance = nearest
    if distance < own and distance <= ctx.config.one_to_many_threshold:
        return {"kind": "face_matches_other", "other_person_id": other_id}
    return None


class RegionIndex:
    """One float32 matrix of a region's sealed templates, opened once per change."""

    def __init__(self, ids: list[str], matrix: np.ndarray, token: str) -> None:
        self.ids = ids
        self.matrix = matrix
        self.token = token

    def distances(self, live: np.ndarray) -> np.ndarray:
        if not self.ids:
            return np.empty(0, dtype=np.float32)
        return np.linalg.norm(self.matrix - live.astype(np.float32), axis=1)

    def distance_to(self, person_id: str, live: np.ndarray) -> float | None:
        if person_id not in self.ids:
            return None
        return float(self.distances(live)[self.ids.index(person_id)])

    def nearest_other(self, person_id: str, live: np.ndarray) -> tuple[str, float] | None:
        distances = self.distances(live)
        best: tuple[str, float] | None = None
        for i in np.argsort(distances)[:2]:
            if self.ids[i] != person_id:
                best = (self.ids[i], float(distances[i]))
                break
        return best


_INDEXES: dict[tuple[int, str], RegionIndex] = {}


async def region_index(region_prefix: str, *, ctx: CertContext) -> RegionIndex:
    token = await ctx.repo.change_token()
    key = (id(ctx.repo), region_prefix)
    cached = _INDEXES.get(key)
    if cached is not None and cached.token == token:
        return cached
    templates = await ctx.repo.region_templates(region_prefix)
    consented = await ctx.repo.consented([person_id for person_id, _ in templates])
    # Templates imported before consent are kept, but not used.
    sealed = [(person_id, blob) for person_id, blob in templates if person_id in consented]
    _INDEXES[key] = await asyncio.to_thread(_open_index, sealed, ctx.template_key, token)
    return _INDEXES[key]


def _open_index(sealed: list[tuple[str, bytes]], template_key: bytes, token: str) -> RegionIndex:
    """Decrypt a region's templates into one matrix (in a thread: it is CPU work)."""
    ids, rows = [], []
    for person_id, blob in sealed:
        try:
            rows.append(unseal(blob, key=template_key, person_id=person_id))
        except TemplateUnreadable:
            continue
        ids.append(person_id)
    matrix = np.asarray(rows, dtype=np.float32).reshape(len(rows), 128)
    return RegionIndex(ids, matrix, token)
