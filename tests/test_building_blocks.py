"""The shared building blocks on the real embedded database: guard, limiter, versioning."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import ReturnDocument

from common.errors import PreconditionFailed, RateLimited
from common.ratelimit import RateRule
from common.versioning import STEP_LEASE, check_if_match, etag, step_version

# -- guard ------------------------------------------------------------------------


async def test_fifty_concurrent_claims_of_one_key_have_exactly_one_winner(deps):
    results = await asyncio.gather(*[deps.guard.claim("used:nonce-1") for _ in range(50)])
    assert results.count(True) == 1
    assert results.count(False) == 49


async def test_claims_of_different_keys_all_win(deps):
    results = await asyncio.gather(*[deps.guard.claim(f"otp-7:try{n}") for n in range(1, 6)])
    assert results == [True] * 5


async def test_a_released_claim_can_be_taken_again_and_expiry_is_swept(deps, clock):
    assert await deps.guard.claim("lease:job-1", ttl=timedelta(seconds=30), owner="w1")
    assert not await deps.guard.release("lease:job-1", owner="w2")  # not the holder
    assert await deps.guard.release("lease:job-1", owner="w1")
    assert await deps.guard.claim("lease:job-1", ttl=timedelta(seconds=30), owner="w2")
    assert (await deps.guard.holder("lease:job-1"))["owner"] == "w2"
    clock.advance(seconds=31)
    assert await deps.guard.sweep_expired() >= 1
    assert await deps.guard.holder("lease:job-1") is None


async def test_plain_conditional_update_race_on_devdb(deps):
    """Documents why the guard exists: FerretDB v1 reads the match, then writes by
    _id without re-checking the filter, so a "consume if unused" update can be won
    by several callers at once. The guard under the same load always has one winner.
    If this test starts failing, FerretDB made updates atomic: update docs/devdb.md."""
    codes = deps.db["race_codes"]
    double_wins = 0
    for round_no in range(20):
        code_id = f"otp-{round_no}"
        await codes.insert_one({"_id": code_id, "used": False})

        async def consume(caller: int, code_id: str = code_id) -> bool:
            found = await codes.find_one_and_update(
                {"_id": code_id, "used": False}, {"$set": {"used": True, "by": caller}},
                return_document=ReturnDocument.AFTER,
            )
            return found is not None

        winners = sum(await asyncio.gather(*[consume(i) for i in range(50)]))
        guarded = await asyncio.gather(*[deps.guard.claim(f"used:{code_id}") for _ in range(50)])
        assert guarded.count(True) == 1
        if winners > 1:
            double_wins += 1
            if double_wins >= 2:
                break
    assert double_wins >= 1, "conditional update never raced: FerretDB may be atomic now"


async def test_a_lapsed_claim_is_taken_over_by_one_caller_only(deps, clock):
    """Twenty callers find the same lapsed claim at once: exactly one takes it over. (On
    FerretDB v1 a delete reads, then deletes by _id: without care, late deleters removed
    the fresh claims of early ones, and two to four callers held the key.)"""
    for round_ in range(20):
        key = f"lapse-race-{round_}"
        assert await deps.guard.claim_lapsing(key, ttl=timedelta(minutes=1), owner="first") \
            is None
        clock.advance(seconds=61)
        taken = await asyncio.gather(*[
            deps.guard.claim_lapsing(key, ttl=timedelta(minutes=1), owner=f"caller-{n}")
            for n in range(20)])
        assert sum(1 for t in taken if t is None) == 1, round_
        holder = await deps.guard.holder(key)
        assert holder is not None and holder["owner"].startswith("caller-")


async def test_a_rolling_limit_holds_when_its_slot_lapses_under_a_burst(deps, clock):
    rule = RateRule("r_lapse", limit=1, window=timedelta(minutes=1), rolling=True)
    for round_ in range(10):
        await deps.limiter.hit("lapse", f"s{round_}", [rule])
        clock.advance(seconds=61)

        async def attempt(subject: str = f"s{round_}") -> bool:
            try:
                await deps.limiter.hit("lapse", subject, [rule])
            except RateLimited:
                return False
            return True

        assert (await asyncio.gather(*[attempt() for _ in range(20)])).count(True) == 1, round_


# -- rate limiter -----------------------------------------------------------------

PER_MINUTE = RateRule("per_minute", limit=1, window=timedelta(minutes=1))
PER_HOUR = RateRule("per_hour", limit=5, window=timedelta(hours=1))
PER_DAY = RateRule("per_day", limit=10, window=timedelta(days=1))
SMS_RULES = [PER_MINUTE, PER_HOUR, PER_DAY]


async def test_sms_style_windows_minute_hour_day(deps, clock):
    """1 a minute, 5 an hour, 10 a day (Aliyun's limits for verification codes)."""
    phone = "13800000001"
    clock.set(datetime(2026, 11, 21, 16, 0, tzinfo=UTC))  # midnight in Shanghai
    sent = 0
    refusals: dict[str, int] = {}
    for _ in range(24 * 10):  # a try every 6 minutes for a whole day
        try:
            await deps.limiter.hit("sms", phone, SMS_RULES)
            sent += 1
        except RateLimited as refused:
            refusals[refused.rule] = refusals.get(refused.rule, 0) + 1
        clock.advance(minutes=6)
    assert sent == 10
    assert refusals == {"per_hour": 10, "per_day": 220}
    await deps.limiter.hit("sms", phone, SMS_RULES)  # a new day
    with pytest.raises(RateLimited) as next_day:
        await deps.limiter.hit("sms", phone, SMS_RULES)
    assert next_day.value.rule == "per_minute"


async def test_second_hit_in_a_minute_is_refused_with_time_to_wait(deps, clock):
    clock.set(datetime(2026, 11, 22, 4, 0, 20, tzinfo=UTC))
    await deps.limiter.hit("sms", "13800000002", [PER_MINUTE])
    with pytest.raises(RateLimited) as refused:
        await deps.limiter.hit("sms", "13800000002", [PER_MINUTE])
    assert refused.value.retry_after == 40
    clock.advance(seconds=40)
    await deps.limiter.hit("sms", "13800000002", [PER_MINUTE])


async def test_day_windows_turn_at_shanghai_midnight(deps, clock):
    rule = RateRule("daily", limit=1, window=timedelta(days=1))
    clock.set(datetime(2026, 11, 22, 15, 59, 30, tzinfo=UTC))  # 23:59:30 in Shanghai
    await deps.limiter.hit("daily", "p1", [rule])
    with pytest.raises(RateLimited) as refused:
        await deps.limiter.hit("daily", "p1", [rule])
    assert refused.value.retry_after == 30
    clock.advance(seconds=30)  # 00:00 in Shanghai, still 16:00 UTC
    await deps.limiter.hit("daily", "p1", [rule])


async def test_hard_limit_holds_exactly_under_concurrency(deps):
    rule = RateRule("attempts", limit=5, window=timedelta(days=1))

    async def attempt() -> bool:
        try:
            await deps.limiter.hit("face", "person-9", [rule])
        except RateLimited:
            return False
        return True

    results = await asyncio.gather(*[attempt() for _ in range(30)])
    assert results.count(True) == 5
    assert await deps.limiter.used("face", "person-9", rule) == 5


async def test_a_refused_hit_does_not_use_up_the_other_windows(deps):
    wide = RateRule("wide", limit=3, window=timedelta(hours=1))
    narrow = RateRule("narrow", limit=1, window=timedelta(minutes=1))
    await deps.limiter.hit("mix", "s", [wide, narrow])
    for _ in range(4):
        with pytest.raises(RateLimited):
            await deps.limiter.hit("mix", "s", [wide, narrow])
    assert await deps.limiter.used("mix", "s", wide) == 1


# Aliyun's per-number code limits read as "at most N in any span": written here from
# domain rules §5, not taken from the service's own rule table.
ROLLING_SMS = [RateRule("r_minute", limit=1, window=timedelta(minutes=1), rolling=True),
               RateRule("r_hour", limit=5, window=timedelta(hours=1), rolling=True),
               RateRule("r_day", limit=10, window=timedelta(days=1), rolling=True)]


async def test_rolling_minute_holds_across_a_minute_boundary(deps, clock):
    clock.set(datetime(2026, 11, 22, 2, 0, 58, tzinfo=UTC))  # 10:00:58 in Shanghai
    await deps.limiter.hit("sms", "13800000003", ROLLING_SMS)
    clock.advance(seconds=3)  # 10:01:01: a new fixed minute, but only 3 s later
    with pytest.raises(RateLimited) as refused:
        await deps.limiter.hit("sms", "13800000003", ROLLING_SMS)
    assert (refused.value.rule, refused.value.retry_after) == ("r_minute", 57)
    clock.advance(seconds=56)
    with pytest.raises(RateLimited):
        await deps.limiter.hit("sms", "13800000003", ROLLING_SMS)
    clock.advance(seconds=1)  # 60 s after the first
    await deps.limiter.hit("sms", "13800000003", ROLLING_SMS)


async def test_rolling_hour_and_day_count_any_span(deps, clock):
    start = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    clock.set(start)
    sent: list[int] = []
    for minute in range(0, 180, 6):  # a try every 6 minutes for three hours
        clock.set(start + timedelta(minutes=minute))
        try:
            await deps.limiter.hit("sms", "13800000004", ROLLING_SMS)
            sent.append(minute)
        except RateLimited:
            pass
    # Five in the first hour; the sixth only when the first is an hour old; then the
    # tenth of the day stops it until the first is a day old.
    assert sent == [0, 6, 12, 18, 24, 60, 66, 72, 78, 84]
    clock.set(start + timedelta(days=1) - timedelta(seconds=1))
    with pytest.raises(RateLimited) as refused:
        await deps.limiter.hit("sms", "13800000004", ROLLING_SMS)
    assert (refused.value.rule, refused.value.retry_after) == ("r_day", 1)
    clock.set(start + timedelta(days=1))
    await deps.limiter.hit("sms", "13800000004", ROLLING_SMS)


async def test_rolling_limit_holds_exactly_under_concurrency(deps):
    rule = RateRule("r_burst", limit=5, window=timedelta(hours=1), rolling=True)

    async def attempt() -> bool:
        try:
            await deps.limiter.hit("burst", "s", [rule])
        except RateLimited:
            return False
        return True

    results = await asyncio.gather(*[attempt() for _ in range(30)])
    assert results.count(True) == 5
    assert await deps.limiter.used("burst", "s", rule) == 5


async def test_a_given_back_hit_frees_its_slots_only(deps, clock):
    rule = RateRule("r_two", limit=2, window=timedelta(minutes=10), rolling=True)
    kept = await deps.limiter.hit("gb", "s", [rule])
    given = await deps.limiter.hit("gb", "s", [rule])
    assert kept.slots != given.slots
    await deps.limiter.give_back(given)
    assert await deps.limiter.used("gb", "s", rule) == 1
    await deps.limiter.hit("gb", "s", [rule])
    with pytest.raises(RateLimited):
        await deps.limiter.hit("gb", "s", [rule])


async def test_soft_limit_counts_with_a_counter(deps, clock):
    rule = RateRule("soft", limit=3, window=timedelta(minutes=1), hard=False)
    for _ in range(3):
        await deps.limiter.hit("page", "ip", [rule])
    with pytest.raises(RateLimited):
        await deps.limiter.hit("page", "ip", [rule])
    clock.advance(minutes=1)
    await deps.limiter.hit("page", "ip", [rule])


# -- versioning -------------------------------------------------------------------


def test_if_match_accepts_the_current_etag_or_star_only():
    check_if_match(etag(3), 3)
    check_if_match('"v1", "v3"', 3)
    check_if_match("*", 3)
    with pytest.raises(PreconditionFailed):
        check_if_match(etag(2), 3)
    with pytest.raises(PreconditionFailed):
        check_if_match("W/" + etag(3), 3)  # weak tags never match for If-Match


async def test_a_version_step_abandoned_by_a_crashed_writer_is_rolled_forward(deps, clock):
    records = deps.db["versioned"]
    await records.insert_one({"_id": "r1", "status": "draft", "version": 1})
    # A writer won the step to v2 and died before writing it.
    assert await deps.guard.claim("versioned:r1:v2", changes={"status": "effective"})

    kwargs = dict(guard=deps.guard, clock=clock, collection=records, record_id="r1",
                  expected_version=1, changes={"status": "cancelled"})
    with pytest.raises(PreconditionFailed):
        await step_version(**kwargs)  # within the lease: the winner may still be writing
    assert (await records.find_one({"_id": "r1"}))["version"] == 1

    clock.advance(STEP_LEASE + timedelta(seconds=1))
    with pytest.raises(PreconditionFailed):
        await step_version(**kwargs)
    after = await records.find_one({"_id": "r1"})
    assert (after["status"], after["version"]) == ("effective", 2)
    # The next writer, holding the new ETag, proceeds normally.
    assert await step_version(**{**kwargs, "expected_version": 2}) == 3
