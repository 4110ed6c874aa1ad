"""Notifications against the real stand-ins and the embedded database: login codes, the
outbox worker through crashes, retries, dead letters and quiet hours, and the WeChat
token cache and 43101 fallback. The Aliyun client itself: test_aliyun_sms."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta

import pytest

from api.messages import message_for
from common.clock import SHANGHAI
from notifications.model import MessageStatus, Outcome, QuietHours, SmsNotSent, SmsRateLimited
from notifications.service import enqueue, send_login_code
from notifications.templates import CERT_DUE_SOON, REGISTRY
from tests.conftest import run_app
from tests.journeys import control, new_phone, sms_to

pytestmark = pytest.mark.usefixtures("reset_standins")


async def reminder(deps, phone: str | None = None, *, key: str | None = None,
                   openid: str | None = None, person_id: str | None = "P-test"):
    phone = phone or new_phone()
    return await enqueue(
        kind=CERT_DUE_SOON, dedupe_key=key or f"due:{phone}:{openid}",
        params={"name": "张建国", "due_date": "2026-12-31"}, outbox=deps.outbox,
        clock=deps.clock, policy=deps.notification_policy, person_id=person_id, phone=phone,
        openid=openid,
    )


# -- login codes: the immediate path ----------------------------------------------------


async def test_login_codes_keep_aliyuns_per_number_limits(deps, clock, standins):
    phone = new_phone()
    await send_login_code(phone, "100001", sms=deps.gateways.sms, limiter=deps.limiter)
    with pytest.raises(SmsRateLimited) as refused:
        await send_login_code(phone, "100002", sms=deps.gateways.sms, limiter=deps.limiter)
    assert 1 <= refused.value.retry_after <= 60
    message = message_for(refused.value.code,
                          params={"retry_after_text": f"{refused.value.retry_after} 秒"})
    assert "验证码" in message and "秒" in message
    for n in range(4):
        clock.advance(minutes=1)
        await control(standins.aliyun_url, "/_control/advance", {"seconds": 60})
        await send_login_code(phone, f"10001{n}", sms=deps.gateways.sms, limiter=deps.limiter)
    clock.advance(minutes=1)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 60})
    with pytest.raises(SmsRateLimited) as hourly:  # the sixth within the hour
        await send_login_code(phone, "100020", sms=deps.gateways.sms, limiter=deps.limiter)
    assert hourly.value.rule == "sms_code_hour"
    assert len(await sms_to(standins, phone)) == 5


async def test_a_code_a_second_past_the_minute_is_held_by_us_not_refused_by_aliyun(
        deps, clock, standins):
    """One a minute means any 60 s: a code at 10:00:58 holds the next until 10:01:58,
    though 10:01:01 is a new minute on the clock. Aliyun never sees the early try."""
    phone = new_phone()
    clock.set(datetime(2026, 11, 23, 10, 0, 58, tzinfo=SHANGHAI))
    await send_login_code(phone, "200001", sms=deps.gateways.sms, limiter=deps.limiter)
    clock.advance(seconds=3)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 3})
    with pytest.raises(SmsRateLimited) as refused:
        await send_login_code(phone, "200002", sms=deps.gateways.sms, limiter=deps.limiter)
    assert (refused.value.rule, refused.value.retry_after) == ("sms_code_minute", 57)
    clock.advance(seconds=57)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 57})
    await send_login_code(phone, "200003", sms=deps.gateways.sms, limiter=deps.limiter)
    assert [m["params"]["code"] for m in await sms_to(standins, phone)] == ["200001", "200003"]


async def test_a_code_that_never_went_out_does_not_hold_up_the_next(deps, clock, standins):
    """Our template was refused (an operator's mistake): nothing reached the number, so
    once it is fixed the person need not wait a minute."""
    phone = new_phone()
    await control(standins.aliyun_url, "/_control/plan", {"code": "isv.SMS_TEMPLATE_ILLEGAL"})
    with pytest.raises(SmsNotSent):
        await send_login_code(phone, "300001", sms=deps.gateways.sms, limiter=deps.limiter)
    assert await sms_to(standins, phone) == []
    await send_login_code(phone, "300002", sms=deps.gateways.sms, limiter=deps.limiter)
    assert [m["params"]["code"] for m in await sms_to(standins, phone)] == ["300002"]


async def test_when_aliyun_itself_says_wait_the_wait_holds(deps, clock, standins):
    """Aliyun counted sends we did not see: the person is told to wait a minute, and a
    try before then is held by us rather than sent to be refused again."""
    phone = new_phone()
    await control(standins.aliyun_url, "/_control/plan", {"code": "isv.BUSINESS_LIMIT_CONTROL"})
    with pytest.raises(SmsRateLimited) as told:
        await send_login_code(phone, "400001", sms=deps.gateways.sms, limiter=deps.limiter)
    assert told.value.retry_after == 60
    clock.advance(seconds=30)
    with pytest.raises(SmsRateLimited) as held:
        await send_login_code(phone, "400002", sms=deps.gateways.sms, limiter=deps.limiter)
    assert (held.value.rule, held.value.retry_after) == ("sms_code_minute", 30)
    assert await sms_to(standins, phone) == []
    clock.advance(seconds=30)
    await control(standins.aliyun_url, "/_control/advance", {"seconds": 60})
    await send_login_code(phone, "400003", sms=deps.gateways.sms, limiter=deps.limiter)
    assert [m["params"]["code"] for m in await sms_to(standins, phone)] == ["400003"]


async def test_a_login_code_goes_out_at_once_even_in_quiet_hours(deps, clock, standins):
    clock.set(datetime(2026, 11, 22, 23, 30, tzinfo=SHANGHAI))
    phone = new_phone()
    await send_login_code(phone, "424242", sms=deps.gateways.sms, limiter=deps.limiter)
    [received] = await sms_to(standins, phone)
    assert "424242" in received["text"]


# -- the outbox ------------------------------------------------------------------------


async def test_a_queued_reminder_is_delivered_once_with_its_attempt_logged(deps, standins):
    message = await reminder(deps)
    assert message.status is MessageStatus.PENDING
    assert await deps.outbox_worker().run_once() == 1
    stored = await deps.outbox.get(message.message_id)
    assert stored.status is MessageStatus.DELIVERED
    assert stored.provider_id
    [attempt] = await deps.outbox.attempts(message.message_id)
    assert (attempt.number, attempt.outcome, attempt.code) == (1, "delivered", "OK")
    assert len(await sms_to(standins, message.phone)) == 1
    assert await deps.outbox_worker().run_once() == 0  # nothing left to do


async def test_the_same_dedupe_key_never_makes_two_messages(deps, standins):
    phone = new_phone()
    first, second = await asyncio.gather(reminder(deps, phone, key="cycle-2026:P1"),
                                         reminder(deps, phone, key="cycle-2026:P1"))
    assert first.message_id == second.message_id
    await deps.outbox_worker().run_once()
    assert len(await sms_to(standins, phone)) == 1


async def test_two_workers_at_once_send_each_message_exactly_once(deps, standins):
    messages = [await reminder(deps) for _ in range(16)]
    first, second = deps.outbox_worker("w1"), deps.outbox_worker("w2")
    await asyncio.gather(first.run_once(), second.run_once())
    for message in messages:
        assert len(await sms_to(standins, message.phone)) == 1
        assert len(await deps.outbox.attempts(message.message_id)) == 1
        assert (await deps.outbox.get(message.message_id)).status is MessageStatus.DELIVERED


async def test_a_worker_killed_before_sending_loses_nothing(deps, clock, standins):
    message = await reminder(deps)
    dying = deps.outbox_worker("dies-after-claim")
    assert await dying.claim(message) is not None  # ...and the process is killed here

    survivor = deps.outbox_worker("survivor")
    assert await survivor.run_once() == 0  # the lease still holds: nobody doubles up
    clock.advance(deps.notification_policy.lease + timedelta(seconds=1))
    assert await survivor.run_once() == 1

    assert len(await sms_to(standins, message.phone)) == 1
    log = await deps.outbox.attempts(message.message_id)
    assert [(a.number, a.outcome) for a in log] == [(1, "abandoned"), (2, "delivered")]


async def test_a_worker_killed_after_the_provider_accepted_can_duplicate_visibly(
        deps, clock, standins):
    message = await reminder(deps)
    dying = deps.outbox_worker("dies-after-send")
    attempt = await dying.claim(message)
    assert (await dying.send(message)).outcome is Outcome.DELIVERED
    # ...killed before recording: the provider has it, our records do not.
    clock.advance(deps.notification_policy.lease + timedelta(seconds=1))
    await deps.outbox_worker("survivor").run_once()

    received = await sms_to(standins, message.phone)
    assert len(received) == 2  # at most twice
    log = await deps.outbox.attempts(message.message_id)
    assert [(a.number, a.worker, a.outcome) for a in log] == [
        (1, attempt.worker, "abandoned"), (2, "survivor", "delivered")]
    assert "lease expired" in log[0].detail
    await deps.outbox_worker().run_once()
    assert len(await sms_to(standins, message.phone)) == 2  # and never a third time


async def test_a_worker_killed_between_recording_the_attempt_and_the_message_is_rolled_forward(
        deps, clock, standins):
    message = await reminder(deps)
    dying = deps.outbox_worker("dies-mid-record")
    attempt = await dying.claim(message)
    result = await dying.send(message)
    decision = dying._decide(message, attempt.number, result, clock.now())
    await deps.outbox.finish_attempt(attempt, result, clock.now(), decision)
    # ...killed before the message itself was updated.
    await deps.outbox_worker("survivor").run_once()
    assert (await deps.outbox.get(message.message_id)).status is MessageStatus.DELIVERED
    assert len(await sms_to(standins, message.phone)) == 1


async def test_a_rate_limited_send_is_retried_later_and_succeeds(deps, clock, standins):
    message = await reminder(deps)
    await control(standins.aliyun_url, "/_control/plan",
                  {"code": "isv.BUSINESS_LIMIT_CONTROL", "times": 1})
    worker = deps.outbox_worker()
    await worker.run_once()
    waiting = await deps.outbox.get(message.message_id)
    assert waiting.status is MessageStatus.PENDING
    assert waiting.last_code == "isv.BUSINESS_LIMIT_CONTROL"
    assert waiting.next_attempt_at >= clock.now() + timedelta(minutes=1)
    assert await worker.run_once() == 0  # not before its time

    clock.set(waiting.next_attempt_at)
    await worker.run_once()
    assert (await deps.outbox.get(message.message_id)).status is MessageStatus.DELIVERED
    assert len(await sms_to(standins, message.phone)) == 1
    assert [a.outcome for a in await deps.outbox.attempts(message.message_id)] == [
        "rate_limited", "delivered"]


async def test_a_permanent_error_goes_dead_letter_with_its_reason(deps, standins):
    message = await reminder(deps)
    await control(standins.aliyun_url, "/_control/plan", {"code": "isv.MOBILE_NUMBER_ILLEGAL"})
    await deps.outbox_worker().run_once()
    dead = await deps.outbox.get(message.message_id)
    assert dead.status is MessageStatus.DEAD
    assert dead.dead_reason.startswith("isv.MOBILE_NUMBER_ILLEGAL")
    assert len(await deps.outbox.attempts(message.message_id)) == 1
    assert message.message_id in {m.message_id for m in await deps.outbox.dead_letters()}


async def test_transient_failures_back_off_then_give_up(deps, clock, standins):
    message = await reminder(deps)
    limit = deps.notification_policy.retry.max_attempts
    await control(standins.aliyun_url, "/_control/plan",
                  {"code": "isp.SYSTEM_ERROR", "times": limit})
    worker = deps.outbox_worker()
    delays = []
    for _ in range(limit):
        before = clock.now()
        await worker.run_once()
        current = await deps.outbox.get(message.message_id)
        if current.status is MessageStatus.DEAD:
            break
        delays.append(current.next_attempt_at - before)
        clock.set(current.next_attempt_at)
    assert current.status is MessageStatus.DEAD
    assert f"gave up after {limit} attempts" in current.dead_reason
    # Backoff grows (jitter keeps each delay within [half, full] of a doubling ceiling).
    assert all(later > earlier / 2 for earlier, later in itertools.pairwise(delays))
    assert delays[-1] > delays[0] * 4
    assert await sms_to(standins, message.phone) == []


async def test_dead_letters_are_listed_and_requeued_from_the_command_line(
        deps, devdb, db_name, standins, clock):
    message = await reminder(deps)
    await control(standins.aliyun_url, "/_control/plan", {"code": "isv.AMOUNT_NOT_ENOUGH",
                                                          "times": 50})
    deps_policy_limit = deps.notification_policy.retry.max_attempts
    worker = deps.outbox_worker()
    for _ in range(deps_policy_limit):
        await worker.run_once()
        current = await deps.outbox.get(message.message_id)
        if current.status is MessageStatus.DEAD:
            break
        clock.set(current.next_attempt_at)
    await control(standins.aliyun_url, "/_control/reset", {})  # the operator topped up

    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name,
           "ALIYUN_SMS_ENDPOINT": standins.aliyun_url, "WECHAT_BASE_URL": standins.wechat_url}
    listed = await run_app("dead-letters", env=env)
    assert listed.returncode == 0, listed.stderr
    assert message.message_id in listed.stdout
    assert "isv.AMOUNT_NOT_ENOUGH" in listed.stdout
    assert message.phone not in listed.stdout  # the operator's list masks phones
    requeued = await run_app("dead-letters", "--requeue", message.message_id, env=env)
    assert "re-queued" in requeued.stdout
    # The command ran on the system clock; follow the message until it settles.
    for _ in range(3):
        current = await deps.outbox.get(message.message_id)
        if current.status is not MessageStatus.PENDING:
            break
        clock.set(max(current.next_attempt_at, clock.now()))
        await worker.run_once()
    assert current.status is MessageStatus.DELIVERED
    assert len(await sms_to(standins, message.phone)) == 1


async def test_a_reminder_waits_for_morning_in_quiet_hours(deps, clock, standins):
    clock.set(datetime(2026, 11, 22, 22, 30, tzinfo=SHANGHAI))
    message = await reminder(deps)
    assert message.next_attempt_at == datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI)
    worker = deps.outbox_worker()
    clock.set(datetime(2026, 11, 23, 7, 59, tzinfo=SHANGHAI))
    assert await worker.run_once() == 0
    assert await sms_to(standins, message.phone) == []
    clock.set(datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI))
    assert await worker.run_once() == 1
    assert len(await sms_to(standins, message.phone)) == 1


async def test_a_retry_that_falls_into_quiet_hours_is_held_too(deps, clock, standins):
    clock.set(datetime(2026, 11, 22, 20, 59, tzinfo=SHANGHAI))
    message = await reminder(deps)
    clock.set(datetime(2026, 11, 22, 21, 5, tzinfo=SHANGHAI))  # the worker was late
    assert await deps.outbox_worker().run_once() == 0
    held = await deps.outbox.get(message.message_id)
    assert held.next_attempt_at == datetime(2026, 11, 23, 8, 0, tzinfo=SHANGHAI)
    assert held.attempts == 0


@pytest.mark.parametrize("hour", [0, 3, 8, 12, 20, 21, 23])
def test_equal_quiet_hours_hold_nothing_at_any_hour(hour):
    now = datetime(2026, 11, 22, hour, 30, tzinfo=SHANGHAI)
    assert QuietHours.parse("00:00-00:00").release_time(now) == now
    evening = QuietHours.parse("21:00-08:00").release_time(now)
    assert (evening != now) == (hour >= 21 or hour < 8)


async def test_each_message_carries_its_inbox_text(deps):
    message = await reminder(deps, person_id="P-inbox-1")
    [entry] = await deps.outbox.inbox("P-inbox-1")
    assert entry.message_id == message.message_id
    assert entry.inbox_text == "您的养老金领取资格认证将于2026-12-31到期，请及时完成认证。"
    assert entry.read_at is None


# -- WeChat subscribe messages -----------------------------------------------------------


async def test_a_subscribed_user_gets_a_wechat_message(deps, standins):
    openid = f"o-{new_phone()}"
    template = REGISTRY[CERT_DUE_SOON].wechat_template_id
    await control(standins.wechat_url, "/_control/subscriptions",
                  {"openid": openid, "template_id": template, "count": 1})
    message = await reminder(deps, openid=openid)
    await deps.outbox_worker().run_once()
    assert (await deps.outbox.get(message.message_id)).status is MessageStatus.DELIVERED
    [sent] = (await control(standins.wechat_url, "/_control/messages"))["messages"]
    assert sent["touser"] == openid
    assert sent["data"] == {"thing1": {"value": "张建国"}, "date2": {"value": "2026-12-31"}}
    assert await sms_to(standins, message.phone) == []


async def test_no_subscription_left_falls_back_to_sms(deps, standins):
    openid = f"o-{new_phone()}"
    message = await reminder(deps, openid=openid)  # the user granted nothing: 43101
    worker = deps.outbox_worker()
    await worker.run_once()
    stored = await deps.outbox.get(message.message_id)
    assert stored.status is MessageStatus.NOT_DELIVERED
    assert stored.last_code == "43101"
    assert stored.fallback_message_id
    await worker.run_once()
    fallback = await deps.outbox.get(stored.fallback_message_id)
    assert fallback.status is MessageStatus.DELIVERED
    [received] = await sms_to(standins, message.phone)
    assert "2026-12-31" in received["text"]


async def test_one_token_fetch_serves_many_concurrent_sends(deps, standins):
    template = REGISTRY[CERT_DUE_SOON].wechat_template_id
    openids = [f"o-{new_phone()}" for _ in range(8)]
    for openid in openids:
        await control(standins.wechat_url, "/_control/subscriptions",
                      {"openid": openid, "template_id": template, "count": 1})
    wechat = deps.gateways.wechat
    results = await asyncio.gather(*[
        wechat.send_subscribe(openid=o, template_id=template, page="pages/index/index",
                              data={"thing1": {"value": "张"}, "date2": {"value": "2026-12-31"}})
        for o in openids])
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert (await control(standins.wechat_url, "/_control/stats"))["token_requests"] == 1


async def test_a_token_that_expired_early_is_refreshed_once_and_the_send_goes_through(
        deps, standins):
    template = REGISTRY[CERT_DUE_SOON].wechat_template_id
    openid = f"o-{new_phone()}"
    await control(standins.wechat_url, "/_control/subscriptions",
                  {"openid": openid, "template_id": template, "count": 2})
    data = {"thing1": {"value": "张"}, "date2": {"value": "2026-12-31"}}
    wechat = deps.gateways.wechat
    await wechat.send_subscribe(openid=openid, template_id=template, page="p", data=data)
    await control(standins.wechat_url, "/_control/expire_tokens", {})
    result = await wechat.send_subscribe(openid=openid, template_id=template, page="p", data=data)
    assert result.outcome is Outcome.DELIVERED
    assert (await control(standins.wechat_url, "/_control/stats"))["token_requests"] == 2


async def test_the_token_is_refreshed_before_it_expires(deps, clock, standins):
    wechat = deps.gateways.wechat
    first = await wechat.access_token()
    clock.advance(seconds=7200 - 301)
    assert await wechat.access_token() == first
    clock.advance(seconds=2)  # within five minutes of expiry: fetch again
    await wechat.access_token()
    assert (await control(standins.wechat_url, "/_control/stats"))["token_requests"] == 2


# -- visibility --------------------------------------------------------------------------


async def test_outbox_figures_appear_in_metrics(deps, api, standins):
    await reminder(deps)
    await deps.outbox_worker().run_once()
    text = (await api.get("/metrics")).body.decode()
    assert 'outbox_sends_total{channel="sms",kind="cert_due_soon",outcome="delivered"}' in text
    assert "outbox_backlog" in text
    assert "outbox_oldest_due_age_seconds" in text
    assert "outbox_dead_letters" in text
    assert "outbox_provider_alerts_total" in text


def test_every_template_names_its_variables_and_inbox_text():
    for template in REGISTRY.values():
        assert template.aliyun_template_code.startswith("SMS_")
        if not template.immediate_only:
            assert template.inbox_text
            params = {name: "x" for name in template.sms_variables}
            assert template.render_inbox(params)
        if template.wechat_template_id:
            assert set(template.wechat_fields.values()) <= template.sms_variables


def test_every_template_the_service_sends_is_registered_with_aliyun_as_sent():
    """The stand-in holds its own copy of the account's templates, as Aliyun's console
    does: a template changed in one place and not the other fails here."""
    from standins.sms_templates import REGISTERED

    sent = {t.aliyun_template_code: (t.sms_text, t.kind == "login_code")
            for t in REGISTRY.values()}
    assert sent == REGISTERED
    from standins.wechat_templates import SUBSCRIBE_TEMPLATES
    chosen = {t.wechat_template_id: frozenset(t.wechat_fields) for t in REGISTRY.values()
              if t.wechat_template_id}
    assert chosen == SUBSCRIBE_TEMPLATES


def test_every_subscribe_message_opens_a_page_the_mini_program_has():
    """A tapped notice must land on a real page of miniapp_stub (its app.json)."""
    import json
    from pathlib import Path

    from notifications.templates import REGISTRY
    app = json.loads((Path(__file__).resolve().parent.parent / "miniapp_stub" / "app.json")
                     .read_text(encoding="utf-8"))
    pages = set(app["pages"])
    assert {t.kind: t.wechat_page for t in REGISTRY.values() if t.wechat_template_id
            and t.wechat_page not in pages} == {}
