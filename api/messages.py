"""The catalogue of citizen-facing messages, keyed by error code.

zh-CN is complete; other locales (Mongolian, ``mn``) are added as another
mapping and fall back to zh-CN code by code. Messages say what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_LOCALE = "zh-CN"

CATALOGUE: dict[str, dict[str, str]] = {
    "zh-CN": {
        "BAD_REQUEST": "请求格式不正确，请检查后重试。",
        "INVALID_JSON": "请求内容不是有效的 JSON 对象，请检查后重试。",
        "VALIDATION_FAILED": "填写的信息有误，请检查后重新提交。",
        "INVALID_ID_NUMBER": "身份证号码不正确，请核对后重新输入。",
        "INVALID_PERSON": "人员信息有误，请核对后重新提交。",
        "UNAUTHENTICATED": "您尚未登录或登录已过期，请重新登录。",
        "FORBIDDEN": "您没有办理此业务的权限。",
        "NOT_FOUND": "没有找到您要的内容，请确认后重试。",
        "PERSON_NOT_FOUND": "没有找到该人员的参保信息，请核对后重试，或拨打 12333 咨询。",
        "METHOD_NOT_ALLOWED": "不支持此操作。",
        "CONFLICT": "当前状态下不能办理此业务。",
        "PRECONDITION_FAILED": "信息已被更新，请刷新页面后重新操作。",
        "PRECONDITION_REQUIRED": "请先刷新页面获取最新信息，再提交修改。",
        "PAYLOAD_TOO_LARGE": "上传的内容太大，请压缩或减少内容后重试。",
        "HEADERS_TOO_LARGE": "请求头太大，请退出重新登录后再试。",
        "UNSUPPORTED_MEDIA_TYPE": "上传的内容格式不支持。",
        "IDEMPOTENCY_KEY_REQUIRED": "请求缺少防重复提交标识，请更新应用后重试。",
        "IDEMPOTENCY_KEY_REUSED": "该提交标识已用于另一项不同的申请，请重新发起申请。",
        "IDEMPOTENCY_IN_PROGRESS": "您的申请正在处理中，请稍候查看结果，不要重复提交。",
        "RATE_LIMITED": "操作太频繁，请{retry_after_text}后再试。",
        "INTERNAL_ERROR": "系统繁忙，请稍后再试。如需帮助，请拨打 12333。",
        "SERVICE_UNAVAILABLE": "服务暂时不可用，请稍后再试。",
        "NOT_READY": "服务暂时不可用，请稍后再试。",
        "SMS_RATE_LIMITED": "验证码发送太频繁，请{retry_after_text}后再获取。",
        "SMS_NOT_SENT": "短信暂时发送不出去，请稍后再试；如急需办理，请拨打 12333。",
        "INVALID_PHONE": "手机号码不正确，请核对后重新输入。",
        "UNKNOWN_TEMPLATE": "系统配置有误，请拨打 12333 反映。",
        "FIELD_NOT_ALLOWED": "请求中包含不能自行修改的内容（如角色、地区或状态），请去掉后重试。",
        "WECHAT_CODE_INVALID": "微信登录凭证无效或已使用，请关闭小程序后重新进入。",
        "WECHAT_BUSY": "微信登录繁忙，请{retry_after_text}后再试。",
        "WECHAT_USER_BLOCKED": "您的微信账号暂时无法登录本服务，请改用手机号登录，或拨打 12333 咨询。",
        "WECHAT_UNAVAILABLE": "暂时连不上微信，请稍后再试，或改用手机号登录。",
        "CODE_INVALID": "验证码不正确，请核对后重新输入。",
        "CODE_EXPIRED": "验证码已过期，请重新获取。",
        "CODE_EXHAUSTED": "验证码输错次数太多，请重新获取验证码。",
        "REAL_NAME_MISMATCH": "身份证号码和姓名与参保登记信息不一致，请核对后重试。",
        "NO_PHONE_ON_RECORD": "参保登记中没有您的手机号，无法在线认证身份。请带身份证到附近社保经办网点办理，或拨打 12333 咨询。",
        "PERSON_ALREADY_BOUND": "该身份已绑定其他账号。如非本人操作，请拨打 12333 或到社保经办网点处理。",
        "ACCOUNT_ALREADY_BOUND": "您的账号已经完成实名认证，无需重复认证。",
        "PHONE_BELONGS_TO_ANOTHER_PERSON": "该手机号已用于另一位实名用户，不能绑定到本账号。",
        "LOGIN_FAILED": "用户名、密码或动态验证码不正确。",
        "ACCOUNT_LOCKED": "登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试。",
        "FAMILY_LINK_NOT_FOUND": "没有找到这条亲情授权。",
        "FAMILY_TRANSITION_REFUSED": "这条亲情授权当前的状态不能进行此操作。",
        "FAMILY_MEMBER_NOT_FOUND": "对方还没有注册或实名认证，请让家人先登录小程序完成认证。",
        "MESSAGE_NOT_FOUND": "没有找到这条消息。",
        "SESSION_NOT_FOUND": "没有找到这个登录设备。",
        "NOT_VERIFIED": "请先完成实名认证再办理此业务。",
        "FACE_CONSENT_REQUIRED": "使用人脸认证前需要您同意采集和比对人脸信息。您也可以不使用人脸：到社保经办网点现场认证、预约上门认证，或由家属代为认证。",
        "NO_REFERENCE_PHOTO": "还没有您的登记照片，暂时不能人脸认证。请到社保经办网点采集照片，或预约工作人员上门认证。",
        "NOT_A_PENSIONER": "该人员不是养老金领取人员，无需资格认证。",
        "CERTIFICATION_BLOCKED": "该人员的资格认证已暂停，请携带身份证到社保经办网点办理。",
        "FACE_ATTEMPTS_EXHAUSTED": "今天的人脸认证次数已用完。请明天再试，或到社保经办网点现场认证、预约上门认证，也可由家属代为认证。",
        "CHALLENGE_NOT_FOUND": "认证已失效，请重新开始认证。",
        "NONCE_INVALID": "认证信息不匹配，请重新开始认证。",
        "NONCE_EXPIRED": "认证超时了，请重新开始，按提示在两分钟内完成动作。",
        "NONCE_USED": "这次认证已经提交过了，请重新开始认证。",
        "FRAMES_INVALID": "视频画面不完整，请重新开始认证。",
        "PHOTO_REJECTED": "照片不符合要求：需要一张只有本人、脸部清晰、足够大的正面照片。",
        "REVIEW_CASE_NOT_FOUND": "没有找到这个复核案件。",
        "CONSENT_IS_PERSONAL": "同意人脸识别需要本人操作；本人签署的纸质同意书请交工作人员登记。",
        "FACE_CHECK_IS_SELF_SERVICE": "工作人员请通过上门或窗口认证办理，不能发起本人的人脸认证。",
        "REVIEW_CASE_DECIDED": "这个复核案件已经处理过了，请刷新查看结果。",
        "FACE_SERVICE_BUSY": "认证的人比较多，请{retry_after_text}后再试。",
        "FACE_PASSED": "认证成功，感谢您的配合。",
        "FACE_PENDING_REVIEW": "认证已提交，工作人员将尽快复核，期间养老金照常发放。",
        "FACE_BAD_FRAME": "画面无法识别，请重新开始认证。",
        "FACE_NO_FACE": "没有检测到人脸，请正对屏幕，让脸部完整出现在框内。",
        "FACE_MULTIPLE_FACES": "检测到多张人脸，请确保画面中只有本人。",
        "FACE_FACE_TOO_SMALL": "脸部太小，请把手机拿近一些。",
        "FACE_TOO_DARK": "光线太暗，请到光线充足的地方再试。",
        "FACE_TOO_BLURRY": "画面不清楚，请保持手机稳定，擦一擦镜头再试。",
        "FACE_STILL_PHOTO": "没有检测到真人动作，请本人按提示做动作，不要使用照片。",
        "FACE_BLINK_NOT_DETECTED": "未检测到眨眼，请按提示眨眨眼。",
        "FACE_OPEN_MOUTH_NOT_DETECTED": "未检测到张嘴，请按提示张张嘴。",
        "FACE_TURN_LEFT_NOT_DETECTED": "未检测到向左转头，请按提示慢慢向左转头。",
        "FACE_TURN_RIGHT_NOT_DETECTED": "未检测到向右转头，请按提示慢慢向右转头。",
        "FACE_TURN_NOT_NATURAL": "转头动作没有通过检测。请本人面对屏幕，慢慢转动整个头部，不要使用照片或视频。",
        "FACE_WRONG_ORDER": "动作顺序不对，请按屏幕提示的顺序做动作。",
        "FACE_TRACK_BROKEN": "画面中的脸部跳动或中断，请把手机拿稳，本人全程面对屏幕，重新开始认证。",
        "FACE_WRONG_PROVIDER": "这里请使用另一种人脸认证：在微信小程序里用微信人脸核身，在 App 或网页里用动作认证。",
        "WECHAT_FACE_NOT_FINISHED": "还没有在微信里完成人脸核身，请按微信的提示完成后再查看结果。",
        "WECHAT_FACE_UNAVAILABLE": "暂时连不上微信人脸核身，请{retry_after_text}后再试；也可以到社保经办网点现场认证或预约上门认证。",
        "FACE_WECHAT_CANCELLED": "人脸核身已取消。需要认证时请重新开始，或到社保经办网点现场认证。",
        "FACE_WECHAT_TIMED_OUT": "人脸核身超时了。请在光线充足的地方，按提示重新开始。",
        "FACE_WECHAT_FAILED": "微信人脸核身没有通过。请稍后重试，或到社保经办网点现场认证、预约上门认证。",
        "FACE_CHALLENGE_OPEN": "上一次认证还没有结束，请先完成它，或{retry_after_text}后重新开始。",
        "FACE_IDENTITY_CHANGED": "认证过程中画面里的人发生了变化，请本人全程面对屏幕。",
        "FACE_FACE_MISMATCH": "与登记照片比对未通过。请正对屏幕、光线充足时再试；如多次不通过，请到社保经办网点认证。",
        "FACE_REPLAYED": "检测到重复提交的画面，请重新开始认证。",
        "FILING_NOT_FOUND": "没有找到这条备案。",
        "CODE_NOT_GENUINE": "这个码不是本系统出具的，或已被改动。请向出具证明的人核实，或拨打 12333 咨询。",
        "PROOF_NOT_FOUND": "没有找到这份参保证明。",
        "INVALID_CONTRIBUTION": "缴费记录有误：金额须为不小于零的整数（分），月份不能晚于本月。请更正后重新发送。",
        "SOURCE_RECORD_CONFLICT": "这条来源记录以前导入过且内容不同。更正请用新的来源记录编号发送。",
        "HOME_VISIT_NOT_FOUND": "没有找到这条上门认证预约。",
        "HOME_VISIT_ALREADY_BOOKED": "已经预约过上门认证，工作人员会先打电话联系您，不用重复预约。",
        "INVALID_HOME_VISIT": "预约信息不完整：请填写 1 到 3 个 60 天内的日期、能找到家门的详细地址和 11 位手机号。",
        "FILING_INVALID": "备案信息不完整或有误，请按提示补充后重新提交。",
        "FILING_TRANSITION_REFUSED": "这条备案当前的状态不能进行此操作。",
        "LONG_TERM_FILING_EXISTS": "您已有一条长期异地就医备案。如需更换地点，请变更原备案，不要重复备案。",
        "FILING_CHANGE_LOCKED": "长期备案在备案后 6 个月内不能变更或取消，请到期后再办理；如有特殊情况请拨打 12333。",
        "FILING_AFTER_DISCHARGE": "出院后不能再备案直接结算，请带上票据回参保地医保经办机构手工报销。",
        "CARD_NOT_FOUND": "没有找到这张社保卡。",
        "CARD_TRANSITION_REFUSED": "社保卡当前状态为“{current_state_name}”，不能办理此业务。",
        "RENEWAL_NOT_DUE": "社保卡到期前 60 天内才能申请换卡。",
        "CARD_INVALID": "办理信息不完整或有误，请按提示补充。",
        "ECODE_REFUSED": "这张社保卡已注销，不能出示电子社保卡码。",
        "CONSENT_NOTICE_OUTDATED": "人脸识别告知书已经更新，请重新阅读后再决定是否同意。",
        "ECODE_SMS_CONFIRMATION_REQUIRED": "社保卡处于临时挂失状态，请先用短信验证码确认是本人操作。",
        "ECODE_INVALID": "电子社保卡码无效或已过期，请持卡人刷新后重新扫码。",
        "ECODE_USED": "这个电子社保卡码已经使用过，请持卡人刷新后重新扫码。",
        "FACE_NO_REFERENCE_PHOTO": "还没有您的登记照片，请到社保经办网点采集照片。",
        # The 12333 agent console.
        "CONSOLE_AGENTS_ONLY": "坐席工作台只供 12333 坐席和管理员使用。",
        "CONSOLE_SEARCH_INVALID": "请输入 18 位身份证号、11 位手机号，或姓名加出生年份（如：张建国 1950）。",
        "REVEAL_INVALID": "查看完整信息须选择理由并填写说明（至少 4 个字）。",
        "IDENTITY_QUESTIONS_MISSING": "电话挂失前须核对至少两个身份问题，请勾选来电人答对的问题。",
        "NO_REMINDER_TO_RESEND": "该人员没有可重发的认证提醒，或没有可联系的手机号和微信。",
    },
}


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def message_for(code: str, locale: str = DEFAULT_LOCALE,
                params: Mapping[str, Any] | None = None) -> str:
    template = (
        CATALOGUE.get(locale, {}).get(code)
        or CATALOGUE[DEFAULT_LOCALE].get(code)
        or CATALOGUE[DEFAULT_LOCALE]["INTERNAL_ERROR"]
    )
    return template.format_map(_Blank(params or {}))


def pick_locale(accept_language: str | None) -> str:
    """The first locale in Accept-Language that the catalogue has, else zh-CN."""
    for part in (accept_language or "").split(","):
        language = part.split(";")[0].strip().split("-")[0].lower()
        for locale in CATALOGUE:
            if language and locale.split("-")[0].lower() == language:
                return locale
    return DEFAULT_LOCALE


def wait_text(seconds: int) -> str:
    """Plain Chinese for a wait: "30 秒", "5 分钟", "2 小时"."""
    if seconds < 60:
        return f"{seconds} 秒"
    if seconds < 3600:
        return f"{-(-seconds // 60)} 分钟"
    return f"{-(-seconds // 3600)} 小时"
