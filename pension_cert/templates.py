"""Face templates sealed at rest: AES-256-GCM, bound to the person they belong to.

Only the 128-d encoding is kept, never a photo. The person id is the associated
data, so a template copied onto another person's record no longer opens.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENCODING_SIZE = 128


class TemplateUnreadable(Exception):
    """Wrong key, wrong person, or tampered data."""


def seal(encoding: Sequence[float], *, key: bytes, person_id: str) -> bytes:
    vector = np.asarray(encoding, dtype=np.float64)
    if vector.shape != (ENCODING_SIZE,):
        raise ValueError("a face template is 128 numbers")
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, vector.tobytes(), person_id.encode())


def unseal(blob: bytes, *, key: bytes, person_id: str) -> np.ndarray:
    try:
        plain = AESGCM(key).decrypt(blob[:12], blob[12:], person_id.encode())
    except (InvalidTag, ValueError):
        raise TemplateUnreadable(person_id) from None
    return np.frombuffer(plain, dtype=np.float64)
