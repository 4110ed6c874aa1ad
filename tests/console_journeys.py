"""What the console tests share: agents and admins who log in with password and TOTP, people
with a ready record (certification state, reminder, card, filings, a review case), and the
check that no raw ID number or phone leaks into an answer."""

from __future__ import annotations

import contextlib
import itertools
import json
from datetime import date, timedelta

import pyotp

from auth.model import Role
from auth.service import create_console_account
from medical_insurance import service as filing_service
from medical_insurance.model import Category, Commitment, FilingDraft
from pension_cert import service as cert
from people.model import check_character
from people.service import parse_row
from tests.journeys import PASSWORD, bearer, console_login

_seq = itertools.count(100)


async def console_user(api, deps, clock, username: str, *, regions=("150100",),
                       admin: bool = False) -> tuple[dict[str, str], str, pyotp.TOTP]:
    """A console account, logged in: (Authorization header, account id, TOTP)."""
    account, secret = await create_console_account(
        username=username, display_name="王坐席" if not admin else "李管理",
        password=PASSWORD, role=Role.ADMIN if admin else Role.AGENT,
        regions=tuple(regions), ctx=deps.auth)
    totp = pyotp.TOTP(secret)
    login = await console_login(api, clock, username, totp)
    assert login.status == 200, login.body
    return bearer(login.json()["access_token"]), account.account_id, totp


def id_number_for(region: str, born: date, seq: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{seq % 1000:03d}"
    return first17 + check_character(first17)


async def person(deps, *, region: str = "150102", name: str = "张建国",
                 born: date = date(1950, 3, 4), phone: str | None = None,
                 person_type: str = "retiree") -> tuple[str, str]:
    """A registry person, imported the way the registry import does: (person id, ID number)."""
    id_number = id_number_for(region, born, next(_seq))
    details = parse_row({"id_number": id_number, "name": name, "region_code": region,
                         "person_type": person_type, "phone": phone or "",
                         "monthly_pension_fen": "300000"}, date(2026, 11, 22))
    await deps.people.upsert_batch([details])
    found = await deps.people.find_by_id_number(id_number)
    assert found is not None
    return found.person_id, id_number


async def life_after_death_case(deps, person_id: str, record: str) -> str:
    """A review case: a death recorded, then proof of life after it. Returns the case id."""
    today = deps.cert.today()
    await cert.register_new_retiree(person_id, None, ctx=deps.cert)
    await cert.ingest_signal(source="civil", record_id=f"d-{record}", person_id=person_id,
                             kind="death", day=today - timedelta(days=30), ctx=deps.cert)
    outcome = await cert.ingest_signal(source="bank", record_id=f"l-{record}",
                                       person_id=person_id, kind="bank",
                                       day=today - timedelta(days=2), ctx=deps.cert)
    assert outcome == "held_for_review"
    state = await deps.cert.repo.state(person_id)
    return next(h["case_id"] for h in reversed(state.history) if h.get("case_id"))


async def temporary_filing(deps, principal, person_id: str, filing_id: str, *,
                           referral_without_proof: bool = False):
    """A temporary filing (other trip), or a referral waiting for review, to Guangzhou."""
    if referral_without_proof:
        draft = FilingDraft(category=Category.REFERRAL, destination=("440000", "440100"),
                            start_date=date(2026, 11, 25), hospital="中山大学附属第一医院",
                            referring_hospital="内蒙古医科大学附属医院")
    else:
        draft = FilingDraft(category=Category.TEMPORARY_TRIP, destination=("440000", "440100"),
                            start_date=date(2026, 11, 25),
                            commitment=Commitment(True, "2026-01"))
    return await filing_service.file(principal, person_id, draft, channel="agent",
                                     on_behalf=None, filing_id=filing_id, ctx=deps.filings)


def assert_masked(reply, *secrets: str | None) -> None:
    """None of ``secrets`` (raw ID numbers, phones) appears anywhere in the answer."""
    text = reply.body.decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError):  # and as JSON decoded, in case of escapes
        text += json.dumps(reply.json(), ensure_ascii=False)
    for secret in secrets:
        if secret:
            assert secret not in text, f"{secret} leaked into {text[:300]}"
