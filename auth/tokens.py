"""JWT access and refresh tokens, ES256 only, with key rotation by ``kid``.

The algorithm is pinned in code: a token naming ``none``, ``HS256`` or anything
else is refused before its signature is looked at. Every claim is required.
Time is checked against the injected clock, not PyJWT's wall clock, so tests
can move it.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

from auth.model import ACCESS_TOKEN_LIFETIME
from common.clock import Clock
from common.settings import SigningKey

ALGORITHM = "ES256"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "iat", "jti", "role", "typ", "sid"]
ACCESS = "access"
REFRESH = "refresh"


class TokenRejected(Exception):
    """Any reason a token is not accepted; the caller answers 401 without saying which."""


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    session_id: str
    audience: str
    role: str
    jti: str
    expires_at: datetime
    token_type: str


VERIFIED_KEPT = 20_000  # tokens whose signature a process remembers having checked


class TokenService:
    def __init__(self, keys: tuple[SigningKey, ...], issuer: str, clock: Clock) -> None:
        self._issuer = issuer
        self._clock = clock
        self._active_kid = keys[0].kid
        self._private: dict[str, EllipticCurvePrivateKey] = {}
        for key in keys:
            loaded = serialization.load_pem_private_key(key.private_key_pem.encode(), None)
            assert isinstance(loaded, EllipticCurvePrivateKey)
            self._private[key.kid] = loaded
        self._public = {kid: key.public_key() for kid, key in self._private.items()}
        # Signatures already checked, by token: a client sends the same access token for
        # its whole life, and checking an ES256 signature is most of what a light call
        # costs. Times, type and audience are still checked on every use.
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def issue(self, *, subject: str, session_id: str, audience: str, role: str,
              token_type: str, lifetime: timedelta = ACCESS_TOKEN_LIFETIME) -> tuple[str, str]:
        """A signed token and its ``jti``."""
        now = self._clock.now()
        jti = uuid.uuid4().hex
        claims = {
            "iss": self._issuer, "aud": audience, "sub": subject, "sid": session_id,
            "role": role, "typ": token_type, "jti": jti,
            "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp()),
        }
        token = jwt.encode(claims, self._private[self._active_kid], algorithm=ALGORITHM,
                           headers={"kid": self._active_kid})
        return token, jti

    def verify(self, token: str, *, token_type: str, audiences: tuple[str, ...]) -> VerifiedToken:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._check_signature(token, audiences)
            self._verified[token] = claims
            if len(self._verified) > VERIFIED_KEPT:
                self._verified.popitem(last=False)
        if claims["aud"] not in audiences:
            raise TokenRejected("InvalidAudienceError")
        now = self._clock.now().timestamp()
        if not (claims["iat"] - 60 <= now < claims["exp"]):
            raise TokenRejected("expired or not yet valid")
        if claims["typ"] != token_type:
            raise TokenRejected("wrong token type")
        return VerifiedToken(
            subject=str(claims["sub"]), session_id=str(claims["sid"]),
            audience=str(claims["aud"]), role=str(claims["role"]), jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(claims["exp"], tz=self._clock.now().tzinfo),
            token_type=str(claims["typ"]),
        )

    def _check_signature(self, token: str, audiences: tuple[str, ...]) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("malformed") from None
        if header.get("alg") != ALGORITHM:
            raise TokenRejected("algorithm")
        key = self._public.get(str(header.get("kid")))
        if key is None:
            raise TokenRejected("unknown kid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=list(audiences),
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False},
            )
        except jwt.PyJWTError as error:
            raise TokenRejected(type(error).__name__) from None
        return claims
