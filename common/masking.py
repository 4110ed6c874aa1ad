"""Masking of citizen ID numbers and phone numbers (domain rules §6).

``1501**********1234`` and ``138****5678``: enough for a person or an agent to
recognise a number, not enough to misuse it. Boundaries are digits only, so a
number glued to letters or Chinese text is still found.
"""

from __future__ import annotations

import re

_ID_18 = re.compile(r"(?<!\d)(\d{4})\d{10}(\d{3}[0-9Xx])(?![0-9Xx])")
_ID_15 = re.compile(r"(?<!\d)(\d{4})\d{7}(\d{4})(?!\d)")  # first-generation ID cards
_PHONE = re.compile(r"(?<!\d)((?:\+?86[- ]?)?1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_id_number(value: str) -> str:
    if len(value) == 18:
        return f"{value[:4]}{'*' * 10}{value[-4:]}"
    if len(value) == 15:
        return f"{value[:4]}{'*' * 7}{value[-4:]}"
    return "*" * len(value)


def mask_phone(value: str) -> str:
    digits = value[-11:]
    if len(digits) != 11:
        return "*" * len(value)
    return f"{value[:-11]}{digits[:3]}****{digits[-4:]}"


def mask_text(text: str) -> str:
    """Mask every ID number and phone number found anywhere in ``text``."""
    text = _ID_18.sub(lambda m: f"{m.group(1)}{'*' * 10}{m.group(2)[-4:]}", text)
    text = _ID_15.sub(lambda m: f"{m.group(1)}{'*' * 7}{m.group(2)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
