"""The daily jobs, each on its own: its own day guard, command, metrics and failure.

    cycle          reminders 30/7/1 days ahead, suspension once overdue
    filing-expiry  temporary filings that ran out, and the week-ahead notice
    card-lifts     temporary card losses that lifted themselves
    housekeeping   expired claims, keys, codes, challenges and attempts; templates the
                   consent text no longer covers; abandoned version steps; old audit

Worker processes run every job once a day: whichever process claims
``job:<name>:<day>`` first runs it, and a job that fails gives its claim back (so
another process retries) without keeping the other jobs from running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

if TYPE_CHECKING:
    from composition import Container as Deps

from common.versioning import roll_forward_abandoned_steps
from medical_insurance import service as filing_service
from pension_cert import service as cert_service
from social_card import service as card_service

log = logging.getLogger("jobs")

JobRun = Callable[["Deps", date], Awaitable[dict[str, int]]]


async def cycle(deps: Deps, today: date) -> dict[str, int]:
    return await cert_service.run_cycle(ctx=deps.cert, today=today)


async def filing_expiry(deps: Deps, today: date) -> dict[str, int]:
    return await filing_service.daily(ctx=deps.filings, today=today)


async def card_lifts(deps: Deps, today: date) -> dict[str, int]:
    return {"lifted": await card_service.daily(ctx=deps.cards, today=today)}


async def housekeeping(deps: Deps, today: date) -> dict[str, int]:
    """Delete what has expired, in batches; idempotent. On MongoDB TTL indexes do most
    of it already; on the embedded database this job is what does it."""
    now = deps.clock.now()
    audit_cutoff = now - timedelta(days=deps.settings.audit_retention_days)
    return {
        "steps_rolled_forward": await roll_forward_abandoned_steps(deps.guard, deps.clock,
                                                                   deps.db),
        "claims": await deps.guard.sweep_expired(),
        "rate_counters": await deps.limiter.sweep_expired(),
        "idempotency_keys": await deps.idempotency.sweep_expired(),
        "challenges": await deps.cert.repo.sweep_expired(now),
        "codes": await deps.auth.repo.sweep_expired(now),
        "outbox_attempts": await deps.outbox.sweep_expired(now),
        "outbox_archived": await deps.outbox.archive_finished(),
        "templates": await cert_service.purge_expired_templates(ctx=deps.cert),
        "audit_entries": await deps.audit.delete_older_than(audit_cutoff),
    }


@dataclass(frozen=True)
class Job:
    name: str
    run: JobRun


JOBS: tuple[Job, ...] = (
    Job("cycle", cycle),
    Job("filing-expiry", filing_expiry),
    Job("card-lifts", card_lifts),
    Job("housekeeping", housekeeping),
)


class JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.last_success = Gauge("job_last_success_timestamp_seconds",
                                  "When each daily job last finished", ["job"],
                                  registry=registry)
        self.items = Gauge("job_items_done", "What each daily job did on its last run",
                           ["job", "item"], registry=registry)
        self.failures = Counter("job_failures_total", "Daily job runs that failed", ["job"],
                                registry=registry)
        self.duration = Gauge("job_duration_seconds", "How long each job's last run took",
                              ["job"], registry=registry)


async def run_job(job: Job, deps: Deps, today: date, metrics: JobMetrics | None) -> dict[str, int]:
    """Run one job now (the command line does this; it is idempotent per day)."""
    started = time.perf_counter()
    try:
        counts = await job.run(deps, today)
    except Exception:
        if metrics:
            metrics.failures.labels(job.name).inc()
        raise
    if metrics:
        metrics.last_success.labels(job.name).set(deps.clock.now().timestamp())
        metrics.duration.labels(job.name).set(time.perf_counter() - started)
        for item, value in counts.items():
            metrics.items.labels(job.name, item).set(value)
    return counts


async def run_once_a_day(job: Job, deps: Deps, owner: str, metrics: JobMetrics | None,
                         today: date | None = None) -> dict[str, int] | None:
    """Run ``job`` for today unless another process has; None if it was not ours to run."""
    today = today or deps.cert.today()
    key = f"job:{job.name}:{today.isoformat()}"
    if not await deps.guard.claim(key, ttl=timedelta(days=2), owner=owner):
        return None
    try:
        return await run_job(job, deps, today, metrics)
    except BaseException:
        await deps.guard.release(key, owner=owner)  # let another worker try again
        raise


async def daily_jobs(deps: Deps, stop: asyncio.Event, metrics: JobMetrics | None = None,
                     check_seconds: float = 60.0) -> None:
    """Every job once a day, each on its own: one failing never skips the others."""
    owner = f"{os.getpid()}@{os.uname().nodename}"
    while not stop.is_set():
        for job in JOBS:
            try:
                counts = await run_once_a_day(job, deps, owner, metrics)
                if counts is not None:
                    log.info("daily job ran", extra={"job": job.name, **counts})
            except Exception:
                log.exception("daily job failed; will retry", extra={"job": job.name})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), check_seconds)


def job_named(name: str) -> Job:
    return next(job for job in JOBS if job.name == name)
