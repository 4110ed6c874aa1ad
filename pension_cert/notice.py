"""The face-check notice (人脸识别告知书) a person reads before consenting (PIPL Arts. 17,
29: the purpose, the way, what is kept and for how long, and the person's rights). No I/O.

The server owns the text and its version, so a consent records the notice that was shown;
a client showing an older text is refused and asked to show the new one. The periods it
states come from the settings that enforce them (FACE_DEAD_RETENTION_DAYS,
FACE_REPLAY_DAYS), and a text with other periods is another version.
"""

from __future__ import annotations

from dataclasses import dataclass

NOTICE_VERSION = "2026-01"  # the text with the default periods
DEFAULT_PERIODS = (30, 365)  # days: templates after the validity ends; replay memory
CONSENT_PURPOSE = "养老金领取资格认证的人脸比对"
OTHER_ROUTES = "其他认证方式：到社保经办网点现场认证、预约工作人员上门认证，或由家属代为认证。"


@dataclass(frozen=True)
class Notice:
    version: str
    title: str
    paragraphs: tuple[str, ...]
    purpose: str
    retention: str
    other_routes: str


def consent_notice(*, template_days: int, replay_days: int) -> Notice:
    """The notice for these periods; its version names them unless they are the defaults."""
    version = NOTICE_VERSION
    if (template_days, replay_days) != DEFAULT_PERIODS:
        version = f"{NOTICE_VERSION}+{template_days}d-{replay_days}d"
    replay = "一年" if replay_days == 365 else f"{replay_days} 天"
    return Notice(
        version=version,
        title="人脸识别告知书",
        paragraphs=(
            "为了确认您本人健在、可以继续领取养老金，认证时要比对您的脸和登记的照片。",
            "怎么比对：在微信里由微信人脸核身完成；在网页上拍几秒钟的视频，按提示做动作，"
            "由社保系统比对。",
            "用途：只用于养老金领取资格认证。",
            f"保存：不保存视频和照片。比对用的人脸特征保存到认证有效期满后 {template_days} 天；"
            f"为了防止别人用旧视频冒认，每次认证的校验信息保存{replay}。您可以随时撤回同意，"
            "撤回后立即删除。",
            "不同意也没关系：可以到社保经办网点认证、预约工作人员上门，或请家人代办，"
            "其他业务不受影响。",
        ),
        purpose=CONSENT_PURPOSE,
        retention=f"认证有效期内及其后 {template_days} 天；撤回即删除",
        other_routes=OTHER_ROUTES,
    )
