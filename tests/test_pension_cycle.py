"""The certification cycle's arithmetic: the worked examples of domain rules §1."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pension_cert.model import (
    CertState,
    CertStatus,
    Month,
    add_months,
    back_pay,
    cycle_months,
    first_suspended_month,
    in_prison,
    new_retiree_deadline,
    valid_through,
)
from people.model import Person, PersonType, PrisonPeriod, Sex


@pytest.mark.parametrize(("certified", "cycle", "plus", "through"), [
    (date(2025, 3, 15), 12, date(2026, 3, 15), date(2026, 3, 14)),
    (date(2025, 8, 31), 6, date(2026, 2, 28), date(2026, 2, 27)),
    (date(2025, 1, 31), 1, date(2025, 2, 28), date(2025, 2, 27)),
    (date(2023, 1, 5), 12, date(2024, 1, 5), date(2024, 1, 4)),  # the rolling example
    (date(2024, 2, 29), 12, date(2025, 2, 28), date(2025, 2, 27)),
])
def test_validity_examples(certified, cycle, plus, through):
    assert add_months(certified, cycle) == plus
    assert valid_through(certified, cycle) == through


def test_certifying_early_moves_the_deadline():
    # Last certified 2022-04-10, certified again 2023-01-05: next deadline 2024-01-04.
    assert valid_through(date(2022, 4, 10), 12) == date(2023, 4, 9)
    assert valid_through(date(2023, 1, 5), 12) == date(2024, 1, 4)


def test_suspension_starts_with_the_first_payroll_month_after_validity():
    assert first_suspended_month(date(2026, 3, 14)) == Month(2026, 4)
    assert first_suspended_month(date(2026, 3, 31)) == Month(2026, 4)
    assert first_suspended_month(date(2026, 12, 1)) == Month(2027, 1)


def test_resumption_pays_the_withheld_months_the_month_after_certification():
    paid = back_pay(suspended_from=Month(2026, 4), certified_on=date(2026, 6, 20),
                    monthly_pension_fen=350_000)
    assert paid.resume_month == Month(2026, 7)
    assert paid.months == (Month(2026, 4), Month(2026, 5), Month(2026, 6))
    assert paid.amount_fen == 1_050_000


def test_prison_months_are_not_back_paid():
    prison = [PrisonPeriod(date(2026, 4, 20), date(2026, 5, 10))]
    paid = back_pay(suspended_from=Month(2026, 4), certified_on=date(2026, 6, 20),
                    monthly_pension_fen=300_000, prison_periods=prison)
    assert paid.months == (Month(2026, 6),)
    assert paid.excluded_prison_months == (Month(2026, 4), Month(2026, 5))
    assert paid.amount_fen == 300_000
    assert in_prison(Month(2026, 5), [PrisonPeriod(date(2026, 1, 1), None)])


def test_a_new_retirees_first_deadline_is_the_end_of_the_first_payment_month():
    assert new_retiree_deadline(date(2026, 2, 10)) == date(2026, 2, 28)
    assert new_retiree_deadline(date(2028, 2, 1)) == date(2028, 2, 29)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31)),
       st.sampled_from([1, 6, 12]))
def test_validity_always_ends_before_the_same_day_cycle_months_later(day, months):
    through = valid_through(day, months)
    assert through < add_months(day, months)
    assert (add_months(day, months) - through).days == 1
    expected = Month.of(day)
    for _ in range(months):
        expected = expected.next()
    assert Month.of(add_months(day, months)) == expected
    assert add_months(day, months).day == min(day.day, expected.last_day().day)


def person(region: str = "150102", kind: PersonType = PersonType.RETIREE,
           outside: bool = False, born: date = date(1950, 1, 1)) -> Person:
    return Person(name="张建国", id_number="x", sex=Sex.MALE, birth_date=born, phone=None,
                  region_code=region, person_type=kind, lives_outside_region=outside,
                  person_id="P1")


def test_cycle_lengths_by_region_person_type_and_residence():
    today = date(2026, 11, 22)
    assert cycle_months(person(), today) == 12
    assert cycle_months(person(outside=True), today) == 6
    assert cycle_months(person(kind=PersonType.SURVIVOR, born=date(2000, 1, 1)), today) == 1
    assert cycle_months(person(kind=PersonType.SURVIVOR, born=date(2010, 1, 1)), today) == 12
    assert cycle_months(person(region="150203"), date(2025, 3, 31)) == 12  # Baotou before
    assert cycle_months(person(region="150203"), date(2025, 4, 1)) == 6  # ...and from 2025-04-01


def test_status_is_decided_on_read_and_reminders_go_30_7_1_days_ahead():
    state = CertState(person_id="P1", valid_through=date(2026, 3, 14))
    assert state.status_on(date(2026, 2, 1)) is CertStatus.CERTIFIED
    assert state.status_on(date(2026, 2, 12)) is CertStatus.DUE_SOON
    assert state.status_on(date(2026, 3, 14)) is CertStatus.DUE_SOON
    assert state.status_on(date(2026, 3, 15)) is CertStatus.OVERDUE_SUSPENDED
    assert state.reminder_due(date(2026, 2, 11)) is None
    assert state.reminder_due(date(2026, 2, 12)) == 30
    state.reminders_sent = (state.reminder_key(30),)
    assert state.reminder_due(date(2026, 2, 20)) is None
    assert state.reminder_due(date(2026, 3, 10)) == 7
    assert state.reminder_due(date(2026, 3, 14)) == 1  # a job that missed days sends one
    assert state.reminder_due(date(2026, 3, 15)) is None
