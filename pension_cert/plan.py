"""认证计划: "do I need to certify?" in one answer: whether the person has to act and by
when, how and by which record they were certified last, what happens if they don't, and
which routes are open (face, family, home visit, office). Face is never the only route
(人脸识别技术应用安全管理办法, 2025: domain rules §1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pension_cert.context import CertContext, pensioner
from pension_cert.cycle import current_state
from pension_cert.model import CertStatus, Channel, Month
from pension_cert.visits import HomeVisit, open_visit_of

SIGNAL_NAMES = {"medical_settlement": "医保就医结算", "card_use": "社保卡就医购药",
                "bank": "银行记录", "civil_affairs": "民政部门记录", "police": "公安部门记录"}
AGENT_KINDS = {"home_visit": "工作人员上门认证", "office": "到社保经办窗口认证",
               "commitment": "家属签署承诺书"}


@dataclass(frozen=True)
class CertifiedBy:
    channel: str
    day: date
    description: str  # plain Chinese: how, by which record, where


@dataclass(frozen=True)
class RouteOption:
    route: str  # face | family | home_visit | office
    available: bool
    how: str


@dataclass(frozen=True)
class Plan:
    person_id: str
    status: CertStatus
    must_act: bool
    act_by: date | None
    valid_through: date
    last_certified: CertifiedBy | None
    summary: str
    if_not: str
    routes: list[RouteOption]
    open_visit: HomeVisit | None


async def plan_of(person_id: str, *, ctx: CertContext) -> Plan:
    """The person's plan; the caller has checked who may read it."""
    person = await pensioner(person_id, ctx=ctx)
    today = ctx.today()
    state = await current_state(person, ctx, today)
    status = state.status_on(today)
    must_act = status in (CertStatus.DUE_SOON, CertStatus.OVERDUE_SUSPENDED)
    last = _last_certification(state.history)
    visit = await open_visit_of(person_id, ctx=ctx)
    return Plan(
        person_id=person_id, status=status, must_act=must_act,
        act_by=state.valid_through if status is CertStatus.DUE_SOON else (
            today if status is CertStatus.OVERDUE_SUSPENDED else None),
        valid_through=state.valid_through, last_certified=last,
        summary=_summary(status, state.valid_through, last),
        if_not=_if_not(status, state.valid_through, state.suspended_from),
        routes=_routes(status, visit), open_visit=visit)


def _last_certification(history: list[dict[str, str]]) -> CertifiedBy | None:
    for entry in reversed(history):
        channel = entry.get("channel", "")
        if entry.get("result") != "certified" or channel in ("", Channel.INITIAL.value):
            continue
        day = date.fromisoformat(entry["day"])
        return CertifiedBy(channel, day, describe(entry, day))
    return None


def describe(entry: dict[str, str], day: date) -> str:
    """How a certification happened, in the words a retiree would use."""
    channel, note, place = entry.get("channel", ""), entry.get("note", ""), entry.get("place")
    where = f"在{place}" if place else ""
    if channel == Channel.PASSIVE.value:
        kind, _, record = note.partition(" ")
        name = SIGNAL_NAMES.get(kind, "部门数据")
        return (f"{day.isoformat()}{where}的{name}（记录号 {record}）证明您健在，"
                "系统已自动完成认证，无需本人操作")
    if channel == Channel.AGENT.value or channel == Channel.COMMITMENT.value:
        kind = note.partition(":")[0]
        return f"{day.isoformat()}{AGENT_KINDS.get(kind, '工作人员认证')}"
    if channel == Channel.FAMILY.value:
        return f"{day.isoformat()}由家属用手机协助完成人脸认证"
    if channel == Channel.WECHAT_FACE.value:
        return f"{day.isoformat()}在微信小程序完成人脸认证"
    return f"{day.isoformat()}本人完成人脸认证"


def _summary(status: CertStatus, valid_through: date, last: CertifiedBy | None) -> str:
    if status is CertStatus.CERTIFIED:
        how = f"（{last.description}）" if last else ""
        return f"您已完成认证{how}，有效期至{valid_through.isoformat()}，现在不需要做什么"
    if status is CertStatus.DUE_SOON:
        return f"请在{valid_through.isoformat()}前完成认证"
    if status is CertStatus.OVERDUE_SUSPENDED:
        return "认证已逾期，养老金已暂停发放，请尽快完成认证"
    if status is CertStatus.PENDING_REVIEW:
        return "您的认证记录正在人工核查，无需重复认证，核查结果会短信通知您"
    return "您的养老金发放正在核查中，请拨打12333或到社保经办窗口咨询"


def _if_not(status: CertStatus, valid_through: date, suspended_from: Month | None) -> str:
    if status is CertStatus.OVERDUE_SUSPENDED:
        since = suspended_from or Month.of(valid_through).next()
        return (f"已从{since.year}年{since.month}月起暂停发放；完成认证后次月恢复发放，"
                "并补发暂停期间的养老金（服刑期间除外）")
    stop = Month.of(valid_through).next()
    return (f"如果在{valid_through.isoformat()}前没有完成认证，将从{stop.year}年{stop.month}月"
            "起暂停发放养老金；之后完成认证的，次月恢复发放并补发")


def _routes(status: CertStatus, visit: HomeVisit | None) -> list[RouteOption]:
    open_for_self = status not in (CertStatus.PENDING_REVIEW, CertStatus.BLOCKED)
    return [
        RouteOption("face", open_for_self, "在小程序或App上按提示做动作、拍一段短视频，约1分钟"),
        RouteOption("family", open_for_self,
                    "请已绑定的家属在他的手机上帮您认证（仍需您本人出镜）"),
        RouteOption("home_visit", visit is None,
                    "行动不便、不会用手机的，可以预约工作人员上门认证" if visit is None else
                    f"已预约上门认证（预约号 {visit.booking_id}），工作人员会先打电话联系您"),
        RouteOption("office", True, "带身份证到就近的社保经办窗口或社区服务站认证"),
    ]
