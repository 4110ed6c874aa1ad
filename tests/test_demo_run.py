"""The default run, end to end: what `make run` starts, as a real process on its own
embedded database, with the stand-ins and the worker inside."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime, timedelta

from common.clock import SHANGHAI
from devdb.launcher import free_port
from tests.conftest import ROOT
from tests.journeys import poll


def _quiet_hours_far_from_now() -> str:
    # The demo's reminders obey quiet hours; keep them away from this moment.
    start = datetime.now(SHANGHAI) + timedelta(hours=12)
    end = start + timedelta(minutes=1)
    return f"{start:%H:%M}-{end:%H:%M}"




async def test_the_default_run_serves_demo_data_and_delivers_demo_sms(tmp_path):
    port, wechat_port, aliyun_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    env.update(APP_ENV="dev", PORT=str(port), DATA_DIR=str(tmp_path),
               WECHAT_BASE_URL=f"http://127.0.0.1:{wechat_port}",
               ALIYUN_SMS_ENDPOINT=f"http://127.0.0.1:{aliyun_port}",
               QUIET_HOURS=_quiet_hours_far_from_now())
    process = await asyncio.create_subprocess_exec(
        sys.executable, "app.py", "serve", "--demo", "--with-worker", "--standins",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await poll(f"http://127.0.0.1:{port}/readyz", '"ready"')
        docs = await poll(f"http://127.0.0.1:{port}/docs", "swagger-ui")
        assert "swagger-ui-bundle.js" in docs
        page = await poll(f"http://127.0.0.1:{aliyun_port}/_dev", "养老金领取资格认证")
        assert "收到的短信" in page
        assert (tmp_path / "devdb").is_dir()  # the embedded database, under DATA_DIR
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()[-2000:]
