"""The 12333 console in a real browser: login with TOTP, search by a spoken ID number, the
masked overview on one screen, a 12333 temporary card loss in under six clicks, a reveal
with its reason that the admin then sees in the audit view and exports as CSV, a review
case decided from the queue, and the idle logout warned before it happens (the server's
clock moved through the test-only hook)."""

from __future__ import annotations

import re
from datetime import date

import pyotp
import pytest
from playwright.async_api import Page, expect

from auth.model import Principal, PrincipalKind, Role
from auth.service import create_console_account
from pension_cert import service as cert
from tests.browser.conftest import ARTIFACTS, shot
from tests.console_journeys import life_after_death_case, person, temporary_filing
from tests.journeys import PASSWORD, make_card, new_phone

pytestmark = [pytest.mark.usefixtures("reset_standins"), pytest.mark.timeout(300)]
MAX_CLICKS = 6  # from the spoken ID number to the loss recorded: fewer than this


async def account(deps, username: str, *, admin: bool = False,
                  regions=("150100",)) -> tuple[str, pyotp.TOTP]:
    made, secret = await create_console_account(
        username=username, display_name="李管理" if admin else "王坐席", password=PASSWORD,
        role=Role.ADMIN if admin else Role.AGENT, regions=tuple(regions), ctx=deps.auth)
    return made.account_id, pyotp.TOTP(secret)


async def log_in(page: Page, api, clock, username: str, totp: pyotp.TOTP,
                 screenshot: str | None = None) -> None:
    await page.goto(api.base_url + "/console/")
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.fill("#login-totp", totp.at(clock.now()))
    if screenshot:
        await shot(page, screenshot)
    await page.click("#login-submit")
    await expect(page.locator("#topbar")).to_be_visible()


async def clicks(page: Page) -> list[str]:
    return await page.evaluate("window.__clicks")


async def test_from_a_spoken_id_number_to_a_12333_card_loss_in_under_six_clicks(
        page, api, deps, clock):
    _, totp = await account(deps, "browser-agent")
    phone = new_phone()
    person_id, number = await person(deps, region="150102", phone=phone, name="乌云其木格",
                                     born=date(1951, 8, 15))
    await cert.register_new_retiree(person_id, date(2026, 11, 1), ctx=deps.cert)
    await cert.run_cycle(ctx=deps.cert)  # a reminder to show among the notifications
    card = await make_card(deps, person_id, number="6217853100012345678")
    await temporary_filing(deps, _admin(), person_id, "FBROWSER0001")

    await log_in(page, api, clock, "browser-agent", totp, screenshot="01-login.png")
    await shot(page, "02-search.png")
    before = len(await clicks(page))

    await page.fill("#search-input", number)  # typed while the caller speaks
    await page.click("#search-button")
    overview = page.locator("#overview")
    await expect(overview).to_be_visible()
    masked = number[:4] + "*" * 10 + number[-4:]
    await expect(page.locator("#value-id_number")).to_have_text(masked)
    await expect(page.locator("#value-phone")).to_have_text(phone[:3] + "****" + phone[-4:])
    await expect(overview).to_contain_text("乌****")
    await expect(overview).to_contain_text("6217***********5678")
    await expect(overview).to_contain_text("认证到期提醒")
    await expect(overview).to_contain_text("其他临时外出")
    text = await page.content()
    assert number not in text and phone not in text and card.card_number not in text
    await shot(page, "03-overview-masked.png")

    await page.click(f"#temp-loss-{card.card_id}")
    await expect(page.locator("#question-id_number")).to_be_checked()  # the ID number matched
    await page.click("#question-name")
    await shot(page, "04-temp-loss-dialog.png")
    await page.click("#dialog-confirm")
    await expect(page.locator("#toast")).to_contain_text("已办理，审计编号")
    await expect(page.locator(f"#card-status-{card.card_id}")).to_have_text("临时挂失")
    await shot(page, "05-temp-loss-done.png")

    made = (await clicks(page))[before:]
    assert len(made) == 4 < MAX_CLICKS, made
    stored = await deps.cards.repo.get(card.card_id)
    assert stored.status.value == "temp_loss"
    assert stored.history[-1]["verified_by"] == ["身份证号码", "姓名"]
    [entry] = await deps.audit.find(action="console.card_temp_loss")
    assert entry.person_id == person_id


async def test_a_reveal_with_its_reason_shows_in_the_admin_audit_view_and_csv(
        page, browser, api, deps, clock):
    agent_id, totp = await account(deps, "reveal-browser")
    _, admin_totp = await account(deps, "audit-admin", admin=True, regions=())
    phone = new_phone()
    person_id, number = await person(deps, region="150105", phone=phone)

    await log_in(page, api, clock, "reveal-browser", totp)
    await page.fill("#search-input", phone)
    await page.click("#search-button")
    await expect(page.locator("#overview")).to_be_visible()
    await page.click("#reveal-phone")
    await page.select_option("#reveal-reason", "callback")
    await page.fill("#reveal-note", "来电中断，回拨确认")
    await page.click("#dialog-confirm")
    await expect(page.locator("#value-phone")).to_have_text(phone)
    await expect(page.locator("#toast")).to_contain_text("今日第 1 次查看")
    await shot(page, "06-reveal.png")
    await page.click("#logout")
    await expect(page.locator("#login-view")).to_be_visible()

    await log_in(page, api, clock, "audit-admin", admin_totp)
    await page.click("#tab-audit")
    await page.select_option("#audit-action", "console.reveal")
    await page.fill("#audit-person", person_id)
    await page.click("#audit-form button[type=submit]")
    rows = page.locator("#audit-table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(agent_id)
    await expect(rows.first).to_contain_text("查看完整信息")
    await expect(rows.first).to_contain_text("reason=回拨来电人（callback）")
    assert phone not in await page.locator("#audit-table").inner_text()
    await shot(page, "07-audit-admin.png")

    async with page.expect_download() as downloading:
        await page.click("#audit-export")
    download = await downloading.value
    exported = (await download.path()).read_text(encoding="utf-8-sig")
    [header, row] = exported.strip().splitlines()
    assert header.startswith("时间(UTC),操作人,操作")
    assert "console.reveal" in row and agent_id in row and person_id in row
    assert phone not in exported and number not in exported
    (ARTIFACTS / "08-audit-export.csv").write_text(exported, encoding="utf-8")
    await expect(page.locator("#toast")).to_contain_text("已导出 CSV")
    await shot(page, "08-audit-export.png")


async def test_a_review_case_is_decided_from_the_queue_and_a_filing_approved(
        page, api, deps, clock):
    _, totp = await account(deps, "case-browser")
    person_id, _ = await person(deps, region="150104", phone=new_phone())
    case_id = await life_after_death_case(deps, person_id, "browser")
    waiting = await temporary_filing(deps, _admin(), person_id, "FBROWSER0002",
                                     referral_without_proof=True)

    await log_in(page, api, clock, "case-browser", totp)
    await page.click("#tab-cases")
    row = page.locator(f'#cases-table tr[data-id="{case_id}"]')
    await expect(row).to_contain_text("死亡后仍有生存信息")
    await shot(page, "09-review-queue.png")
    await page.click(f"#decide-{case_id}")
    await page.check("#decision-clear")
    await page.click("#dialog-confirm")
    await expect(page.locator("#toast")).to_contain_text("已办理，审计编号")
    await expect(row).to_have_count(0)  # no longer open
    state = await deps.cert.repo.state(person_id)
    assert state.death_date is None  # cleared: the death record was wrong
    assert (await deps.cert.repo.case(case_id)).status == "clear"

    await page.click("#tab-filings")
    filing_row = page.locator(f'#filings-table tr[data-id="{waiting.filing_id}"]')
    await expect(filing_row).to_contain_text("待审核")
    await shot(page, "10-filing-queue.png")
    await filing_row.get_by_text("批准").click()
    await page.click("#dialog-confirm")
    await expect(page.locator("#toast")).to_contain_text("已办理")
    await expect(filing_row).to_have_count(0)
    assert (await deps.filings.repo.get(waiting.filing_id)).status.value == "effective"


async def test_idle_logout_is_warned_then_done_by_the_servers_clock(page, api, deps, clock):
    _, totp = await account(deps, "idle-browser")
    await log_in(page, api, clock, "idle-browser", totp)
    banner = page.locator("#banner")
    await expect(banner).to_be_hidden()

    await api.post("/_test/clock", json_body={"advance_seconds": 28 * 60 + 30})
    await expect(banner).to_be_visible(timeout=12_000)
    await expect(banner).to_contain_text(re.compile(r"\d 分钟内没有操作将自动退出"))
    await shot(page, "11-idle-warning.png")
    await page.click("#banner-continue")  # still at work: the warning goes away
    await expect(banner).to_be_hidden()

    await api.post("/_test/clock", json_body={"advance_seconds": 28 * 60 + 30})
    await expect(banner).to_be_visible(timeout=12_000)
    await api.post("/_test/clock", json_body={"advance_seconds": 2 * 60})
    await expect(page.locator("#login-view")).to_be_visible(timeout=12_000)
    await expect(page.locator("#login-message")).to_have_text(
        "30 分钟没有操作，已自动退出，请重新登录。")
    await expect(page.locator("#topbar")).to_be_hidden()
    await shot(page, "12-idle-logout.png")


def _admin() -> Principal:
    return Principal(kind=PrincipalKind.PERSON, subject="A-seed-admin", role=Role.ADMIN)
