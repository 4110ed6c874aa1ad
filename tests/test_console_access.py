"""Agents, admins and institutions over real HTTP: console login with password and TOTP,
lockout, idle and absolute session ends, region-limited look-ups with an audit entry each,
the create-agent command, and service keys with scopes, revocation and audit."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from tests.conftest import T0, run_app
from tests.journeys import (
    add_person,
    bearer,
    console_account,
    console_login,
    new_ip,
    new_phone,
)

pytestmark = pytest.mark.usefixtures("reset_standins")


async def test_agent_login_needs_password_and_totp_and_locks_after_five_failures(
        api, deps, clock):
    account, totp = await console_account(deps, "agent-lock")
    ok = await console_login(api, clock, "agent-lock", totp)
    assert ok.status == 200 and ok.json()["account"]["role"] == "agent"
    replayed = await console_login(api, clock, "agent-lock", totp)  # the same code again
    assert replayed.error_code == "LOGIN_FAILED"
    wrong_totp = await api.post("/v1/console/login", headers=new_ip(), json_body={
        "username": "agent-lock", "password": "correct horse battery", "totp": "000000"})
    assert wrong_totp.error_code == "LOGIN_FAILED"
    for _ in range(3):
        bad = await console_login(api, clock, "agent-lock", totp, password="wrong password!")
        assert bad.status in (401, 423)
    locked = await console_login(api, clock, "agent-lock", totp)
    assert (locked.status, locked.error_code) == (423, "ACCOUNT_LOCKED")
    assert "15 分钟" in locked.json()["error"]["message"]
    clock.advance(minutes=15)
    assert (await console_login(api, clock, "agent-lock", totp)).status == 200
    outcomes = [e.outcome for e in await deps.audit.find(action="login.console",
                                                         actor=account.account_id)]
    assert {"ok", "failed", "locked"} <= set(outcomes)


async def test_console_sessions_idle_out_after_30_minutes_and_end_after_12_hours(
        api, deps, clock):
    _, totp = await console_account(deps, "agent-idle")
    token = (await console_login(api, clock, "agent-idle", totp)).json()["access_token"]
    clock.advance(minutes=31)
    assert (await api.get("/v1/me", headers=bearer(token))).status == 401

    login = (await console_login(api, clock, "agent-idle", totp)).json()
    refresh = login["refresh_token"]
    for _ in range(36):  # active all day: a request every 20 minutes
        clock.advance(minutes=20)
        reply = await api.post("/v1/auth/refresh", json_body={"refresh_token": refresh})
        if reply.status != 200:
            break
        refresh = reply.json()["refresh_token"]
        assert (await api.get("/v1/me", headers=bearer(reply.json()["access_token"]))).status == 200
    assert reply.status == 401
    assert clock.now() - T0 >= timedelta(hours=12)


async def test_agents_see_people_of_their_region_only_and_every_look_up_is_audited(
        api, deps, clock):
    account, totp = await console_account(deps, "agent-region", regions=("150100",))
    token = (await console_login(api, clock, "agent-region", totp)).json()["access_token"]
    inside, _ = await add_person(deps, phone=new_phone(), region="150102")
    outside, _ = await add_person(deps, phone=new_phone(), region="150202")
    seen = await api.get(f"/v1/people/{inside}", headers=bearer(token))
    assert seen.status == 200
    assert seen.json()["name"] == "张**"
    assert "*" in seen.json()["phone"]
    assert (await api.get(f"/v1/people/{outside}", headers=bearer(token))).status == 404
    [entry] = await deps.audit.find(action="person.read", actor=account.account_id)
    assert entry.object == inside


async def test_create_agent_from_the_command_line_prints_the_totp_secret_once(
        devdb, db_name, standins, deps, api, clock):
    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name,
           "AGENT_PASSWORD": "a long enough password"}
    made = await run_app("create-agent", "--username", "cli-agent", "--name", "李坐席",
                         "--regions", "150100,152500", env=env)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.splitlines()[2].strip()
    reply = await api.post("/v1/console/login", headers=new_ip(), json_body={
        "username": "cli-agent", "password": "a long enough password",
        "totp": pyotp.TOTP(secret).at(clock.now())})
    assert reply.status == 200
    account = await deps.auth.repo.account_by_username("cli-agent")
    assert account.password_hash.startswith("$argon2")
    refused = await run_app("create-agent", "--username", "x", "--name", "x",
                            "--regions", "110101", env=env)
    assert refused.returncode != 0
    assert "not a division of Inner Mongolia" in refused.stderr


async def test_service_keys_scopes_revocation_and_audit(devdb, db_name, api, deps):
    env = {"APP_ENV": "test", "MONGODB_URI": devdb.uri, "MONGODB_DB": db_name}
    _, id_number = await add_person(deps, phone=None)
    good = (await run_app("create-service-key", "--name", "市第一医院", "--scope",
                          "people.verify", env=env)).stdout.splitlines()[-1]
    other = (await run_app("create-service-key", "--name", "网点", "--scope", "card.verify",
                           env=env)).stdout.splitlines()[-1]
    body = {"id_number": id_number, "name": "张建国"}
    ok = await api.post("/v1/service/people/verify", json_body=body,
                        headers={"X-Service-Key": good})
    assert ok.status == 200 and ok.json()["insured"] is True
    scope = await api.post("/v1/service/people/verify", json_body=body,
                           headers={"X-Service-Key": other})
    assert (scope.status, scope.error_code) == (403, "FORBIDDEN")
    assert (await api.post("/v1/service/people/verify", json_body=body,
                           headers={"X-Service-Key": good[:-2] + "xx"})).status == 401

    key_id = good.split("_")[1]
    stored = await deps.auth.repo.service_key(key_id)
    assert good.split("_", 2)[2] not in stored.secret_hash  # only a hash is kept
    revoked = await run_app("revoke-service-key", key_id, env=env)
    assert "revoked" in revoked.stdout
    assert (await api.post("/v1/service/people/verify", json_body=body,
                           headers={"X-Service-Key": good})).status == 401
    outcomes = [e.outcome for e in await deps.audit.find(action="service_key.use",
                                                         actor=f"service:{key_id}")]
    assert sorted(outcomes) == ["ok", "rejected", "revoked"]  # the forged secret too
