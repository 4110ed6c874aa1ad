"""The person registry: ID numbers, regions, import."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from people import regions
from people.demo import demo_rows
from people.model import (
    IdNumber,
    InvalidIdNumber,
    InvalidPerson,
    Sex,
    build_details,
    check_character,
)
from people.repository import PeopleRepository
from people.service import parse_row
from tests.conftest import Completed, run_app

TODAY = date(2026, 11, 22)

# -- GB 11643 -----------------------------------------------------------------------

birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
region_codes = st.sampled_from([*sorted(regions.counties("150100")), "150102", "110101"])
sequences = st.integers(min_value=0, max_value=999)


def make_id(region: str, born: date, sequence: int) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def test_known_numbers_from_the_standard_and_the_x_check_character():
    assert check_character("11010519491231002") == "X"  # the standard's worked example
    assert IdNumber.parse("11010519491231002X").birth_date == date(1949, 12, 31)
    assert IdNumber.parse("11010519491231002x").value == "11010519491231002X"
    assert check_character("44052418800101001") == "4"


@given(region_codes, birth_dates, sequences)
def test_every_well_formed_number_parses_with_sex_and_birth_date(region, born, sequence):
    parsed = IdNumber.parse(make_id(region, born, sequence))
    assert parsed.birth_date == born
    assert parsed.region_code == region
    assert parsed.sex is (Sex.MALE if sequence % 2 else Sex.FEMALE)


@given(region_codes, birth_dates, sequences, st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_is_caught(region, born, sequence, position, delta):
    good = make_id(region, born, sequence)
    changed = str((int(good[position]) + delta) % 10)
    bad = good[:position] + changed + good[position + 1:]
    with pytest.raises(InvalidIdNumber):
        IdNumber.parse(bad)


@given(region_codes, birth_dates, sequences, st.sampled_from("0123456789X"))
def test_a_wrong_check_character_is_caught(region, born, sequence, check):
    good = make_id(region, born, sequence)
    if check != good[-1]:
        with pytest.raises(InvalidIdNumber):
            IdNumber.parse(good[:-1] + check)


@settings(max_examples=50)
@given(region_codes, birth_dates, sequences)
def test_x_check_numbers_are_found_and_accepted(region, born, sequence):
    # About one number in eleven ends in X; search the neighbourhood for one.
    for seq in range(sequence, sequence + 40):
        number = make_id(region, born, seq % 1000)
        if number.endswith("X"):
            assert IdNumber.parse(number.lower()).value == number
            return


@pytest.mark.parametrize("raw", ["", "1501021990", "15010219900230123X", "A50102199001011234",
                                 "150102199013011234", "1501021990010112345"])
def test_malformed_numbers_are_refused(raw):
    with pytest.raises(InvalidIdNumber):
        IdNumber.parse(raw)


def test_sex_and_birth_date_supplied_beside_the_number_are_cross_checked():
    number = make_id("150102", date(1950, 5, 6), 123)  # odd sequence: male
    common: dict[str, Any] = dict(name="张建国", id_number=number, region_code="150102",
                                  person_type="retiree", today=TODAY)
    assert build_details(**common, sex="M", birth_date=date(1950, 5, 6)).sex is Sex.MALE
    with pytest.raises(InvalidPerson) as wrong_sex:
        build_details(**common, sex="F")
    assert wrong_sex.value.field == "sex"
    with pytest.raises(InvalidPerson) as wrong_birth:
        build_details(**common, birth_date=date(1950, 5, 7))
    assert wrong_birth.value.field == "birth_date"


def test_a_birth_date_in_the_future_is_refused():
    with pytest.raises(InvalidIdNumber):
        build_details(name="张三丰", id_number=make_id("150102", TODAY + timedelta(days=1), 1),
                      region_code="150102", person_type="employee", today=TODAY)


# -- regions ------------------------------------------------------------------------

LEAGUES = {
    "150100": "呼和浩特市", "150200": "包头市", "150300": "乌海市", "150400": "赤峰市",
    "150500": "通辽市", "150600": "鄂尔多斯市", "150700": "呼伦贝尔市", "150800": "巴彦淖尔市",
    "150900": "乌兰察布市", "152200": "兴安盟", "152500": "锡林郭勒盟", "152900": "阿拉善盟",
}


def test_the_twelve_league_level_divisions_of_inner_mongolia():
    assert regions.prefectures("150000") == LEAGUES
    assert regions.region_name("150000") == "内蒙古自治区"


def test_region_helpers():
    assert regions.in_inner_mongolia("150102")
    assert not regions.in_inner_mongolia("110101")
    assert not regions.in_inner_mongolia("159999")
    assert regions.is_province("440000") and regions.is_prefecture("440100")


# -- demo data ----------------------------------------------------------------------


def test_demo_people_are_deterministic_valid_and_cover_every_league():
    rows = demo_rows()
    assert rows == demo_rows()
    assert 200 <= len(rows) <= 500
    assert {regions.prefecture_of(r["region_code"]) for r in rows} == set(LEAGUES)
    assert len({r["id_number"] for r in rows}) == len(rows)
    for row in rows:
        parse_row(row, TODAY)


# -- import -------------------------------------------------------------------------

GOOD_1 = make_id("150102", date(1955, 3, 15), 11)
GOOD_2 = make_id("152502", date(1960, 8, 31), 22)
BAD_CHECK = GOOD_1[:-1] + ("0" if GOOD_1[-1] != "0" else "1")

CSV = f"""id_number,name,phone,region_code,person_type,lives_outside_region,monthly_pension_fen,payment_status,death_date,prison_periods
{GOOD_1},张建国,13812345678,150102,retiree,false,356000,paying,,
{BAD_CHECK},李秀英,13812345679,150102,retiree,false,300000,paying,,
{GOOD_2},其木格,,152502,retiree,true,280000,,,2019-03-01..2020-02-29
{make_id("150102", date(1970, 1, 1), 33)},王五,13812345670,110101,employee,false,,,,
{make_id("150102", date(1970, 1, 2), 35)},赵六,13812345671,150102,employee,maybe,,,,
{make_id("150102", date(1940, 1, 3), 37)},钱七,13812345672,150102,retiree,false,12.50,,,
"""


async def import_file(path: Path, *, uri: str, db: str) -> Completed:
    return await run_app("import-people", str(path),
                         env={"APP_ENV": "test", "MONGODB_URI": uri, "MONGODB_DB": db})


async def test_import_keeps_good_rows_and_reports_each_bad_one(devdb, db_name, deps, tmp_path):
    source = tmp_path / "people.csv"
    source.write_text(CSV, encoding="utf-8")

    result = await import_file(source, uri=devdb.uri, db=db_name)

    assert result.returncode == 0, result.stderr
    assert "created 2, updated 0, unchanged 0, rejected 4" in result.stdout
    assert "line 3 [id_number]: check character does not match" in result.stdout
    assert "line 5 [region_code]" in result.stdout
    assert "line 6 [lives_outside_region]" in result.stdout
    assert "line 7 [monthly_pension_fen]" in result.stdout
    assert "it/s" in result.stderr or "row/s" in result.stderr  # the progress bar

    people = PeopleRepository(deps.db)
    kept = await people.find_by_id_number(GOOD_2)
    assert kept is not None
    assert kept.name == "其木格" and kept.lives_outside_region and kept.phone is None
    assert kept.prison_periods[0].covers(date(2019, 12, 1))
    assert await people.find_by_id_number(BAD_CHECK) is None

    # Importing the same file again changes nothing, and says so; same person ids.
    again = await import_file(source, uri=devdb.uri, db=db_name)
    assert "created 0, updated 0, unchanged 2, rejected 4" in again.stdout
    again_kept = await people.find_by_id_number(GOOD_2)
    assert again_kept is not None
    assert again_kept.person_id == kept.person_id


async def test_import_without_required_columns_stops_with_a_clear_message(devdb, db_name,
                                                                          tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text("name,phone\n张三,13800000000\n", encoding="utf-8")
    result = await import_file(source, uri=devdb.uri, db=db_name)
    assert result.returncode != 0
    assert "missing columns id_number, region_code, person_type" in result.stderr


async def test_upsert_batch_handles_existing_new_and_repeated_rows(deps):
    people = PeopleRepository(deps.db)
    first = parse_row({"id_number": make_id("150203", date(1958, 1, 1), 41), "name": "孙七",
                       "region_code": "150203", "person_type": "retiree"}, TODAY)
    outcome = await people.upsert_batch([first])
    assert (outcome.created, outcome.updated, outcome.unchanged) == (1, 0, 0)
    renamed = parse_row({"id_number": first.id_number, "name": "孙七七",
                         "region_code": "150203", "person_type": "retiree"}, TODAY)
    new = parse_row({"id_number": make_id("150203", date(1959, 1, 1), 43), "name": "周八",
                     "region_code": "150203", "person_type": "retiree"}, TODAY)
    outcome = await people.upsert_batch([renamed, new, new])
    assert (outcome.created, outcome.updated, outcome.unchanged) == (1, 1, 0)
    same = await people.upsert_batch([renamed])
    assert (same.created, same.updated, same.unchanged) == (0, 0, 1)
    renamed_person = await people.find_by_id_number(first.id_number)
    assert renamed_person is not None
    assert renamed_person.name == "孙七七"


async def test_one_import_files_many_people_under_a_key_that_exists_already(deps):
    """A common name of one year and league: three people filed earlier, then one batch
    of five more (and a repeat of the earlier three) — the list holds all eight, once."""
    from datetime import date as day

    from people.lookups import name_key
    from people.model import check_character
    from people.service import parse_row

    def row(seq: int):
        first17 = f"150105{day(1961, 2, 3):%Y%m%d}{seq:03d}"
        return parse_row({"id_number": first17 + check_character(first17), "name": "李桂兰",
                          "region_code": "150105", "person_type": "retiree", "phone": "",
                          "monthly_pension_fen": "250000"}, day(2026, 11, 22))

    earlier = [row(n) for n in range(901, 904)]
    await deps.people.upsert_batch(earlier)
    await deps.people.upsert_batch(earlier + [row(n) for n in range(904, 909)])
    filed = await deps.people.lookups.person_ids(name_key("李桂兰", 1961, "1501"))
    stored = [await deps.people.find_by_id_number(r.id_number) for r in
              earlier + [row(n) for n in range(904, 909)]]
    assert sorted(filed) == sorted(p.person_id for p in stored if p is not None)
    assert len(filed) == 8
