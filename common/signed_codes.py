"""Codes printed on paper (a QR on a proof of insurance): a compact ES256 JWT naming its
key by ``kid``, so whoever holds the paper can have it checked, and the keys can rotate
(a retired key stays listed to verify until its last codes expire).

Expiry is judged with the service's clock, not the machine's (PyJWT's own check would use
the wall clock), and an expired code is still reported as genuine-but-expired, because
the verifier must tell "expired" from "forged".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from common.clock import Clock
from common.errors import ValidationFailed
from common.settings import SigningKey

ALGORITHM = "ES256"  # pinned: never taken from the code's header


class CodeNotGenuine(ValidationFailed):
    """The code was not issued by this service, or was altered."""

    code = "CODE_NOT_GENUINE"


@dataclass(frozen=True)
class CheckedCode:
    claims: dict[str, Any]
    expired: bool


class CodeSigner:
    def __init__(self, keys: tuple[SigningKey, ...], issuer: str, audience: str,
                 clock: Clock) -> None:
        self._active = keys[0]
        self._private = serialization.load_pem_private_key(
            keys[0].private_key_pem.encode(), password=None)
        self._public = {k.kid: serialization.load_pem_private_key(
            k.private_key_pem.encode(), password=None).public_key() for k in keys}
        self._issuer, self._audience, self._clock = issuer, audience, clock

    def sign(self, subject: str, lifetime: timedelta, **claims: Any) -> tuple[str, datetime]:
        """The code and when it expires."""
        now = self._clock.now()
        expires = now + lifetime
        payload = {"iss": self._issuer, "aud": self._audience, "sub": subject,
                   "iat": int(now.timestamp()), "exp": int(expires.timestamp()), **claims}
        code = jwt.encode(payload, self._private,  # type: ignore[arg-type]
                          algorithm=ALGORITHM, headers={"kid": self._active.kid})
        return code, expires

    def check(self, code: str) -> CheckedCode:
        """The claims of a genuine code (expired or not), else CodeNotGenuine."""
        try:
            kid = jwt.get_unverified_header(code).get("kid")
            key = self._public.get(str(kid))
            if key is None:
                raise CodeNotGenuine("this code was not issued here", field="code")
            claims = jwt.decode(code, key, algorithms=[ALGORITHM],  # type: ignore[arg-type]
                                audience=self._audience, issuer=self._issuer,
                                options={"verify_exp": False,
                                         "require": ["exp", "iat", "sub", "iss", "aud"]})
        except jwt.PyJWTError:
            raise CodeNotGenuine("this code was not issued here or has been altered",
                                 field="code") from None
        return CheckedCode(claims, claims["exp"] <= self._clock.now().timestamp())
