"""The 12333 agent console's rules: how a caller is searched for, what a reveal must state,
which identity questions a phone loss records, and what an agent may read. No I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from auth.access import region_prefix
from auth.model import Forbidden, Principal, Role
from common.errors import Conflict, ValidationFailed
from people import regions
from people.model import IdNumber

SEARCH_LIMIT = 20  # callers a search shows at most; more means "narrow it down"
QUEUE_PAGE = 50
REVEAL_ALERT_THRESHOLD = 20  # reveals by one agent in one day past which /metrics alerts

# Why an agent may see a full identifier (a fixed list; the note says the rest).
REVEAL_REASONS: dict[str, str] = {
    "caller_identity": "核实来电人身份",
    "card_service": "办理社保卡业务",
    "certification": "办理养老金资格认证",
    "medical_filing": "办理异地就医备案",
    "callback": "回拨来电人",
    "complaint": "处理投诉或信访",
}
REVEAL_FIELDS: dict[str, str] = {"id_number": "身份证号", "phone": "手机号"}
MIN_NOTE = 4

# What a 12333 caller can be asked before a phone loss (at least two answered right).
IDENTITY_QUESTIONS: dict[str, str] = {
    "id_number": "身份证号码",
    "name": "姓名",
    "birth_date": "出生日期",
    "phone": "预留手机号",
    "address": "户籍或居住地址",
    "bank": "社保卡开户银行",
}
MIN_QUESTIONS = 2

AGENT_CERTIFICATIONS = ("home_visit", "office")
REMINDER_KINDS = ("cert_due_soon", "cert_overdue")
CASE_STATUSES = ("open", "clear", "fraud", "confirm")

_PHONE = re.compile(r"^1[3-9]\d{9}$")
_NAME = re.compile(r"^[\u3400-\u9fff\u00b7\u30fb·]{2,30}$")


class SearchInvalid(ValidationFailed):
    code = "CONSOLE_SEARCH_INVALID"


class RevealInvalid(ValidationFailed):
    code = "REVEAL_INVALID"


class QuestionsMissing(ValidationFailed):
    code = "IDENTITY_QUESTIONS_MISSING"


class NoReminder(Conflict):
    """Nothing to resend: the person has had no certification reminder."""

    code = "NO_REMINDER_TO_RESEND"


class AgentsOnly(Forbidden):
    """A console route called with a citizen's token."""

    code = "CONSOLE_AGENTS_ONLY"


@dataclass(frozen=True)
class Search:
    """One of: an ID number, a phone number, or a name with a birth year."""

    kind: str  # id_number | phone | name
    id_number: str | None = None
    phone: str | None = None
    name: str | None = None
    birth_year: int | None = None

    @classmethod
    def of(cls, *, id_number: str | None, phone: str | None, name: str | None,
           birth_year: int | None, today: date) -> Search:
        given = [k for k, v in (("id_number", id_number), ("phone", phone),
                                ("name", name or birth_year)) if v]
        if len(given) != 1:
            raise SearchInvalid("search by one of: id_number, phone, name with birth_year",
                                field="id_number" if not given else given[1])
        if id_number:
            return cls("id_number", id_number=IdNumber.parse(id_number).value)
        if phone:
            phone = phone.strip().replace(" ", "").replace("-", "")
            if not _PHONE.match(phone):
                raise SearchInvalid("an 11-digit mainland mobile number", field="phone")
            return cls("phone", phone=phone)
        name = (name or "").strip()
        if not _NAME.match(name):
            raise SearchInvalid("a name of 2-30 Chinese characters", field="name")
        if birth_year is None or not 1880 <= birth_year <= today.year:
            raise SearchInvalid("a name needs the caller's birth year", field="birth_year")
        return cls("name", name=name, birth_year=birth_year)

    def described(self) -> str:
        """What the audit keeps of the search (identifiers are masked when stored)."""
        if self.kind == "name":
            return f"name {self.name[:1] if self.name else ''}** {self.birth_year}"
        return f"{self.kind} {self.id_number or self.phone}"


@dataclass(frozen=True)
class Reveal:
    field: str
    reason: str
    note: str

    @classmethod
    def of(cls, field: str, reason: str, note: str) -> Reveal:
        if field not in REVEAL_FIELDS:
            raise RevealInvalid("field is id_number or phone", field="field")
        if reason not in REVEAL_REASONS:
            raise RevealInvalid("reason is one of the listed reasons", field="reason")
        if len(note.strip()) < MIN_NOTE:
            raise RevealInvalid("say in a few words why", field="note")
        return cls(field, reason, note.strip()[:200])


def identity_questions(codes: list[str]) -> tuple[str, ...]:
    """The questions a caller answered, as the card's history records them (in words)."""
    unknown = [c for c in codes if c not in IDENTITY_QUESTIONS]
    if unknown:
        raise QuestionsMissing("unknown identity question", field="verified_by")
    answered = tuple(dict.fromkeys(IDENTITY_QUESTIONS[c] for c in codes))
    if len(answered) < MIN_QUESTIONS:
        raise QuestionsMissing("record at least two questions the caller answered",
                               field="verified_by")
    return answered


def require_agent(principal: Principal) -> None:
    if principal.role not in (Role.AGENT, Role.ADMIN):
        raise AgentsOnly("the console is for agents")


def leagues_of(agent: Principal) -> list[str]:
    """The leagues (first four digits) whose people an agent may find by name."""
    every = [code[:4] for code in regions.prefectures()]
    if agent.role is Role.ADMIN:
        return every
    prefixes = [region_prefix(r) for r in agent.regions]
    return [league for league in every
            if any(league.startswith(p) or p.startswith(league) for p in prefixes)]


def narrowed(agent: Principal, region: str | None) -> Principal:
    """The agent limited to ``region`` (a queue's filter), never beyond their own regions:
    a filter inside one of them narrows to it; a wider one keeps the regions it holds; one
    elsewhere covers nothing."""
    if not region:
        return agent
    wanted = region_prefix(region)
    if agent.role is Role.ADMIN:
        return replace(agent, role=Role.AGENT, regions=frozenset({region}))
    if any(wanted.startswith(region_prefix(own)) for own in agent.regions):
        return replace(agent, regions=frozenset({region}))
    return replace(agent, regions=frozenset(
        own for own in agent.regions if region_prefix(own).startswith(wanted)))


@dataclass(frozen=True)
class Done:
    """What an action answers: the record's new version and the audit entry of the act."""

    audit_id: str
    version: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RevealResult:
    value: str
    audit_id: str
    reveals_today: int
    alert: bool


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None  # an account id or a console username
    person: str | None = None
    action: str | None = None
    since: date | None = None  # Asia/Shanghai days, both included
    until: date | None = None
    after: str | None = None
    limit: int = QUEUE_PAGE


CSV_COLUMNS = ("时间(UTC)", "操作人", "操作", "对象", "人员", "结果", "来源地址", "代办对象",
               "详情")
EXPORT_AT_MOST = 50_000


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: no formula injection (=, +, -, @ ...)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


NOTICE_NAMES: dict[str, str] = {
    "cert_due_soon": "认证到期提醒", "cert_overdue": "逾期暂停发放通知",
    "cert_done": "认证成功通知", "filing_created": "备案生效通知",
    "filing_changed": "备案变更通知", "filing_cancelled": "备案取消通知",
    "filing_rejected": "备案未通过通知", "filing_expiring": "备案即将到期提醒",
    "card_changed": "社保卡业务通知",
}
PERSON_TYPES: dict[str, str] = {"retiree": "退休人员", "survivor": "遗属待遇领取人",
                                "employee": "职工", "resident": "城乡居民"}
CERT_STATUSES: dict[str, str] = {
    "not_started": "尚未开始", "certified": "已认证", "due_soon": "即将到期",
    "overdue_suspended": "逾期，已暂停发放", "pending_review": "待人工复核",
    "blocked": "已冻结"}
