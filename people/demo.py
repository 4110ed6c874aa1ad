"""Deterministic demo people: the same few hundred every run, across every league.

Rows go through the same CSV import as real data, so loading the demo also
exercises the import path.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from people import regions
from people.model import check_character

DEMO_SEED = 12333
DEMO_SIZE = 300

_SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓"
    "曹彭曾田董袁潘于蒋蔡杜苏魏吕丁任沈姚卢姜崔钟谭陆范金石贾白孟秦邱尹薛闫段侯史郝武"
)
_HAN_GIVEN = (
    "建国", "秀英", "桂兰", "玉兰", "淑珍", "志强", "海军", "丽华", "国庆", "凤英", "文明", "春梅",
    "红梅", "建华", "永刚", "玉珍", "振华", "秀兰", "德胜", "桂芝", "俊杰", "晓燕", "海燕", "立新",
)
_MONGOLIAN = (
    "巴特尔", "其木格", "乌云", "苏和", "额尔敦", "那仁", "宝音", "斯琴", "阿拉坦", "图雅",
    "格日勒", "朝鲁", "孟和", "萨仁", "哈斯", "敖登", "巴根", "乌兰", "娜仁花", "巴雅尔",
)
_TYPES = (("retiree", 70), ("survivor", 8), ("employee", 12), ("resident", 10))


def demo_rows(size: int = DEMO_SIZE, seed: int = DEMO_SEED) -> list[dict[str, str]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not a secret
    leagues = list(regions.prefectures())
    seen: set[str] = set()
    rows = []
    for i in range(size):
        league = leagues[i % len(leagues)]  # every league gets people
        county = rng.choice(list(regions.counties(league)) or [league])
        person_type = rng.choices([t for t, _ in _TYPES], weights=[w for _, w in _TYPES])[0]
        born = _birth_date(rng, person_type)
        female = rng.random() < 0.5
        id_number = _id_number(rng, county, born, female, seen)
        rows.append(_row(rng, i, id_number, county, person_type, female))
    return rows


def _birth_date(rng: random.Random, person_type: str) -> date:
    first_year, last_year = {
        "retiree": (1938, 1966), "survivor": (1950, 2007),
        "employee": (1970, 2002), "resident": (1950, 1995),
    }[person_type]
    start = date(first_year, 1, 1)
    return start + timedelta(days=rng.randrange((date(last_year, 12, 31) - start).days))


def _id_number(rng: random.Random, region: str, born: date, female: bool,
               seen: set[str]) -> str:
    while True:
        sequence = rng.randrange(0, 999)
        if (sequence % 2 == 0) != female:  # odd for men, even for women
            sequence = (sequence + 1) % 1000
        first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
        value = first17 + check_character(first17)
        if value not in seen:
            seen.add(value)
            return value


def _name(rng: random.Random, female: bool) -> str:
    if rng.random() < 0.3:
        given = rng.choice(_MONGOLIAN)
        return given if rng.random() < 0.7 else f"{given}·{rng.choice(_MONGOLIAN)}"
    return rng.choice(_SURNAMES) + rng.choice(_HAN_GIVEN)


def _row(rng: random.Random, i: int, id_number: str, region: str, person_type: str,
         female: bool) -> dict[str, str]:
    pensioner = person_type in ("retiree", "survivor")
    row = {
        "id_number": id_number,
        "name": _name(rng, female),
        "phone": f"1{rng.choice('3578')}{rng.randrange(10**9):09d}" if rng.random() < 0.9 else "",
        "region_code": region,
        "person_type": person_type,
        "lives_outside_region": "true" if pensioner and rng.random() < 0.12 else "false",
        "monthly_pension_fen": str(rng.randrange(180_000, 650_000)) if pensioner else "",
        "payment_status": "paying" if pensioner else "not_applicable",
        "death_date": "",
        "prison_periods": "",
    }
    if pensioner and i % 97 == 13:
        row["prison_periods"] = "2024-03-01..2024-08-31"
    if pensioner and i % 131 == 7:
        row["death_date"] = "2025-10-02"
        row["payment_status"] = "stopped"
    return row
