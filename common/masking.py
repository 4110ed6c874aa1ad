"""Masking, one function per kind of personal data (domain rules §6).

``1501**********1234``, ``138****5678``, ``6217********7366`` and ``张**``: enough for
a person or an agent to recognise their own, not enough to misuse it. Every list,
agent screen, service-point answer and log line shows these; a full value appears
only through an audited reveal. ``mask_text`` finds ID and phone numbers anywhere in
free text (boundaries are digits only, so a number glued to letters or Chinese text
is still found).
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


def mask_card_number(value: str) -> str:
    """The first four and last four characters; everything between becomes ``*``."""
    if len(value) <= 8:
        return value[:1] + "*" * max(0, len(value) - 2) + value[-1:] if value else ""
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def mask_name(value: str) -> str:
    """The first character; each other character (the middle dot too) becomes ``*``."""
    return value[:1] + "*" * (len(value) - 1)


def mask_text(text: str) -> str:
    """Mask every ID number and phone number found anywhere in ``text``."""
    text = _ID_18.sub(lambda m: f"{m.group(1)}{'*' * 10}{m.group(2)[-4:]}", text)
    text = _ID_15.sub(lambda m: f"{m.group(1)}{'*' * 7}{m.group(2)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
