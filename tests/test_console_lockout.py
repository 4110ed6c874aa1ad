"""The console lockout does not tell whether a username exists: an unknown username and a
real one get the same answers, the same lock after five failures and the same wait."""

from __future__ import annotations

import pytest

from tests.journeys import console_account, console_login, new_ip

pytestmark = pytest.mark.usefixtures("reset_standins")


def _shape(reply) -> tuple:
    error = reply.json()["error"]
    return (reply.status, error["code"], error["message"], error.get("retry_after"),
            reply.headers.get("Retry-After"))


async def test_unknown_and_real_usernames_lock_alike(api, deps, clock):
    _, totp = await console_account(deps, "real-agent")
    answers = {}
    for username in ("real-agent", "nobody-here"):
        seen = []
        for _ in range(6):  # five failures, then the lock
            seen.append(_shape(await console_login(api, clock, username, totp,
                                                   password="wrong password!",
                                                   headers=new_ip())))
        answers[username] = seen
    assert answers["real-agent"] == answers["nobody-here"]
    assert [s[0] for s in answers["real-agent"]] == [401, 401, 401, 401, 401, 423]
    assert answers["real-agent"][-1][1] == "ACCOUNT_LOCKED"
    assert answers["real-agent"][-1][4] == "900"  # 15 minutes, for both

    # While locked, even the right password is refused; afterwards it works again.
    locked = await console_login(api, clock, "real-agent", totp, headers=new_ip())
    assert locked.status == 423
    clock.advance(minutes=15)
    assert (await console_login(api, clock, "real-agent", totp, headers=new_ip())).status == 200
    still_unknown = await console_login(api, clock, "nobody-here", totp, headers=new_ip())
    assert (still_unknown.status, still_unknown.error_code) == (401, "LOGIN_FAILED")
