"""The SMS templates registered with the (stand-in) Aliyun account, as Aliyun's console
holds them: the code, the text with ${var} placeholders, and whether it is a
verification-code template (those have per-number limits).

This is the stand-in's own copy, kept apart from the project's registry on purpose: a
template the service sends that Aliyun does not hold (or holds with other variables) is
refused, as the real service would, and tests/test_notifications.py compares the two.
"""

from __future__ import annotations

REGISTERED: dict[str, tuple[str, bool]] = {
    "SMS_480010001": (
        "您的验证码为${code}，5分钟内有效。如非本人操作，请忽略本短信。",
        True),
    "SMS_480010002": (
        "${name}您好，您的养老金领取资格认证将于${due_date}到期，请通过12333小程序或到社保经办机构完成认证。",
        False),
    "SMS_480010003": (
        "${name}您好，您未在${due_date}前完成养老金领取资格认证，养老金已暂停发放。完成认证后将恢复发放并补发。",
        False),
    "SMS_480010004": (
        "${name}您好，您已完成养老金领取资格认证，有效期至${valid_through}。",
        False),
    "SMS_480010011": (
        "${name}您好，您的异地就医备案（${category}，${place}）已${state}。",
        False),
    "SMS_480010012": (
        "${name}您好，您的异地就医备案已变更为：${category}，${place}。",
        False),
    "SMS_480010013": (
        "${name}您好，您的异地就医备案（${category}，${place}）已取消。",
        False),
    "SMS_480010014": (
        "${name}您好，您的异地就医备案（${category}，${place}）未通过审核：${reason}。",
        False),
    "SMS_480010015": (
        "${name}您好，您的异地就医备案（${place}）将于${end_date}到期，如仍需异地就医请及时重新备案。",
        False),
    "SMS_480010021": (
        "${name}您好，您尾号${last4}的社保卡${change}。如非本人操作，请立即拨打12333。",
        False),
}
