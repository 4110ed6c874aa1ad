"""The service is stateless: two API processes and two workers share one database, and every
rule holds across them. Journeys alternate between the APIs on ports A and B: logins and
revocation, rate limits, idempotency, version steps, the fraud index (an enrolment through
B reaches A's in-memory index), exactly-once delivery by two workers, WeChat tokens
refreshed in each worker, and daily jobs run once a day between them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import ImageOps

from app import build_deps, init_db
from auth.model import Role
from auth.service import create_console_account
from common.clock import SystemClock
from common.settings import _new_p256_pem
from devdb.launcher import DevDB, free_port
from notifications.templates import CERT_DUE_SOON, template_for
from pension_cert import service as cert
from tests.conftest import ROOT, Api, make_settings
from tests.journeys import (
    add_person,
    bearer,
    control,
    jpeg,
    last_code,
    make_card,
    multipart,
    new_ip,
    new_phone,
    photo_of,
    poll,
)

pytestmark = pytest.mark.usefixtures("reset_standins")
NO_QUIET_HOURS = "00:00-00:00"  # an empty window: nothing is held, whatever the hour



class Cluster:
    def __init__(self, tmp: Path, standins: Any) -> None:
        self.tmp = tmp
        self.database = DevDB(tmp / "shared-db")
        self.uri = self.database.start()
        self.env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
        self.env.update(
            APP_ENV="test", MONGODB_URI=self.uri, MONGODB_DB="cluster",
            JWT_SIGNING_KEYS=json.dumps([{"kid": "cluster", "pem": _new_p256_pem()}]),
            WECHAT_BASE_URL=standins.wechat_url, ALIYUN_SMS_ENDPOINT=standins.aliyun_url,
            TRUSTED_PROXIES="127.0.0.1", FACE_POOL_WORKERS="1",
            FACE_FIXED_ACTIONS="turn_right,blink", QUIET_HOURS=NO_QUIET_HOURS)
        # The test enqueues with its own settings: the same hours, or an evening run waits.
        self.settings = make_settings(self.uri, "cluster", standins,
                                      TRUSTED_PROXIES="127.0.0.1", QUIET_HOURS=NO_QUIET_HOURS)
        self.processes: list[asyncio.subprocess.Process] = []
        self.ports = (free_port(), free_port())
        self.a, self.b = (Api(f"http://127.0.0.1:{p}") for p in self.ports)

    async def start(self, face_pool: Any) -> None:
        self.deps = build_deps(self.settings, clock=SystemClock(), face_pool=face_pool)
        await init_db(self.deps)
        for name, args in (("api-a", ["serve", "--port", str(self.ports[0])]),
                           ("api-b", ["serve", "--port", str(self.ports[1])]),
                           ("worker-1", ["worker"]), ("worker-2", ["worker"])):
            # Handed to the process; a file open is no wait worth a thread here.
            log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115, ASYNC230
            self.processes.append(await asyncio.create_subprocess_exec(
                sys.executable, "app.py", *args, cwd=ROOT, env=self.env,
                stdout=log, stderr=log))
            log.close()
        for port in self.ports:
            await poll(f"http://127.0.0.1:{port}/readyz", '"ready"')

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.terminate()
        for process in self.processes:
            await asyncio.wait_for(process.wait(), 60)
        self.a.close()
        self.b.close()
        self.deps.gateways.sms.close()
        await self.deps.client.close()
        self.database.stop()

    def logs(self) -> str:
        return "\n".join((self.tmp / f"{n}.log").read_text(errors="replace")[-2000:]
                         for n in ("api-a", "api-b", "worker-1", "worker-2"))


@pytest.fixture
async def cluster(tmp_path, standins, face_pool):
    running = Cluster(tmp_path, standins)
    try:
        await running.start(face_pool)
        yield running
    finally:
        await running.stop()


async def sms_login_via(asker: Api, loginer: Api, standins: Any, phone: str) -> dict:
    headers = new_ip()
    asked = await asker.post("/v1/auth/sms/code", json_body={"phone": phone}, headers=headers)
    assert asked.status == 202, asked.body
    reply = await loginer.post("/v1/auth/sms/login", headers=headers, json_body={
        "challenge_id": asked.json()["challenge_id"], "code": await last_code(standins, phone)})
    assert reply.status == 200, reply.body
    return reply.json()


async def verified_via(a: Api, b: Api, cluster: Cluster, standins: Any,
                       region: str = "150102") -> tuple[dict, str]:
    phone = new_phone()  # the registry's phone; the app is used with another one
    person_id, id_number = await add_person(cluster.deps, phone=phone, region=region)
    login = await sms_login_via(a, b, standins, new_phone())
    token = bearer(login["access_token"])
    asked = await a.post("/v1/me/real-name/code", headers=token,
                         json_body={"id_number": id_number, "name": "张建国"})
    bound = await b.post("/v1/me/real-name", headers=token, json_body={
        "challenge_id": asked.json()["challenge_id"],
        "code": await last_code(standins, phone)})
    assert bound.status == 200, bound.body
    return login, person_id


async def test_two_apis_and_two_workers_on_one_database(cluster, standins, clip):
    a, b = cluster.a, cluster.b
    try:
        await _journeys(cluster, a, b, standins, clip)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- process logs ---\n{cluster.logs()}") from None


async def _journeys(cluster: Cluster, a: Api, b: Api, standins: Any, clip: Any) -> None:
    deps = cluster.deps
    # Logging in on one, using and revoking on the other.
    phone = new_phone()
    login = await sms_login_via(a, b, standins, phone)
    token = bearer(login["access_token"])
    assert (await a.get("/v1/me", headers=token)).status == 200
    assert (await b.post("/v1/auth/logout", headers=token)).status == 204
    assert (await a.get("/v1/me", headers=token)).status == 401  # at once, elsewhere

    # A rate limit counts across processes: one code a minute per phone.
    assert (await a.post("/v1/auth/sms/code", json_body={"phone": phone},
                         headers=new_ip())).status in (202, 429)
    limited = await b.post("/v1/auth/sms/code", json_body={"phone": phone}, headers=new_ip())
    assert (limited.status, limited.error_code) == (429, "SMS_RATE_LIMITED")

    # An Idempotency-Key holds across processes.
    citizen, person_id = await verified_via(a, b, cluster, standins)
    headers = {**bearer(citizen["access_token"]), "Idempotency-Key": "cluster-filing-1"}
    body = {"person_id": person_id, "category": "temporary_trip", "start_date": (deps.cert.today() + timedelta(days=7)).isoformat(),
            "destination": {"province_code": "440000", "city_code": "440100"},
            "commitment": {"accepted": True, "version": "2026-01"}}
    first = await a.post("/v1/medical/filings", json_body=body, headers=headers)
    again = await b.post("/v1/medical/filings", json_body=body, headers=headers)
    assert first.status == again.status == 201
    assert again.json()["filing_id"] == first.json()["filing_id"]
    assert again.headers["Idempotent-Replayed"] == "true"

    # A version step has one winner across processes.
    card = await make_card(deps, person_id, __import__("social_card.model", fromlist=[
        "CardStatus"]).CardStatus.FORMAL_LOSS)
    owner = bearer(citizen["access_token"])
    etag = (await a.get(f"/v1/cards/{card.card_id}", headers=owner)).headers["ETag"]
    replies = await asyncio.gather(*(
        api.post(f"/v1/cards/{card.card_id}/replace", headers={**owner, "If-Match": etag},
                 json_body={"service_point_id": "SP150100A"}) for api in (a, b, a, b)))
    assert sorted(r.status for r in replies) == [200, 412, 412, 412]
    assert len((await b.get("/v1/cards", headers=owner)).json()["cards"]) == 2

    await _fraud_index_across_processes(cluster, a, b, standins, clip)
    await _workers_deliver_exactly_once(cluster, standins)
    await _daily_jobs_once_between_workers(cluster)


async def _fraud_index_across_processes(cluster: Cluster, a: Api, b: Api, standins: Any,
                                        clip: Any) -> None:
    deps = cluster.deps
    citizen, person_id = await verified_via(a, b, cluster, standins, region="150422")
    token = bearer(citizen["access_token"])
    await cert.enroll_reference(person_id, photo_of(clip[60]), source="test", actor="test",
                                ctx=deps.cert)
    assert (await a.post(f"/v1/pension/people/{person_id}/consent", headers=token,
                         json_body={"decision": "give"})).status == 200

    async def face_check(api: Api, key: str, images: list[Any]) -> dict:
        started = await api.post("/v1/pension/challenges", json_body={"person_id": person_id},
                                 headers={**token, "Idempotency-Key": key})
        assert started.status == 201, started.body
        frames = [jpeg(image, 85) for image in images]
        form, content_type = multipart({"nonce": started.json()["nonce"]}, frames)
        done = await api.post(f"/v1/pension/challenges/{started.json()['challenge_id']}/frames",
                              body=form, headers={**token, "Content-Type": content_type})
        assert done.status == 200, done.body
        return done.json()

    # Two recordings of the person (the same one twice would be a replay): the clip's later
    # half seen in a mirror (its left turn is a right turn there), then its first 116 frames.
    mirrored = [ImageOps.mirror(image) for image in clip[70:120:2]]
    alone = await face_check(a, "cluster-face-1", mirrored)  # builds A's index of league 1504
    assert (alone["result"], alone["pending_review"]) == ("pass", False)

    # Through B: an agent enrols another pensioner whose photo the live face matches
    # better, with the paper consent they signed.
    other, _ = await add_person(deps, phone=new_phone(), region="150421")
    _, secret = await create_console_account(username="cluster-agent", display_name="坐席",
                                             password="correct horse battery",
                                             role=Role.AGENT, regions=("150400",),
                                             ctx=deps.auth)
    import pyotp
    agent_login = await b.post("/v1/console/login", headers=new_ip(), json_body={
        "username": "cluster-agent", "password": "correct horse battery",
        "totp": pyotp.TOTP(secret).now()})
    agent = bearer(agent_login.json()["access_token"])
    assert (await b.post(f"/v1/pension/people/{other}/reference-photo", headers=agent,
                         body=photo_of(clip[20]))).status == 204
    assert (await b.post(f"/v1/pension/people/{other}/consent", headers=agent, json_body={
        "decision": "give", "paper_reference": "SCAN-1", "reason": "窗口签署纸质同意书"})
            ).status == 200

    suspicious = await face_check(a, "cluster-face-2", clip[0:116:2])  # A must see B's enrolment
    assert (suspicious["result"], suspicious["pending_review"]) == ("pass", True)


async def _workers_deliver_exactly_once(cluster: Cluster, standins: Any) -> None:
    deps = cluster.deps
    phones = [new_phone() for _ in range(12)]
    for i, phone in enumerate(phones):
        await deps.notifier.notify(CERT_DUE_SOON, f"cluster:{i}",
                                   {"name": "张建国", "due_date": "2026-12-31"},
                                   person_id=None, phone=phone)
    template_id = template_for(CERT_DUE_SOON).wechat_template_id
    await control(standins.wechat_url, "/_control/subscriptions",
                  {"openid": "o-cluster", "template_id": template_id, "count": 20})
    for i in range(4):
        await _wechat_message(deps, f"cluster-wx:{i}")
    await _delivered(deps, 16)
    await control(standins.wechat_url, "/_control/expire_tokens", {})  # both caches stale
    for i in range(4, 8):
        await _wechat_message(deps, f"cluster-wx:{i}")
    await _delivered(deps, 20)
    sms = (await control(standins.aliyun_url, "/_control/messages"))["messages"]
    assert sorted(m["phone"] for m in sms if m["phone"] in phones) == sorted(phones)
    wechat = (await control(standins.wechat_url, "/_control/messages"))["messages"]
    assert len([m for m in wechat if m["touser"] == "o-cluster"]) == 8


async def _wechat_message(deps: Any, key: str) -> None:
    from notifications.service import enqueue
    await enqueue(outbox=deps.outbox, kind=CERT_DUE_SOON, dedupe_key=key,
                  params={"name": "张建国", "due_date": "2026-12-31"}, clock=deps.clock,
                  policy=deps.notification_policy, openid="o-cluster", phone=new_phone())


async def _delivered(deps: Any, count: int) -> None:
    for _ in range(200):
        # Only this test's messages (dedupe keys cluster:*): earlier journeys sent others.
        if await deps.db["outbox_archive"].count_documents(
                {"status": "delivered", "dedupe_key": {"$regex": "^cluster"}}) >= count:
            return
        await asyncio.sleep(0.1)  # the workers are other processes
    states = [{k: v for k, v in m.items() if k not in ("params", "text")}
              async for m in deps.db["outbox"].find({})]
    raise AssertionError(f"fewer than {count} messages delivered: {states}")


async def _daily_jobs_once_between_workers(cluster: Cluster) -> None:
    deps = cluster.deps
    # The workers' day is Asia/Shanghai's. Should midnight pass meanwhile, they claim the
    # new day on their next minute's check, so wait past one.
    deadline = time.monotonic() + 75
    while True:
        today = deps.cert.today().isoformat()
        held = [await deps.guard.holder(f"job:{name}:{today}")
                for name in ("cycle", "filing-expiry", "card-lifts", "housekeeping")]
        if all(held) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    owners = {h["owner"] for h in held if h}
    assert len(held) == 4 and all(held), held
    assert owners  # each job's day was claimed once, by one worker or the other
