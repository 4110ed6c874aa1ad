"""Pension certification: consent, the face check, status, the other routes, signals and
review cases."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field

from api.contract import RequestModel, ResponseModel


class FaceReason(StrEnum):
    """Why a face check did not pass (``pension_cert.check_model.FACE_REASONS``, prefixed)."""

    FACE_BAD_FRAME = "FACE_BAD_FRAME"
    FACE_NO_FACE = "FACE_NO_FACE"
    FACE_MULTIPLE_FACES = "FACE_MULTIPLE_FACES"
    FACE_FACE_TOO_SMALL = "FACE_FACE_TOO_SMALL"
    FACE_TOO_DARK = "FACE_TOO_DARK"
    FACE_TOO_BLURRY = "FACE_TOO_BLURRY"
    FACE_STILL_PHOTO = "FACE_STILL_PHOTO"
    FACE_BLINK_NOT_DETECTED = "FACE_BLINK_NOT_DETECTED"
    FACE_OPEN_MOUTH_NOT_DETECTED = "FACE_OPEN_MOUTH_NOT_DETECTED"
    FACE_TURN_LEFT_NOT_DETECTED = "FACE_TURN_LEFT_NOT_DETECTED"
    FACE_TURN_RIGHT_NOT_DETECTED = "FACE_TURN_RIGHT_NOT_DETECTED"
    FACE_TURN_NOT_NATURAL = "FACE_TURN_NOT_NATURAL"
    FACE_WRONG_ORDER = "FACE_WRONG_ORDER"
    FACE_TRACK_BROKEN = "FACE_TRACK_BROKEN"
    FACE_IDENTITY_CHANGED = "FACE_IDENTITY_CHANGED"
    FACE_FACE_MISMATCH = "FACE_FACE_MISMATCH"
    FACE_REPLAYED = "FACE_REPLAYED"
    FACE_NO_REFERENCE_PHOTO = "FACE_NO_REFERENCE_PHOTO"
    FACE_WECHAT_CANCELLED = "FACE_WECHAT_CANCELLED"
    FACE_WECHAT_TIMED_OUT = "FACE_WECHAT_TIMED_OUT"
    FACE_WECHAT_FAILED = "FACE_WECHAT_FAILED"


Action = Literal["blink", "open_mouth", "turn_left", "turn_right"]
PersonId = Field(min_length=2, max_length=40, pattern=r"^[A-Za-z0-9]+$")


class ConsentDecision(RequestModel):
    """The person's own decision; an agent records a signed paper consent only, with the
    scanned paper's reference and the reason."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "give", "notice_version": "2026-01"}]})

    decision: Literal["give", "refuse", "withdraw"]
    notice_version: str | None = Field(None, max_length=20, description="读过的告知书版本")
    paper_reference: str | None = Field(None, max_length=100, description="纸质同意书扫描件编号")
    reason: str | None = Field(None, max_length=500, description="为何以纸质方式同意")


class ConsentEntry(ResponseModel):
    status: Literal["given", "refused", "withdrawn"]
    at: datetime
    notice_version: str
    purpose: str
    retention: str
    channel: Literal["self", "paper"] = Field(description="本人在线同意，或坐席录入的纸质同意书")
    paper_reference: str | None = Field(None, description="纸质同意书扫描件编号")


class ConsentView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "given", "notice_version": "2026-01", "has_reference": True,
        "history": [{"status": "given", "at": "2026-11-22T02:00:00+00:00",
                     "notice_version": "2026-01", "purpose": "养老金领取资格认证的人脸比对",
                     "retention": "认证有效期内及其后 30 天；撤回即删除", "channel": "self"}]}]})

    status: Literal["none", "given", "refused", "withdrawn"]
    notice_version: str | None
    history: list[ConsentEntry]
    has_reference: bool


class ConsentRecorded(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "given", "notice_version": "2026-01",
        "other_routes": "其他认证方式：到社保经办网点现场认证、预约工作人员上门认证，或由家属代为认证。"}]})

    status: Literal["given", "refused", "withdrawn"]
    notice_version: str
    other_routes: str


class ChallengeRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"person_id": "P3f9c2d7e8a1b4c5d6e7f"}]})

    person_id: str = PersonId


class ChallengeStarted(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "challenge_id": "CH3f9c2d7e8a1b4c5d6e", "nonce": "Vb4kz9uM6lH0wQ2rXy8s1tAe3dFgJh5K",
        "actions": ["blink", "turn_left"], "expires_in": 120}]})

    challenge_id: str
    nonce: str = Field(description="一次性随机数，随画面一起提交")
    actions: list[Action] = Field(description="按顺序要做的动作")
    expires_in: int = Field(description="多少秒内提交画面")
    capture: CaptureHints | None = Field(None, description="客户端拍摄参数")


class CaptureHints(ResponseModel):
    """How to film the answer: the client records ``seconds`` at ``fps`` frames a second,
    ``width``×``height``, each frame a JPEG of at most ``max_frame_bytes``."""

    fps: int
    seconds: float
    width: int
    height: int
    max_frame_bytes: int
    max_frames: int


class HistoryEntry(ResponseModel):
    """One step of the person's certification record."""

    model_config = ConfigDict(extra="allow")

    result: str = Field(description="certified, suspended, pending_review, death_recorded …")
    at: str | None = None
    day: str | None = None
    channel: str | None = Field(None, description="face, family, agent, commitment, passive")
    note: str | None = None


class AttemptView(ResponseModel):
    at: datetime
    channel: str
    result: Literal["pass", "fail"]
    reason: str | None = Field(None, description="不通过的原因代码（不含分数）")


class CertStatusView(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "certified", "valid_through": "2027-11-21", "last_certified_on": "2026-11-22",
        "suspended_from": None,
        "history": [{"result": "certified", "day": "2026-11-22", "channel": "face",
                     "at": "2026-11-22T02:00:00+00:00", "note": ""}],
        "attempts": [{"at": "2026-11-22T02:00:00+00:00", "channel": "face", "result": "pass",
                      "reason": None}]}]})

    status: Literal["not_started", "certified", "due_soon", "overdue_suspended",
                    "pending_review", "blocked"]
    valid_through: date | None
    last_certified_on: date | None = None
    suspended_from: str | None = Field(None, description="暂停发放的起始月份 YYYY-MM")
    history: list[HistoryEntry]
    face_provider: Literal["wechat_face", "own", "in_person"] | None = Field(
        None, description="这次登录用哪种人脸认证：小程序用微信人脸核身，App 和 H5 用本服务的"
        "动作认证，坐席上门或窗口办理")
    attempts: list[AttemptView] = Field(default_factory=list)


class FaceReasonView(ResponseModel):
    code: FaceReason
    message: str = Field(description="给本人看的中文说明，告诉他下一步怎么做")


class CheckOutcome(ResponseModel):
    """Pass (with the new validity), or the reason and what to do next. Never a score."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "result": "fail", "reason": {"code": "FACE_BLINK_NOT_DETECTED",
                                     "message": "未检测到眨眼，请按提示眨眨眼。"},
        "attempts_left": 4}]})

    result: Literal["pass", "fail"]
    status: CertStatusView | None = None
    pending_review: bool | None = None
    message: str | None = None
    reason: FaceReasonView | None = None
    attempts_left: int | None = None
    other_routes: str | None = None


class WeChatFaceRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"person_id": "P3f9c2d7e8a1b4c5d6e7f"}]})

    person_id: str = PersonId


class WeChatFaceStarted(ResponseModel):
    """Hand ``verify_id`` to ``wx.requestFacialVerify``; then ask for the result."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "check_id": "WF3f9c2d7e8a1b4c5d6e7", "verify_id": "hLkq3nX0l8ZmU7q1tQw9",
        "expires_in": 3600}]})

    check_id: str = Field(description="查询结果时使用")
    verify_id: str = Field(description="交给 wx.requestFacialVerify 的 verifyId")
    expires_in: int = Field(description="多少秒内完成核身")


class AgentCertification(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "home_visit", "note": "上门核实本人健在，卧床"}]})

    kind: Literal["home_visit", "office", "commitment"]
    note: str = Field(min_length=1, max_length=500, description="核实情况（至少 4 个字）")
    signer: str | None = Field(None, max_length=40, description="签署承诺书的家属")


class CaseView(ResponseModel):
    case_id: str
    person_id: str
    day: str
    kind: str = Field(description="face_matches_other 或 life_after_death")
    opened_at: datetime


class CaseList(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"cases": [{
        "case_id": "RC3f9c2d7e8a1b4c5d", "person_id": "P3f9c2d7e8a1b4c5d6e7f",
        "day": "2026-11-22", "kind": "face_matches_other",
        "opened_at": "2026-11-22T02:00:00+00:00"}]}]})

    cases: list[CaseView]


class ReviewDecision(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"decision": "clear"}]})

    decision: Literal["clear", "fraud", "confirm"] = Field(
        description="clear 通过；fraud 认定冒领并暂停；confirm 维持已记录的死亡")


class Signal(RequestModel):
    """Proof of life (or a death) from a feed; the feed is the key, never a field."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "record_id": "JS-2026-000123", "id_number": "150102195003040117",
        "kind": "medical_settlement", "date": "2026-11-20"}]})

    record_id: str = Field(min_length=1, max_length=100)
    id_number: str = Field(min_length=15, max_length=18)
    kind: Literal["medical_settlement", "card_use", "bank", "civil_affairs", "police", "death"]
    date: date
    place: str = Field(default="", max_length=60,
                       description="where the record was made (a hospital, a bank branch)")


class SignalOutcome(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"outcome": "certified"}]})

    outcome: Literal["certified", "duplicate", "ignored", "blocked", "held_for_review"]
