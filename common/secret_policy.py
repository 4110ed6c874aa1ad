"""What production settings must be: strong, distinct secrets, real identifiers, and
https endpoints that are not examples. Every refusal names the variable.

Dev and test run on the defaults in ``settings.py``; none of those may reach production.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from urllib.parse import urlsplit

from common.errors import DomainError


class WeakSetting(DomainError):
    code = "WEAK_SETTING"


# name -> (minimum length, what it is)
SECRET_MINIMUMS = {
    "WECHAT_SECRET": (32, "the mini-program's AppSecret"),
    "ALIYUN_ACCESS_KEY_SECRET": (30, "the Aliyun AccessKey secret"),
    "OTP_PEPPER": (32, "the key SMS codes are hashed with"),
    "CERTIFICATE_KEY": (32, "the key certificate codes are signed with"),
}
IDENTIFIERS = {
    "WECHAT_APPID": (re.compile(r"^wx[0-9a-f]{16}$"), "wx followed by 16 hex digits"),
    "ALIYUN_ACCESS_KEY_ID": (re.compile(r"^LTAI[0-9A-Za-z]{12,30}$"),
                             "LTAI followed by 12-30 letters and digits"),
}
ENDPOINTS = ("JWT_ISSUER", "WECHAT_BASE_URL", "ALIYUN_SMS_ENDPOINT")
_EXAMPLE_HOSTS = re.compile(r"(^|\.)(example\.(com|org|net|cn)|localhost|test|invalid|local)$"
                            r"|^127\.|^0\.0\.0\.0$|^\[?::1\]?$")


def shannon_bits_per_char(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def is_periodic(value: str) -> bool:
    """``abcabcabc``: a short pattern repeated."""
    return any(len(value) % k == 0 and value == value[:k] * (len(value) // k)
               for k in range(1, len(value) // 2 + 1))


def check_secret(name: str, value: str) -> None:
    minimum, what = SECRET_MINIMUMS[name]
    if len(value) < minimum:
        raise WeakSetting(f"{name} ({what}) must have at least {minimum} characters")
    if len(set(value)) < 10 or shannon_bits_per_char(value) < 3.0 or is_periodic(value):
        raise WeakSetting(f"{name} ({what}) is too predictable: use a randomly generated "
                          "value (e.g. `openssl rand -hex 32`)")


def check_face_key(key: bytes) -> None:
    if len(set(key)) < 16:  # 32 random bytes have ~30 distinct values; all-zero has one
        raise WeakSetting("FACE_TEMPLATE_KEY is not random: use `openssl rand -base64 32`")


def check_identifier(name: str, value: str) -> None:
    pattern, shape = IDENTIFIERS[name]
    if not pattern.match(value):
        raise WeakSetting(f"{name} must look like {shape}")


def check_endpoint(name: str, value: str) -> None:
    parts = urlsplit(value if "://" in value else f"https://{value}")
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        raise WeakSetting(f"{name} must be an https URL outside dev/test, not {value!r}")
    if not host or _EXAMPLE_HOSTS.search(host):
        raise WeakSetting(f"{name} must name the real service, not {host or value!r}")


def check_distinct(secrets: Mapping[str, str], dev_defaults: Mapping[str, str]) -> None:
    """No secret equals another, nor any value dev or test runs on."""
    seen: dict[str, str] = {}
    defaults = {v.strip() for v in dev_defaults.values() if v}
    for name, value in secrets.items():
        if value in defaults:
            raise WeakSetting(f"{name} holds a development default; set a real secret")
        if value in seen:
            raise WeakSetting(f"{name} is the same value as {seen[value]}; every secret "
                              "must be its own")
        seen[value] = name
