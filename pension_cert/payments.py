"""Pension payment details (养老金发放明细): per month what was paid, withheld, paid back
and why, each with a plain Chinese sentence; and the import of annual raises.

The sentences follow the worked examples of domain rules §1: suspended because nobody
certified by ``valid_through`` ("2026年4月暂停发放：资格认证逾期（截止2026-03-14）"), and
back pay with the month after the certification ("2026年7月补发4月、5月、6月").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from common.errors import ValidationFailed
from pension_cert.context import CertContext
from pension_cert.model import Month
from pension_cert.payroll_model import PAID, STOPPED, PayrollLine

SHOWN_MONTHS = 24


@dataclass(frozen=True)
class PaymentMonth:
    line: PayrollLine
    explanations: list[str]


async def payment_details(person_id: str, *, ctx: CertContext) -> list[PaymentMonth]:
    """The person's payroll lines of the last two years, newest first, explained. The
    caller has checked who may read them."""
    months = (await ctx.payroll.run_months())[-SHOWN_MONTHS:]
    lines = await ctx.payroll.person_lines(person_id, months)
    return [PaymentMonth(line, explain(line))
            for _, line in sorted(lines.items(), reverse=True)]


def explain(line: PayrollLine) -> list[str]:
    """Every sentence the month needs: why nothing was paid, or what was paid back."""
    when = _month_text(line.month)
    reason = line.reason.get("code")
    if line.status == STOPPED:
        return [f"{when}停止发放：已登记死亡（{line.reason.get('death_date', '')}）"]
    if line.status != PAID:
        if reason == "overdue":
            return [f"{when}暂停发放：资格认证逾期（截止{line.reason.get('valid_through', '')}）；"
                    "完成认证后次月恢复发放，并补发暂停的月份"]
        return [f"{when}暂停发放：认证记录正在核查，请拨打12333或到社保经办窗口咨询"]
    sentences = [f"{when}发放{yuan(line.regular_fen)}元"]
    if line.backpay_months:
        sentences.append(f"{when}补发{_months_text(line.backpay_months, line.month)}"
                         f"（共{yuan(line.backpay_fen)}元）")
    if line.excluded_prison_months:
        sentences.append(f"{_months_text(line.excluded_prison_months, line.month)}"
                         "在服刑期间，依规不予补发")
    if line.raise_months:
        sentences.append(f"{when}补发{_months_text(line.raise_months, line.month)}"
                         f"调整待遇差额（共{yuan(line.raise_fen)}元）")
    return sentences


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _month_text(month: Month) -> str:
    return f"{month.year}年{month.month}月"


def _months_text(months: Sequence[Month], paid_in: Month) -> str:
    """"3月、4月" within the paying month's year; a month of another year names it."""
    return "、".join(f"{m.month}月" if m.year == paid_in.year else _month_text(m)
                    for m in sorted(months))


# -- raises ----------------------------------------------------------------------------------


@dataclass
class RaiseReport:
    stored: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str, str | None]] = field(default_factory=list)


async def import_raises(rows: Iterable[tuple[int, Mapping[str, str]]], *,
                        ctx: CertContext) -> RaiseReport:
    """Rows of ``id_number, monthly_pension_fen, effective_month``. The new amount is paid
    from the next payroll run; months from the effective month already paid at the old
    amount are paid the difference with the next paid month."""
    report = RaiseReport()
    for line, row in rows:
        try:
            outcome = await _one_raise(row, ctx)
        except ValidationFailed as error:
            report.rejected.append((line, error.detail, error.field))
            continue
        if outcome == "conflict":
            report.rejected.append((line, "a different amount was imported for this person "
                                    "and month before", "monthly_pension_fen"))
        elif outcome == "unchanged":
            report.unchanged += 1
        else:
            report.stored += 1
    return report


async def _one_raise(row: Mapping[str, str], ctx: CertContext) -> str:
    id_number = str(row.get("id_number") or "").strip().upper()
    amount = str(row.get("monthly_pension_fen") or "").strip()
    if not amount.isdigit():
        raise ValidationFailed("monthly_pension_fen must be a non-negative whole number of "
                               "fen", field="monthly_pension_fen")
    try:
        effective = Month.parse(str(row.get("effective_month") or "").strip())
    except ValidationFailed:
        raise ValidationFailed("effective_month looks like 2026-01",
                               field="effective_month") from None
    if effective > Month.of(ctx.today()):
        raise ValidationFailed("effective_month cannot be in the future",
                               field="effective_month")
    person = await ctx.people.find_by_id_number(id_number)
    if person is None or not person.is_pensioner:
        raise ValidationFailed("no pensioner has this ID number", field="id_number")
    outcome, before = await ctx.payroll.add_raise(
        person.person_id, effective, int(amount), person.monthly_pension_fen or 0,
        ctx.clock.now())
    # The registry's amount follows the raise while it still shows the amount the raise
    # replaced (so a retry completes it, and re-importing an old raise file after a
    # newer raise changes nothing).
    if outcome != "conflict" and person.monthly_pension_fen == before != int(amount):
        await ctx.people.set_pension_amount(person.person_id, int(amount))
    return outcome
