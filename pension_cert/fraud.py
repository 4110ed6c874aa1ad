"""The one-to-many fraud check: is the live face closer to another pensioner's reference
than to the person's own? Searched in the league's index (``face_index``)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np

from pension_cert.context import CertContext

log = logging.getLogger(__name__)
WIDTH = 128


async def fraud_suspicion(person_id: str, live: np.ndarray, *, ctx: CertContext
                          ) -> dict[str, Any] | None:
    """Flag when the live face is closer to another pensioner's reference than to the
    person's own, and within the stricter one-to-many threshold."""
    person = await ctx.people.get(person_id)
    if person is None:
        return None
    index = await ctx.indexes.current(person.region_code[:4], ctx=ctx)
    # 1,000,000 templates take tens of milliseconds: in a thread, off the event loop.
    own, nearest = await asyncio.to_thread(index.search, person_id, live)
    if nearest is None or own is None:
        return None
    other_id, distance = nearest
    if distance < own and distance <= ctx.config.one_to_many_threshold:
        return {"kind": "face_matches_other", "other_person_id": other_id}
    return None
