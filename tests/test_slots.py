"""The append-only lists behind the filing search (common/slots.py), on the embedded
database: concurrent appends never share a slot, and a day walk returns every item newest
first from any position, skipping empty months and years."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common.slots import DayIndex, SlotLists


async def test_concurrent_appends_take_distinct_contiguous_slots(deps):
    lists = SlotLists(deps.db["test_slots"])
    key = "k" + secrets.token_hex(4)
    positions = await asyncio.gather(*[lists.append(key, {"n": n}) for n in range(12)])
    assert sorted(positions) == list(range(12))
    assert await lists.length(key) == 12
    assert sorted(item["n"] for item in await lists.items(key)) == list(range(12))


async def test_a_day_walk_returns_items_newest_first_from_any_position(deps):
    index = DayIndex(SlotLists(deps.db["test_slots"]))
    key_a, key_b = "a" + secrets.token_hex(4), "b" + secrets.token_hex(4)
    start = datetime(2025, 3, 30, 23, 0, tzinfo=UTC)
    # 40 items, several per day, across a month end and a gap of ten months
    times = [start + timedelta(hours=7 * n) for n in range(20)] + [
        start + timedelta(days=300, minutes=n) for n in range(20)]
    items: list[dict[str, Any]] = [{"at": at, "id": f"{n:03d}"} for n, at in enumerate(times)]
    for n, item in enumerate(items):
        await index.add(key_a if n % 3 else key_b, item["at"].date(), item)
    newest = date(2026, 11, 25)
    expected = [i["id"] for i in sorted(items, key=lambda i: (i["at"], i["id"]), reverse=True)]
    walked = [i["id"] async for i in index.newest_first([key_a, key_b], newest)]
    assert walked == expected
    for cut in (1, 17, 25, 39):  # resume strictly after the cut-th item
        at = next(i["at"] for i in items if i["id"] == expected[cut])
        rest = [i["id"] async for i in index.newest_first(
            [key_a, key_b], newest, before=(at, expected[cut]))]
        assert rest == expected[cut + 1:]
    only_b = [i["id"] async for i in index.newest_first([key_b], newest)]
    assert only_b == [i for i in expected if int(i) % 3 == 0]


async def test_items_of_one_instant_page_in_id_order_without_repeats(deps):
    """Many items share one time (a batch, a frozen clock) and land in slots out of id
    order: every resume point still yields exactly the rest, by (time, id)."""
    index = DayIndex(SlotLists(deps.db["test_slots"]))
    key = "t" + secrets.token_hex(4)
    at = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    ids = [f"{n:03d}" for n in range(40)]
    shuffled = ids[::7] + [i for i in ids if i not in ids[::7]]  # slot order != id order
    for item_id in shuffled:
        await index.add(key, at.date(), {"at": at, "id": item_id})
    later = at + timedelta(minutes=1)
    await index.add(key, at.date(), {"at": later, "id": "000"})
    expected = [(later, "000")] + [(at, i) for i in reversed(ids)]
    walked = [(i["at"], i["id"]) async for i in index.newest_first([key], date(2026, 5, 2))]
    assert [(a.replace(tzinfo=UTC) if a.tzinfo is None else a, i) for a, i in walked] == expected
    for cut in (0, 1, 5, 16, 17, 33):
        rest = [i["id"] async for i in index.newest_first([key], date(2026, 5, 2),
                                                          before=expected[cut])]
        assert rest == [i for _, i in expected[cut + 1:]], cut
