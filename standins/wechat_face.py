"""The stand-in's 人脸核身 2.0: ``POST /cityservice/face/identify/getverifyid`` and
``POST /cityservice/face/identify/queryverifyinfo``, with WeChat's field names, checks
and error codes (84010-84022; ``verify_ret`` 10000 a pass, 10300 not finished yet).

What the person does on the phone (``wx.requestFacialVerify``) is told to the stand-in
over ``/_control/face_verify`` ({"verify_id", "verify_ret"}); ``/_control/plan`` with
``api: "queryverifyinfo"`` and ``delay_ms`` makes a query time out.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

VERIFY_LIFETIME = 3600
NOT_FINISHED = 10300
_SEQ = re.compile(r"^[0-9A-Za-z_-]{5,32}$")


@dataclass
class FaceVerification:
    out_seq_no: str
    openid: str
    cert_hash: str
    expires_at: float
    verify_ret: int = NOT_FINISHED


def hash_of(cert_info: dict[str, Any]) -> str:
    """WeChat's cert_hash, computed here on its own (the stand-in shares no code)."""
    parts = [f"{key}={base64.b64encode(str(cert_info.get(key, '')).encode()).decode()}"
             for key in ("cert_type", "cert_name", "cert_no")]
    return hashlib.sha256("&".join(parts).encode()).hexdigest()


def get_verify_id(state: Any, body: dict[str, Any]) -> dict[str, Any]:
    seq, openid, cert = body.get("out_seq_no"), body.get("openid"), body.get("cert_info")
    if not seq:
        return {"errcode": 84010, "errmsg": "out_seq_no is empty"}
    if not isinstance(seq, str) or not _SEQ.match(seq):
        return {"errcode": 84011, "errmsg": "invalid out_seq_no"}
    if not isinstance(cert, dict):
        return {"errcode": 84012, "errmsg": "cert_info is empty"}
    if cert.get("cert_type") != "IDENTITY_CARD":
        return {"errcode": 84013, "errmsg": "invalid cert_type"}
    if not isinstance(cert.get("cert_name"), str) or not cert["cert_name"].strip():
        return {"errcode": 84014, "errmsg": "invalid cert_name"}
    if not re.fullmatch(r"\d{17}[\dX]", str(cert.get("cert_no", ""))):
        return {"errcode": 84015, "errmsg": "invalid cert_no"}
    if not openid:
        return {"errcode": 84016, "errmsg": "openid is empty"}
    if any(v.out_seq_no == seq for v in state.face.values()):
        return {"errcode": 84019, "errmsg": "out_seq_no already exists"}
    verify_id = secrets.token_urlsafe(48)
    state.face[verify_id] = FaceVerification(seq, str(openid), hash_of(cert),
                                             state.now() + VERIFY_LIFETIME)
    return {"errcode": 0, "errmsg": "ok", "verify_id": verify_id, "expires_in": VERIFY_LIFETIME}


def query_verify_info(state: Any, body: dict[str, Any]) -> dict[str, Any]:
    verify_id, seq = body.get("verify_id"), body.get("out_seq_no")
    if not seq:
        return {"errcode": 84010, "errmsg": "out_seq_no is empty"}
    if not body.get("openid"):
        return {"errcode": 84016, "errmsg": "openid is empty"}
    if not verify_id:
        return {"errcode": 84021, "errmsg": "verify_id is empty"}
    found = state.face.get(verify_id)
    if found is None or found.expires_at <= state.now():
        return {"errcode": 84022, "errmsg": "verify_id expired"}
    if found.out_seq_no != seq:
        return {"errcode": 84020, "errmsg": "out_seq_no not match"}
    if found.openid != body.get("openid"):
        return {"errcode": 84017, "errmsg": "openid not match"}
    if found.cert_hash != body.get("cert_hash"):
        return {"errcode": 84018, "errmsg": "cert_hash not match"}
    return {"errcode": 0, "errmsg": "ok", "verify_ret": found.verify_ret}


def verify_on_phone(state: Any, body: dict[str, Any]) -> bool:
    """The person went through wx.requestFacialVerify: record WeChat's verdict."""
    found = state.face.get(str(body.get("verify_id", "")))
    if found is None:
        return False
    found.verify_ret = int(body.get("verify_ret", 10000))
    return True
