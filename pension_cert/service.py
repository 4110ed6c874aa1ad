"""Certification use cases, in one place for the HTTP layer and the command line.

The work is split by seam: consent, enrolment (reference templates), face_check,
fraud (one-to-many), cycle (certify, block, remind, suspend), review (agents'
decisions), signals (passive certification) and payroll (the monthly run).
"""

from __future__ import annotations

from pension_cert.check_model import (
    AttemptsExhausted,
    ChallengeNotFound,
    ChallengeOpen,
    ConsentIsPersonal,
    ConsentRequired,
    FaceCheckIsSelfService,
    FramesInvalid,
    NonceExpired,
    NonceRefused,
    NonceUsed,
    NoReference,
    NoticeOutdated,
    PhotoRejected,
    WeChatFaceNotFinished,
    WeChatFaceUnavailable,
    WrongFaceProvider,
    provider_for,
)
from pension_cert.consent import ConsentView, consent_of, notice_of, record_consent
from pension_cert.context import CertConfig, CertContext
from pension_cert.cycle import (
    agent_certify,
    certify,
    register_new_retiree,
    run_cycle,
    status_of,
)
from pension_cert.enrolment import (
    PHOTO_SUFFIXES,
    enroll_reference,
    import_photos,
    purge_expired_templates,
)
from pension_cert.face_check import CheckResult, start_challenge, submit_frames
from pension_cert.face_index import RegionIndex
from pension_cert.fraud import fraud_suspicion
from pension_cert.model import (
    CaseAlreadyDecided,
    CaseNotFound,
    CertificationBlocked,
    Channel,
    NotAPensioner,
)
from pension_cert.notice import NOTICE_VERSION, OTHER_ROUTES
from pension_cert.payroll import payroll_rows, person_payment, person_record, run_payroll
from pension_cert.review import decide_case, open_cases
from pension_cert.signals import SIGNAL_KINDS, ingest_signal, ingest_signal_for
from pension_cert.wechat_face import StartedWeChatFace, finish_wechat_face, start_wechat_face

__all__ = [
    "NOTICE_VERSION",
    "OTHER_ROUTES",
    "PHOTO_SUFFIXES",
    "SIGNAL_KINDS",
    "AttemptsExhausted",
    "CaseAlreadyDecided",
    "CaseNotFound",
    "CertConfig",
    "CertContext",
    "CertificationBlocked",
    "ChallengeNotFound",
    "ChallengeOpen",
    "Channel",
    "CheckResult",
    "ConsentIsPersonal",
    "ConsentRequired",
    "ConsentView",
    "FaceCheckIsSelfService",
    "FramesInvalid",
    "NoReference",
    "NonceExpired",
    "NonceRefused",
    "NonceUsed",
    "NotAPensioner",
    "NoticeOutdated",
    "PhotoRejected",
    "RegionIndex",
    "StartedWeChatFace",
    "WeChatFaceNotFinished",
    "WeChatFaceUnavailable",
    "WrongFaceProvider",
    "agent_certify",
    "certify",
    "consent_of",
    "decide_case",
    "enroll_reference",
    "finish_wechat_face",
    "fraud_suspicion",
    "import_photos",
    "ingest_signal",
    "ingest_signal_for",
    "notice_of",
    "open_cases",
    "payroll_rows",
    "person_payment",
    "person_record",
    "provider_for",
    "purge_expired_templates",
    "record_consent",
    "register_new_retiree",
    "run_cycle",
    "run_payroll",
    "start_challenge",
    "start_wechat_face",
    "status_of",
    "submit_frames",
]
