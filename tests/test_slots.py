"""The append-only lists behind the filing search (common/slots.py), on the embedded
database: concurrent appends never share a slot, and a day walk returns every item newest
first from any position, skipping empty months and years."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from common.slots import DayIndex, SlotLists


async def test_concurrent_appends_take_distinct_contiguous_slots(deps):
    lists = SlotLists(deps.db["test_slots"])
    key = "k" + secrets.token_hex(4)
    positions = await asyncio.gather(*[lists.append(key, {"n": n}) for n in range(12)])
    assert sorted(positions) == list(range(12))
    assert await lists.length(key) == 12
    assert sorted(item["n"] for item in await lists.items(key)) == list(range(12))


async def walk(index, keys, newest, after=None):
    return [(item["id"], position) async for item, position
            in index.newest_first(keys, newest, after)]


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
    walked = await walk(index, [key_a, key_b], newest)
    assert [i for i, _ in walked] == expected
    for cut in (0, 1, 17, 25, 38):  # resume just after the cut-th item
        rest = await walk(index, [key_a, key_b], newest, walked[cut][1])
        assert [i for i, _ in rest] == expected[cut + 1:]
    only_b = await walk(index, [key_b], newest)
    assert [i for i, _ in only_b] == [i for i in expected if int(i) % 3 == 0]


async def test_resuming_never_repeats_or_skips_even_when_clocks_disagree(deps):
    """Items of one instant, and items appended with times out of order (two processes
    whose clocks differ): every resume point yields exactly the rest of the walk."""
    index = DayIndex(SlotLists(deps.db["test_slots"]))
    key_a, key_b = "c" + secrets.token_hex(4), "d" + secrets.token_hex(4)
    at = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    offsets = [0, 0, 0, 5, -3, 0, 7, 7, -1, 2, 0, 0, 4, -2, 9, 0, 0, 1, 1, -4, 3, 0, 0, 0, 6]
    for n, minutes in enumerate(offsets * 2):
        await index.add(key_a if n % 2 else key_b, at.date(),
                        {"at": at + timedelta(minutes=minutes), "id": f"{n:03d}"})
    newest = date(2026, 5, 2)
    whole = await walk(index, [key_a, key_b], newest)
    assert sorted(i for i, _ in whole) == [f"{n:03d}" for n in range(50)]  # each once
    for cut in range(len(whole)):
        rest = await walk(index, [key_a, key_b], newest, whole[cut][1])
        assert [i for i, _ in rest] == [i for i, _ in whole[cut + 1:]], cut


async def test_a_position_from_elsewhere_is_refused(deps):
    from common.errors import ValidationFailed
    from common.slots import Position
    with pytest.raises(ValidationFailed):
        Position.decode("bm90LWEtY3Vyc29y")
