"""The template registry: one entry per event kind.

Each kind has its Aliyun SMS template (code and variables), its WeChat
subscribe-message template (id and field mapping, when the kind may go that
way), its Chinese text for the in-app inbox, and two policies: whether it is
urgent (bypasses quiet hours) and whether a WeChat message that cannot be
delivered falls back to SMS. The Aliyun stand-in reads the same registry, as
the real service knows the templates an account has registered.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.errors import ValidationFailed
from notifications.model import UnknownTemplate


@dataclass(frozen=True)
class Template:
    kind: str
    aliyun_template_code: str
    sms_text: str  # the text registered with Aliyun, ${var} placeholders
    inbox_text: str  # {var} placeholders
    wechat_template_id: str | None = None
    # WeChat field key -> our parameter name, e.g. {"date2": "due_date"}
    wechat_fields: Mapping[str, str] = field(default_factory=dict)
    wechat_page: str = "pages/home/index"
    urgent: bool = False  # login codes: sent at once, never held for quiet hours
    sms_fallback: bool = True  # when WeChat cannot deliver, send the SMS instead
    immediate_only: bool = False  # never queued (verification codes)

    @property
    def sms_variables(self) -> frozenset[str]:
        return frozenset(re.findall(r"\$\{(\w+)\}", self.sms_text))

    def render_sms(self, params: Mapping[str, Any]) -> str:
        values = {k: str(v) for k, v in params.items()}
        return string.Template(self.sms_text).safe_substitute(values)

    def render_inbox(self, params: Mapping[str, Any]) -> str:
        return self.inbox_text.format_map({k: str(v) for k, v in params.items()})

    def wechat_data(self, params: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        # WeChat limits "thing" fields to 20 characters; longer values are refused (47003).
        return {key: {"value": str(params[name])[:20]} for key, name in self.wechat_fields.items()}

    def check_params(self, params: Mapping[str, Any]) -> None:
        missing = sorted(self.sms_variables - set(params))
        if missing:
            raise ValidationFailed(f"template {self.kind} needs {', '.join(missing)}",
                                   field="params")


LOGIN_CODE = "login_code"
CERT_DUE_SOON = "cert_due_soon"
CERT_OVERDUE = "cert_overdue"
CERT_DONE = "cert_done"
FILING_CREATED = "filing_created"
FILING_CHANGED = "filing_changed"
FILING_CANCELLED = "filing_cancelled"
FILING_REJECTED = "filing_rejected"
FILING_EXPIRING = "filing_expiring"
CARD_CHANGED = "card_changed"

REGISTRY: dict[str, Template] = {
    t.kind: t for t in [
        Template(
            kind=LOGIN_CODE,
            aliyun_template_code="SMS_480010001",
            sms_text="您的验证码为${code}，5分钟内有效。如非本人操作，请忽略本短信。",
            inbox_text="",
            urgent=True,
            immediate_only=True,
        ),
        Template(
            kind=CERT_DUE_SOON,
            aliyun_template_code="SMS_480010002",
            sms_text="${name}您好，您的养老金领取资格认证将于${due_date}到期，"
                     "请通过12333小程序或到社保经办机构完成认证。",
            inbox_text="您的养老金领取资格认证将于{due_date}到期，请及时完成认证。",
            wechat_template_id="wxtpl-cert-due-soon",
            wechat_fields={"thing1": "name", "date2": "due_date"},
            wechat_page="pages/pension/index",
        ),
        Template(
            kind=CERT_OVERDUE,
            aliyun_template_code="SMS_480010003",
            sms_text="${name}您好，您未在${due_date}前完成养老金领取资格认证，"
                     "养老金已暂停发放。完成认证后将恢复发放并补发。",
            inbox_text="您未在{due_date}前完成资格认证，养老金已暂停发放；完成认证后恢复发放并补发。",
            wechat_template_id="wxtpl-cert-overdue",
            wechat_fields={"thing1": "name", "date2": "due_date"},
            wechat_page="pages/pension/index",
        ),
        Template(
            kind=CERT_DONE,
            aliyun_template_code="SMS_480010004",
            sms_text="${name}您好，您已完成养老金领取资格认证，有效期至${valid_through}。",
            inbox_text="您已完成养老金领取资格认证，有效期至{valid_through}。",
            wechat_template_id="wxtpl-cert-done",
            wechat_fields={"thing1": "name", "date2": "valid_through"},
            wechat_page="pages/pension/index",
        ),
        Template(
            kind=FILING_CREATED,
            aliyun_template_code="SMS_480010011",
            sms_text="${name}您好，您的异地就医备案（${category}，${place}）已${state}。",
            inbox_text="您的异地就医备案（{category}，{place}）已{state}。",
        ),
        Template(
            kind=FILING_CHANGED,
            aliyun_template_code="SMS_480010012",
            sms_text="${name}您好，您的异地就医备案已变更为：${category}，${place}。",
            inbox_text="您的异地就医备案已变更为：{category}，{place}。",
        ),
        Template(
            kind=FILING_CANCELLED,
            aliyun_template_code="SMS_480010013",
            sms_text="${name}您好，您的异地就医备案（${category}，${place}）已取消。",
            inbox_text="您的异地就医备案（{category}，{place}）已取消。",
        ),
        Template(
            kind=FILING_REJECTED,
            aliyun_template_code="SMS_480010014",
            sms_text="${name}您好，您的异地就医备案（${category}，${place}）未通过审核：${reason}。",
            inbox_text="您的异地就医备案（{category}，{place}）未通过审核：{reason}。",
        ),
        Template(
            kind=FILING_EXPIRING,
            aliyun_template_code="SMS_480010015",
            sms_text="${name}您好，您的异地就医备案（${place}）将于${end_date}到期，如仍需异地就医请及时重新备案。",
            inbox_text="您的异地就医备案（{place}）将于{end_date}到期，如仍需异地就医请及时重新备案。",
        ),
        Template(
            kind=CARD_CHANGED,
            aliyun_template_code="SMS_480010021",
            sms_text="${name}您好，您尾号${last4}的社保卡${change}。如非本人操作，请立即拨打12333。",
            inbox_text="您尾号{last4}的社保卡{change}。",
        ),
    ]
}


def template_for(kind: str) -> Template:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise UnknownTemplate(f"no template for {kind}", field="kind") from None


def template_by_aliyun_code(code: str) -> Template | None:
    return next((t for t in REGISTRY.values() if t.aliyun_template_code == code), None)
